#include "config/broker_config.hpp"

#include <array>

namespace holdfast::config {

namespace {

// The spellings are shared by to_string/parse and the schema, so a config file and the code
// can never disagree on them.
constexpr std::array<enum_spelling<flush_disk_type>, 2> flush_disk_type_names{{
  {flush_disk_type::async_flush, "ASYNC_FLUSH"},
  {flush_disk_type::sync_flush, "SYNC_FLUSH"},
}};

constexpr std::array<enum_spelling<broker_role>, 3> broker_role_names{{
  {broker_role::async_master, "ASYNC_MASTER"},
  {broker_role::sync_master, "SYNC_MASTER"},
  {broker_role::slave, "SLAVE"},
}};

constexpr std::array<enum_spelling<tls_mode>, 3> tls_mode_names{{
  {tls_mode::disabled, "disabled"},
  {tls_mode::permissive, "permissive"},
  {tls_mode::enforcing, "enforcing"},
}};

template <class Enum, std::size_t N>
std::string spell(const std::array<enum_spelling<Enum>, N>& names, Enum value) {
  for (const auto& entry : names)
    if (entry.value == value)
      return std::string{entry.name};
  return "?";
}

template <class Enum, std::size_t N>
std::optional<Enum> unspell(const std::array<enum_spelling<Enum>, N>& names,
                            std::string_view text) {
  for (const auto& entry : names)
    if (entry.name == text)
      return entry.value;
  return std::nullopt;
}

constexpr std::int64_t kib = 1024;
constexpr std::int64_t mib = 1024 * kib;
constexpr std::int64_t gib = 1024 * mib;
constexpr std::int64_t tib = 1024 * gib;

// THE table. Defaults follow RocketMQ's MessageStoreConfig/BrokerConfig unless a comment says
// otherwise, so a RocketMQ operator's intuition carries over.
schema<broker_config> make_broker_schema() {
  using c = broker_config;
  schema<c> s;
  s.add(string_property("brokerName", &c::broker_name, "broker-a",
                        "Name of this broker; a master and its slaves share one name.")
          .require(non_empty()));
  // Loopback, unlike RocketMQ's 0.0.0.0: a broker started with no config is not exposed.
  s.add(string_property("listenHost", &c::listen_host, "127.0.0.1",
                        "Address the broker accepts client connections on.")
          .require(non_empty()));
  s.add(integer_property("listenPort", &c::listen_port, 10911, 0, 65535, "",
                         "TCP port for client connections; 0 picks any free port (for tests)."));
  s.add(integer_property("haListenPort", &c::ha_listen_port, 0, 0, 65535, "",
                         "TCP port of the replication door, where slaves attach; 0 means "
                         "listenPort + 1 (RocketMQ's default), or any free port when listenPort "
                         "is 0. A slave's haMasterAddress names this port."));
  s.add(string_property("storePathRootDir", &c::store_path_root_dir, "./data",
                        "Directory holding the commit log, consume queues and checkpoint.")
          .require(non_empty()));
  s.add(enum_property("flushDiskType", &c::flush_disk_type, flush_disk_type::async_flush,
                      flush_disk_type_names,
                      "ASYNC_FLUSH acknowledges a send once it is in the page cache, "
                      "SYNC_FLUSH only after fsync."));
  s.add(enum_property("brokerRole", &c::broker_role, broker_role::async_master,
                      broker_role_names,
                      "ASYNC_MASTER acknowledges before slaves have a message, SYNC_MASTER "
                      "after, SLAVE only replicates."));
  // Upper bounds: long enough for the slowest disk anyone should run a broker on, short
  // enough that a typo (an extra zero or three) is caught instead of hanging producers.
  s.add(duration_property("syncFlushTimeout", &c::sync_flush_timeout, 5000, 1, 600000,
                          "In SYNC_FLUSH, how long a send waits for its fsync before it fails "
                          "with FLUSH_DISK_TIMEOUT."));
  s.add(duration_property("flushIntervalCommitLog", &c::flush_interval_commit_log, 500, 1,
                          60000,
                          "In ASYNC_FLUSH, how often the flusher wakes to look for dirty "
                          "commit log pages."));
  // 1048576 pages of 4 KiB = 4 GiB, more than a commit log file can hold.
  s.add(integer_property("flushCommitLogLeastPages", &c::flush_commit_log_least_pages, 4, 0,
                         1048576, "pages",
                         "In ASYNC_FLUSH, fsync only once this many 4 KiB pages are dirty, to "
                         "batch fsyncs; 0 syncs on every wake-up."));
  s.add(duration_property("flushCommitLogThoroughInterval",
                          &c::flush_commit_log_thorough_interval, 10000, 1, 3600000,
                          "In ASYNC_FLUSH, a full flush happens at least this often whatever "
                          "the dirty page count, bounding what a power cut can lose."));
  s.add(duration_property("flushIntervalConsumeQueue", &c::flush_interval_consume_queue, 1000,
                          1, 600000,
                          "How often consume-queue index files are synced and a recovery "
                          "checkpoint is written."));
  // At least one page, because files are mapped page by page; at most 1 TiB, far beyond any
  // sane segment and still safe in every offset type.
  s.add(integer_property("mappedFileSizeCommitLog", &c::mapped_file_size_commit_log, gib,
                         4 * kib, tib, "bytes",
                         "Size of each commit log file; a new file is started when one is "
                         "full."));
  s.add(integer_property("maxMessageSize", &c::max_message_size, 4 * mib, 1, gib, "bytes",
                         "Largest message the broker accepts; larger sends are rejected."));
  // RocketMQ's names and defaults for what one pull may carry: a reply stays far below CAF's
  // 4 GiB frame and the memory a slow consumer can pin.
  s.add(integer_property("maxTransferBytesOnMessageInMemory",
                         &c::max_transfer_bytes_on_message_in_memory, 256 * kib, 1, 64 * mib,
                         "bytes",
                         "Most bytes of messages one pull returns (its first message travels "
                         "whole however large)."));
  s.add(integer_property("maxTransferCountOnMessageInMemory",
                         &c::max_transfer_count_on_message_in_memory, 32, 1, 1024, "",
                         "Most messages one pull returns."));
  // A parked long poll costs a few hundred bytes; 65536 bound them to tens of MiB. One client
  // rarely owns more than a few hundred queues, each with one poll.
  s.add(integer_property("maxParkedPulls", &c::max_parked_pulls, 65536, 1, 16777216, "",
                         "Long polls waiting for messages at once; past it, a new one answers "
                         "the oldest (empty) to take its place."));
  s.add(integer_property("maxParkedPullsPerClient", &c::max_parked_pulls_per_client, 1024, 1,
                         16777216, "",
                         "Long polls one client connection may have waiting; past it, its "
                         "oldest is answered (empty) to make room."));
  // A producer keeps at most its in-flight batches unanswered (64 in the bench), a consumer a
  // poll per owned queue (bounded by maxParkedPullsPerClient); 4096 leaves room for both.
  s.add(integer_property("maxRequestsPerClient", &c::max_requests_per_client, 4096, 1, 16777216,
                         "",
                         "Requests one client connection may have unanswered; past it, the next "
                         "is refused with `busy` (retriable) before it is queued."));
  s.add(integer_property("defaultTopicQueueNums", &c::default_topic_queue_nums, 4, 1, 1024, "",
                         "Number of queues given to a topic that is created automatically on "
                         "first send."));
  // RocketMQ's key and default (true), so a broker started with no config (the embedded demo)
  // takes any topic. Production turns it off: any client may otherwise create topics, each with
  // its index files (docs/hostile-input.md).
  s.add(boolean_property("autoCreateTopicEnable", &c::auto_create_topic_enable, true,
                         "A send to an unknown topic creates it (with defaultTopicQueueNums "
                         "queues). When false such a send is refused with topic_not_exist and "
                         "nothing is stored; topics are made with `holdfast admin "
                         "updateTopic`. The system topics (retry, dead-letter, delay) are "
                         "created either way."));
  // 1024 handles keep ~5000 queues (1250 topics of 4) at one open per send when at most a
  // fifth of them are busy, and leave most of Debian's default hard limit (524288), or even
  // an old 4096, for connections and segments. At least 8, so a few busy queues never
  // thrash; at most 1 Mi, beyond any kernel's per-process default.
  s.add(integer_property("maxOpenIndexFiles", &c::max_open_index_files, 1024, 8, 1 << 20, "",
                         "Most queue index files the broker keeps open; the least recently "
                         "used is closed (after an fdatasync when it holds unsynced bytes) to "
                         "open another. A checkpoint may hold as many again while it runs. "
                         "Lowered at start to a quarter of the open-file limit when that is "
                         "smaller."));
  // Replication. Names and defaults are RocketMQ's HA settings.
  s.add(string_property("haMasterAddress", &c::ha_master_address, "",
                        "HOST:PORT of the master's replication door (its haListenPort) a SLAVE "
                        "replicates from; required when brokerRole is SLAVE."));
  s.add(duration_property("haSendHeartbeatInterval", &c::ha_send_heartbeat_interval, 5000, 10,
                          600000,
                          "A slave with nothing to fetch still reports its offset this often."));
  s.add(duration_property("haHousekeepingInterval", &c::ha_housekeeping_interval, 20000, 100,
                          3600000,
                          "A slave silent for this long is dropped by the master."));
  // At least a page so a batch always carries a record header; 64 MiB bounds one reply.
  s.add(integer_property("haTransferBatchSize", &c::ha_transfer_batch_size, 32 * kib, 4 * kib,
                         64 * mib, "bytes",
                         "Most commit-log bytes the master sends a slave in one reply (a "
                         "larger record still travels whole)."));
  s.add(integer_property("haMaxGapNotInSync", &c::ha_max_gap_not_in_sync, 256 * mib, 1, tib,
                         "bytes",
                         "A slave further behind than this does not count as in sync: a "
                         "SYNC_MASTER answers SLAVE_NOT_AVAILABLE."));
  s.add(duration_property("slaveTimeout", &c::slave_timeout, 5000, 1, 600000,
                          "How long a SYNC_MASTER waits for the slave's acknowledgement before "
                          "answering FLUSH_SLAVE_TIMEOUT."));
  s.add(string_property("haAuthToken", &c::ha_auth_token, "",
                        "Shared secret a slave presents to its master before it may fetch the "
                        "log or acknowledge; required for SYNC_MASTER and SLAVE. A master "
                        "without one accepts no slave: replication never runs "
                        "unauthenticated."));
  s.add(string_property("authToken", &c::auth_token, "",
                        "Shared secret producers and consumers must present in their hello; "
                        "empty means no check."));
  s.add(boolean_property("baspGuard", &c::basp_guard, true,
                         "Check the framing of every message peers send (the BASP header: kind, "
                         "payload length) before the CAF middleman parses it, and drop a "
                         "connection at its first malformed one: Debian's CAF 0.17.6 crashes on "
                         "one such header. Costs one loopback hop; false only on a trusted "
                         "network."));
  // Each connection costs CAF a broker and its buffers, and the guard 32 KiB before the peer
  // has said hello (256 KiB each way after): 1024 bounds what strangers can pin at about
  // 100 MiB per door, far above what a broker's producers and consumers need.
  s.add(integer_property("maxConnections", &c::max_connections, 1024, 1, 1048576, "",
                         "Connections each door (client, replication) keeps open at once; one "
                         "more is closed as soon as it is accepted. Needs baspGuard."));
  // NATS's auth_timeout is 2 s; 10 s leaves room for a loaded client's first round trip.
  s.add(duration_property("authTimeout", &c::auth_timeout, 10000, 100, 600000,
                          "A connection whose hello the door has not accepted this long after "
                          "it opened is closed, so that silent peers cannot hold connections. "
                          "Needs baspGuard."));
  // Long enough for a healthy disk to sync a commit log file's worth of dirty pages.
  s.add(duration_property("shutdownTimeout", &c::shutdown_timeout, 10000, 100, 600000,
                          "How long a stop (SIGTERM) waits for the store to sync and close; a "
                          "stalled disk past it ends the process with exit code 3 and no "
                          "clean-shutdown marker, so the next start recovers."));
  // Consumption. RocketMQ's name and default; retries start at level 3 (10 s).
  s.add(string_property("messageDelayLevel", &c::message_delay_level,
                        "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h",
                        "Delay of each level of SCHEDULE_TOPIC_XXXX, level 1 first; the n-th "
                        "retry of a message waits level n + 2.")
          .require({"1 to 64 durations like 500ms, 10s, 2m, 1h (at most 7d) separated by spaces",
                    [](const scalar& value) -> std::optional<std::string> {
                      auto str = std::get_if<std::string>(&value);
                      if (str && !parse_delay_levels(*str))
                        return "must be 1 to 64 durations like 500ms, 10s, 2m, 1h or 1d "
                               "(at most 7d), separated by spaces";
                      return std::nullopt;
                    }}));
  // TLS (docs/security.md). RocketMQ's names; the guard in front of each door terminates it.
  // Disabled by default like listenHost's loopback: a broker with no config is not exposed.
  s.add(enum_property("tlsMode", &c::tls_mode, tls_mode::disabled, tls_mode_names,
                      "TLS on both doors: disabled (plain text only), permissive (TLS and plain "
                      "text on the same port), enforcing (TLS only, with a client certificate "
                      "signed by tlsServerTrustCertPath). A SLAVE whose tlsMode is not disabled "
                      "also connects to its master with TLS."));
  s.add(string_property("tlsServerCertPath", &c::tls_server_cert_path, "",
                        "PEM certificate chain the doors present; a SLAVE presents it to its "
                        "master too. Required unless tlsMode is disabled."));
  s.add(string_property("tlsServerKeyPath", &c::tls_server_key_path, "",
                        "Unencrypted PEM private key of tlsServerCertPath."));
  s.add(string_property("tlsServerTrustCertPath", &c::tls_server_trust_cert_path, "",
                        "PEM CA certificate(s) a peer's certificate must chain to; required "
                        "under enforcing, with tlsServerNeedClientAuth, and for a SLAVE with "
                        "TLS (it verifies its master with it)."));
  s.add(boolean_property("tlsServerNeedClientAuth", &c::tls_server_need_client_auth, false,
                         "Under permissive, a TLS peer must present a certificate signed by "
                         "tlsServerTrustCertPath (enforcing always requires one)."));
  s.add_check({{"tlsMode", "tlsServerCertPath", "tlsServerKeyPath"},
               "With TLS, `tlsServerCertPath` and `tlsServerKeyPath` are required.",
               [](const c& config) -> std::optional<std::string> {
                 if (config.tls_mode == tls_mode::disabled
                     || (!config.tls_server_cert_path.empty()
                         && !config.tls_server_key_path.empty()))
                   return std::nullopt;
                 return "tlsMode = " + to_string(config.tls_mode)
                        + " needs tlsServerCertPath and tlsServerKeyPath (the broker's PEM "
                          "certificate and key)";
               }});
  s.add_check({{"tlsMode", "tlsServerNeedClientAuth", "tlsServerTrustCertPath", "brokerRole"},
               "Client certificates (enforcing, tlsServerNeedClientAuth) and a SLAVE with TLS "
               "need `tlsServerTrustCertPath`.",
               [](const c& config) -> std::optional<std::string> {
                 if (config.tls_mode == tls_mode::disabled
                     || !config.tls_server_trust_cert_path.empty())
                   return std::nullopt;
                 if (config.tls_mode == tls_mode::enforcing)
                   return std::string("tlsMode = enforcing needs tlsServerTrustCertPath: every "
                                      "peer must present a certificate signed by that CA");
                 if (config.tls_server_need_client_auth)
                   return std::string("tlsServerNeedClientAuth = true needs "
                                      "tlsServerTrustCertPath (the CA client certificates "
                                      "must chain to)");
                 if (config.broker_role == broker_role::slave)
                   return std::string("a SLAVE with TLS needs tlsServerTrustCertPath (the CA "
                                      "its master's certificate must chain to)");
                 return std::nullopt;
               }});
  s.add_check({{"tlsMode", "baspGuard"},
               "TLS needs `baspGuard`: the guard terminates it.",
               [](const c& config) -> std::optional<std::string> {
                 if (config.tls_mode == tls_mode::disabled || config.basp_guard)
                   return std::nullopt;
                 return "tlsMode = " + to_string(config.tls_mode)
                        + " needs baspGuard = true: the BASP guard in front of each door "
                          "terminates TLS";
               }});
  s.add_check({{"brokerRole", "haMasterAddress"},
               "A SLAVE needs `haMasterAddress` as HOST:PORT.",
               [](const c& config) -> std::optional<std::string> {
                 if (config.broker_role != broker_role::slave)
                   return std::nullopt;
                 const auto& a = config.ha_master_address;
                 auto colon = a.rfind(':');
                 bool ok = colon != std::string::npos && colon > 0 && colon + 1 < a.size()
                           && a.find_first_not_of("0123456789", colon + 1) == std::string::npos
                           && a.size() - colon - 1 <= 5;
                 if (ok)
                   return std::nullopt;
                 return "brokerRole = SLAVE needs haMasterAddress as HOST:PORT (got '" + a + "')";
               }});
  s.add_check({{"brokerRole", "haAuthToken"},
               "A SYNC_MASTER or SLAVE needs `haAuthToken`: replication never runs "
               "unauthenticated.",
               [](const c& config) -> std::optional<std::string> {
                 if (config.broker_role == broker_role::async_master
                     || !config.ha_auth_token.empty())
                   return std::nullopt;
                 return "brokerRole = " + to_string(config.broker_role)
                        + " needs haAuthToken (the shared secret of master and slave): "
                          "replication never runs unauthenticated";
               }});
  s.add_check({{"listenPort", "haListenPort"},
               "`haListenPort` must differ from `listenPort`.",
               [](const c& config) -> std::optional<std::string> {
                 if (ha_listen_port_of(config) != config.listen_port || config.listen_port == 0)
                   return std::nullopt;
                 return "haListenPort (" + std::to_string(ha_listen_port_of(config))
                        + ") must differ from listenPort";
               }});
  s.add_check({{"maxMessageSize", "mappedFileSizeCommitLog"},
               "`maxMessageSize` must not exceed `mappedFileSizeCommitLog`: a message never "
               "spans two commit log files.",
               [](const c& config) -> std::optional<std::string> {
                 if (config.max_message_size <= config.mapped_file_size_commit_log)
                   return std::nullopt;
                 return "maxMessageSize (" + std::to_string(config.max_message_size)
                        + " bytes) must not exceed mappedFileSizeCommitLog ("
                        + std::to_string(config.mapped_file_size_commit_log)
                        + " bytes): a message never spans two commit log files";
               }});
  return s;
}

} // namespace

std::string to_string(flush_disk_type value) {
  return spell(flush_disk_type_names, value);
}

std::string to_string(broker_role value) {
  return spell(broker_role_names, value);
}

std::string to_string(tls_mode value) {
  return spell(tls_mode_names, value);
}

std::optional<flush_disk_type> parse_flush_disk_type(std::string_view text) {
  return unspell(flush_disk_type_names, text);
}

std::optional<broker_role> parse_broker_role(std::string_view text) {
  return unspell(broker_role_names, text);
}

std::optional<std::vector<std::chrono::milliseconds>>
parse_delay_levels(std::string_view text) {
  std::vector<std::chrono::milliseconds> out;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == ' ' || text[i] == '\t') {
      ++i;
      continue;
    }
    std::int64_t n = 0;
    size_t digits = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9' && digits < 9) {
      n = n * 10 + (text[i] - '0');
      ++i;
      ++digits;
    }
    if (digits == 0 || digits == 9)
      return std::nullopt;
    std::int64_t unit = 0;
    if (text.substr(i, 2) == "ms") {
      unit = 1;
      i += 2;
    } else if (i < text.size()) {
      switch (text[i]) {
        case 's': unit = 1000; break;
        case 'm': unit = 60 * 1000; break;
        case 'h': unit = 3600 * 1000; break;
        case 'd': unit = 24 * 3600 * 1000; break;
        default: return std::nullopt;
      }
      ++i;
    } else {
      return std::nullopt;
    }
    if (i < text.size() && text[i] != ' ' && text[i] != '\t')
      return std::nullopt;
    auto ms = n * unit;
    // A week bounds a typo; 0 would make a retry loop spin.
    if (ms <= 0 || ms > 7 * 24 * 3600 * 1000LL || out.size() == 64)
      return std::nullopt;
    out.emplace_back(ms);
  }
  if (out.empty())
    return std::nullopt;
  return out;
}

std::uint16_t ha_listen_port_of(const broker_config& cfg) {
  if (cfg.ha_listen_port != 0 || cfg.listen_port == 0)
    return cfg.ha_listen_port;
  return cfg.listen_port == 65535 ? 0 : static_cast<std::uint16_t>(cfg.listen_port + 1);
}

broker_config::broker_config() {
  broker_schema().apply_defaults(*this);
}

const schema<broker_config>& broker_schema() {
  // Must not construct a broker_config while building: its constructor reads this table.
  static const schema<broker_config> table = make_broker_schema();
  return table;
}

} // namespace holdfast::config
