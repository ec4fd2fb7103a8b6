#include "config/broker_config.hpp"
#include "config/loader.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

using namespace holdfast::config;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> key_names() {
  std::vector<std::string> names;
  for (const auto& info : broker_schema().properties())
    names.push_back(info.name);
  return names;
}

// A valid value different from the default, to prove a key writes its own member.
scalar other_value(const property_info& info) {
  switch (info.kind) {
    case value_kind::string:
      if (info.name == "messageDelayLevel")
        return std::string{"1s 2s"};
      return std::string{"changed"};
    case value_kind::boolean:
      return !std::get<bool>(info.default_value);
    case value_kind::integer: {
      auto current = std::get<std::int64_t>(info.default_value);
      return current == info.max ? info.min : current + 1;
    }
    case value_kind::enumeration:
      for (const auto& allowed : info.allowed)
        if (allowed != std::get<std::string>(info.default_value))
          return allowed;
  }
  return info.default_value;
}

} // namespace

TEST_CASE("the broker schema declares every key once and consistently", "[config]") {
  CHECK(broker_schema().problems() == std::vector<std::string>{});
  CHECK(key_names()
        == std::vector<std::string>{"brokerName",
                                    "listenHost",
                                    "listenPort",
                                    "haListenPort",
                                    "storePathRootDir",
                                    "flushDiskType",
                                    "brokerRole",
                                    "syncFlushTimeout",
                                    "flushIntervalCommitLog",
                                    "flushCommitLogLeastPages",
                                    "flushCommitLogThoroughInterval",
                                    "flushIntervalConsumeQueue",
                                    "mappedFileSizeCommitLog",
                                    "maxMessageSize",
                                    "maxTransferBytesOnMessageInMemory",
                                    "maxTransferCountOnMessageInMemory",
                                    "maxParkedPulls",
                                    "maxParkedPullsPerClient",
                                    "maxRequestsPerClient",
                                    "defaultTopicQueueNums",
                                    "autoCreateTopicEnable",
                                    "maxOpenIndexFiles",
                                    "haMasterAddress",
                                    "haSendHeartbeatInterval",
                                    "haHousekeepingInterval",
                                    "haTransferBatchSize",
                                    "haMaxGapNotInSync",
                                    "slaveTimeout",
                                    "haAuthToken",
                                    "authToken",
                                    "baspGuard",
                                    "maxConnections",
                                    "authTimeout",
                                    "shutdownTimeout",
                                    "messageDelayLevel",
                                    "tlsMode",
                                    "tlsServerCertPath",
                                    "tlsServerKeyPath",
                                    "tlsServerTrustCertPath",
                                    "tlsServerNeedClientAuth"});
}

TEST_CASE("a default-constructed broker config holds the table's defaults", "[config]") {
  const auto& s = broker_schema();
  const broker_config config;
  for (std::size_t i = 0; i < s.properties().size(); ++i) {
    const auto& info = s.properties()[i];
    INFO("key " << info.name);
    CHECK(s.get(config, i) == info.default_value);
  }
}

TEST_CASE("the defaults are RocketMQ's documented values", "[config]") {
  const broker_config config;
  CHECK(config.broker_name == "broker-a");
  CHECK(config.listen_host == "127.0.0.1");
  CHECK(config.listen_port == 10911);
  CHECK(config.store_path_root_dir == "./data");
  CHECK(config.flush_disk_type == flush_disk_type::async_flush);
  CHECK(config.broker_role == broker_role::async_master);
  CHECK(config.sync_flush_timeout == 5000ms);
  CHECK(config.flush_interval_commit_log == 500ms);
  CHECK(config.flush_commit_log_least_pages == 4);
  CHECK(config.flush_commit_log_thorough_interval == 10000ms);
  CHECK(config.flush_interval_consume_queue == 1000ms);
  CHECK(config.mapped_file_size_commit_log == 1024ull * 1024 * 1024);
  CHECK(config.max_message_size == 4ull * 1024 * 1024);
  CHECK(config.default_topic_queue_nums == 4);
  CHECK(config.ha_master_address.empty());
  CHECK(config.ha_send_heartbeat_interval == 5000ms);
  CHECK(config.ha_housekeeping_interval == 20000ms);
  CHECK(config.ha_transfer_batch_size == 32u * 1024);
  CHECK(config.ha_max_gap_not_in_sync == 256ull * 1024 * 1024);
  CHECK(config.slave_timeout == 5000ms);
  CHECK(config.ha_auth_token.empty());
  CHECK(config.message_delay_level
        == "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h");
  CHECK(config.tls_mode == tls_mode::disabled);
  CHECK_FALSE(config.tls_server_need_client_auth);
}

TEST_CASE("messageDelayLevel parses RocketMQ's level syntax", "[config]") {
  auto levels = parse_delay_levels(broker_config{}.message_delay_level);
  REQUIRE(levels);
  REQUIRE(levels->size() == 18);
  CHECK(levels->front() == 1000ms);
  CHECK((*levels)[2] == 10000ms);
  CHECK((*levels)[4] == 60000ms);
  CHECK(levels->back() == 7200000ms);
  auto short_ones = parse_delay_levels(" 200ms  1s\t2m 1d ");
  REQUIRE(short_ones);
  CHECK(*short_ones == std::vector<std::chrono::milliseconds>{200ms, 1000ms, 120000ms, 86400000ms});
}

TEST_CASE("a malformed messageDelayLevel is refused with the reason", "[config]") {
  auto text = GENERATE(std::string(""), std::string("  "), std::string("10"),
                       std::string("10x"), std::string("s"), std::string("0s"),
                       std::string("1s,2s"), std::string("8d"), std::string("-1s"),
                       std::string("99999999999s"));
  INFO("value '" << text << "'");
  CHECK_FALSE(parse_delay_levels(text));
  auto r = parse_broker_config("messageDelayLevel = \"" + text + "\"\n", "broker.toml");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].message.find("durations") != std::string::npos);
}

TEST_CASE("a SLAVE without a valid haMasterAddress is refused", "[config]") {
  auto addr = GENERATE(std::string(""), std::string("host"), std::string(":1"),
                       std::string("h:"), std::string("h:12x"));
  auto r = parse_broker_config("brokerRole = \"SLAVE\"\nhaAuthToken = \"t\"\nhaMasterAddress = \""
                                 + addr + "\"\n",
                               "broker.toml");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].message.find("haMasterAddress as HOST:PORT") != std::string::npos);
  auto ok = parse_broker_config(
    "brokerRole = \"SLAVE\"\nhaAuthToken = \"t\"\nhaMasterAddress = \"127.0.0.1:10912\"\n",
    "broker.toml");
  CHECK(ok.ok());
}

TEST_CASE("a SYNC_MASTER or a SLAVE without haAuthToken is refused, naming the key", "[config]") {
  auto role = GENERATE(std::string("SYNC_MASTER"), std::string("SLAVE"));
  auto r = parse_broker_config("brokerRole = \"" + role
                                 + "\"\nhaMasterAddress = \"127.0.0.1:10912\"\n",
                               "broker.toml");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].message.find("needs haAuthToken") != std::string::npos);
  // An ASYNC_MASTER starts without one: it then accepts no slave.
  CHECK(parse_broker_config("brokerRole = \"ASYNC_MASTER\"\n", "broker.toml").ok());
}

TEST_CASE("TLS without its certificate, key or trusted CA is refused, naming the keys",
          "[config][tls]") {
  auto [text, expected] = GENERATE(table<std::string, std::string>({
    {"tlsMode = \"enforcing\"\n", "needs tlsServerCertPath and tlsServerKeyPath"},
    {"tlsMode = \"permissive\"\ntlsServerCertPath = \"c\"\n",
     "needs tlsServerCertPath and tlsServerKeyPath"},
    {"tlsMode = \"enforcing\"\ntlsServerCertPath = \"c\"\ntlsServerKeyPath = \"k\"\n",
     "enforcing needs tlsServerTrustCertPath"},
    {"tlsMode = \"permissive\"\ntlsServerCertPath = \"c\"\ntlsServerKeyPath = \"k\"\n"
     "tlsServerNeedClientAuth = true\n",
     "tlsServerNeedClientAuth = true needs tlsServerTrustCertPath"},
    {"tlsMode = \"permissive\"\ntlsServerCertPath = \"c\"\ntlsServerKeyPath = \"k\"\n"
     "brokerRole = \"SLAVE\"\nhaAuthToken = \"t\"\nhaMasterAddress = \"h:1\"\n",
     "a SLAVE with TLS needs tlsServerTrustCertPath"},
    {"tlsMode = \"permissive\"\ntlsServerCertPath = \"c\"\ntlsServerKeyPath = \"k\"\n"
     "baspGuard = false\n",
     "needs baspGuard = true"},
    {"tlsMode = \"on\"\n", "disabled, permissive, enforcing"},
  }));
  INFO(text);
  auto r = parse_broker_config(text, "broker.toml");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].message.find(expected) != std::string::npos);
  CHECK(parse_broker_config("tlsMode = \"permissive\"\ntlsServerCertPath = \"c\"\n"
                            "tlsServerKeyPath = \"k\"\n",
                            "broker.toml")
          .ok());
}

TEST_CASE("the replication door listens on listenPort + 1 unless haListenPort says otherwise",
          "[config]") {
  broker_config c;
  CHECK(ha_listen_port_of(c) == 10912);
  c.listen_port = 9000;
  c.ha_listen_port = 7000;
  CHECK(ha_listen_port_of(c) == 7000);
  c.listen_port = 0; // any free port, for tests: the replication door's too
  c.ha_listen_port = 0;
  CHECK(ha_listen_port_of(c) == 0);
  auto same = parse_broker_config("listenPort = 9000\nhaListenPort = 9000\n", "broker.toml");
  REQUIRE(same.errors.size() == 1);
  CHECK(same.errors[0].message.find("must differ") != std::string::npos);
}

TEST_CASE("every key writes and reads back its own member only", "[config]") {
  const auto& s = broker_schema();
  const auto index = GENERATE(range(std::size_t{0}, broker_schema().properties().size()));
  const auto& info = s.properties()[index];
  INFO("key " << info.name);
  const auto value = other_value(info);
  REQUIRE(value != info.default_value);
  REQUIRE_FALSE(check_value(info, value));
  broker_config config;
  s.set(config, index, value);
  CHECK(s.get(config, index) == value);
  for (std::size_t other = 0; other < s.properties().size(); ++other)
    if (other != index)
      CHECK(s.get(config, other) == s.properties()[other].default_value);
}

TEST_CASE("flush disk types print and parse with their RocketMQ spellings", "[config]") {
  auto [value, spelling] = GENERATE(table<flush_disk_type, std::string>({
    {flush_disk_type::async_flush, "ASYNC_FLUSH"},
    {flush_disk_type::sync_flush, "SYNC_FLUSH"},
  }));
  CHECK(to_string(value) == spelling);
  CHECK(parse_flush_disk_type(spelling) == value);
}

TEST_CASE("broker roles print and parse with their RocketMQ spellings", "[config]") {
  auto [value, spelling] = GENERATE(table<broker_role, std::string>({
    {broker_role::async_master, "ASYNC_MASTER"},
    {broker_role::sync_master, "SYNC_MASTER"},
    {broker_role::slave, "SLAVE"},
  }));
  CHECK(to_string(value) == spelling);
  CHECK(parse_broker_role(spelling) == value);
}

TEST_CASE("enum spellings are case-sensitive as in broker.conf", "[config]") {
  auto text = GENERATE(as<std::string>{}, "sync_flush", "Sync_Flush", "SYNC", "");
  CHECK_FALSE(parse_flush_disk_type(text));
  CHECK_FALSE(parse_broker_role(text));
}

TEST_CASE("a key close to a declared one gets that key as a suggestion", "[config]") {
  auto [typed, meant] = GENERATE(table<std::string, std::string>({
    {"flushDiskTyp", "flushDiskType"},
    {"flushdisktype", "flushDiskType"},
    {"FLUSHDISKTYPE", "flushDiskType"},
    {"flush_disk_type", "flushDiskType"},
    {"brokerRol", "brokerRole"},
    {"listenport", "listenPort"},
    {"syncFlushTimout", "syncFlushTimeout"},
    {"maxMesageSize", "maxMessageSize"},
  }));
  CHECK(closest_key(broker_schema().properties(), typed) == meant);
}

TEST_CASE("a key far from every declared one gets no suggestion", "[config]") {
  auto typed = GENERATE(as<std::string>{}, "colour", "port", "namesrvAddr", "x");
  CHECK_FALSE(closest_key(broker_schema().properties(), typed));
}

TEST_CASE("values outside a key's range or spellings are rejected with the reason", "[config]") {
  const auto props = broker_schema().properties();
  const auto& timeout = props[*find_key(props, "syncFlushTimeout")];
  CHECK(check_value(timeout, std::int64_t{-5})
        == "value -5 is out of range [1, 600000] ms");
  CHECK_FALSE(check_value(timeout, std::int64_t{1}));
  CHECK_FALSE(check_value(timeout, std::int64_t{600000}));
  const auto& flush = props[*find_key(props, "flushDiskType")];
  CHECK(check_value(flush, std::string{"FAST"})
        == "value \"FAST\" is not one of ASYNC_FLUSH, SYNC_FLUSH");
  CHECK(check_value(flush, std::string{"sync_flush"})
        == "value \"sync_flush\" is not one of ASYNC_FLUSH, SYNC_FLUSH; did you mean "
           "\"SYNC_FLUSH\"?");
  const auto& store = props[*find_key(props, "storePathRootDir")];
  CHECK(check_value(store, std::string{}) == "must not be empty");
}

TEST_CASE("declaration mistakes in a schema are found", "[config]") {
  struct toy {
    std::uint8_t small{};
    std::string name{};
  };
  schema<toy> s;
  s.add(integer_property("small", &toy::small, 300, 0, 1000, "", "Does not fit a byte."));
  s.add(string_property("name", &toy::name, "", "Two\nlines.").require(non_empty()));
  s.add(string_property("Name", &toy::name, "x", "Differs only in case."));
  auto problems = s.problems();
  auto mentions = [&](std::string_view text) {
    for (const auto& p : problems)
      if (p.find(text) != std::string::npos)
        return true;
    return false;
  };
  CHECK(mentions("does not fit the member type [0, 255]"));
  CHECK(mentions("key 'name': doc must be exactly one line"));
  CHECK(mentions("key 'name': default \"\" is invalid: must not be empty"));
  CHECK(mentions("key 'Name': declared twice"));
}
