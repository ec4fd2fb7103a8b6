// holdfast produce / consume / verify / status: the client library driven from the shell.
// Flags are exact (scripts and tests depend on them); see docs/cli.md.

#include "client/client.hpp"
#include "runtime/log.hpp"
#include "tools/commands.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_map>

namespace holdfast::tools {

namespace {

using clock_type = std::chrono::steady_clock;

/// Appends "MSG_ID STATUS QUEUE:OFFSET" lines as answers arrive, flushed line by line so the
/// file is right even if this process is killed.
class acked_log {
public:
  explicit acked_log(const std::string& path) {
    if (!path.empty()) {
      f_ = std::fopen(path.c_str(), "a");
      if (f_ == nullptr)
        throw client::client_error("cannot open --acked file " + path);
    }
  }
  ~acked_log() {
    if (f_)
      std::fclose(f_);
  }
  void ok(const send_result& r) {
    std::lock_guard guard{mtx_};
    ++by_status_[std::string(to_string(r.status))];
    if (f_) {
      std::fprintf(f_, "%s %s %d:%llu\n", r.msg_id.c_str(), std::string(to_string(r.status)).c_str(),
                   r.queue_id, static_cast<unsigned long long>(r.queue_offset));
      std::fflush(f_);
    }
  }
  void error(const std::string& id, const std::string& why) {
    std::lock_guard guard{mtx_};
    ++by_status_["ERROR"];
    if (f_) {
      std::string reason = why;
      for (auto& c : reason)
        if (c == '\n')
          c = ' ';
      std::fprintf(f_, "%s ERROR %s\n", id.c_str(), reason.c_str());
      std::fflush(f_);
    }
  }
  uint64_t answered() {
    std::lock_guard guard{mtx_};
    uint64_t n = 0;
    for (auto& [k, v] : by_status_)
      n += v;
    return n;
  }
  std::string summary() {
    std::lock_guard guard{mtx_};
    std::string out;
    for (auto& [k, v] : by_status_)
      out += (out.empty() ? "" : " ") + k + "=" + std::to_string(v);
    return out.empty() ? "nothing answered" : out;
  }

private:
  std::mutex mtx_;
  std::FILE* f_ = nullptr;
  std::map<std::string, uint64_t> by_status_;
};

std::string what_of(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "unknown error";
  }
}

constexpr const char* produce_usage = R"(usage: holdfast produce --broker HOST:PORT --topic T [--count N] [--size BYTES]
                        [--inflight K] [--mode sync|async|oneway] [--acked FILE]
                        [--auth-token TOKEN] [--no-idempotence] [--send-timeout-ms MS]
                        [--request-timeout-ms MS] [--retries N]
                        [--tls --tls-ca FILE --tls-cert FILE --tls-key FILE]

Sends N messages (default 1000) of BYTES bytes (default 1024) with K in flight (default 1).
--acked appends one line per answered send: `MSG_ID STATUS QUEUE:OFFSET`, or
`MSG_ID ERROR reason`. Oneway sends get no answer and no line. Exit 0 when every send got an
answer (errors included), 1 when the broker cannot be reached, 2 on bad arguments.
The producer is idempotent unless --no-idempotence: a retried send that the broker already
stored is answered with its original result. --send-timeout-ms (sendMsgTimeout, default 3000),
--request-timeout-ms (one attempt; default: all of it) and --retries (retryTimesWhenSendFailed
and retryTimesWhenSendAsyncFailed, default 2) tune the retries.
)" HOLDFAST_TLS_USAGE;

} // namespace

int run_produce(const std::vector<std::string>& args) {
  flag_parser p{"produce", args, produce_usage};
  auto broker = p.get("--broker");
  auto topic = p.get("--topic");
  auto count = p.get_int("--count", 1000, 0, 1'000'000'000);
  auto size = p.get_int("--size", 1024, 0, 64 << 20);
  auto inflight = p.get_int("--inflight", 1, 1, 100000);
  auto mode = p.get("--mode", "sync");
  auto acked_path = p.get("--acked");
  auto token = p.get("--auth-token");
  bool idempotence = !p.has("--no-idempotence");
  auto send_timeout = p.get_int("--send-timeout-ms", 3000, 1, 3'600'000);
  auto request_timeout = p.get_int("--request-timeout-ms", 0, 0, 3'600'000);
  auto retries = p.get_int("--retries", 2, 0, 1000);
  auto tls = p.get_tls();
  p.done();
  if (broker.empty() || topic.empty()) {
    std::fprintf(stderr, "holdfast produce: --broker and --topic are required\n%s", produce_usage);
    return 2;
  }
  if (mode != "sync" && mode != "async" && mode != "oneway") {
    std::fprintf(stderr, "holdfast produce: --mode must be sync, async or oneway\n");
    return 2;
  }
  set_log_level(log_level::warning);
  try {
    acked_log acked{acked_path};
    client::producer_config cfg;
    cfg.broker = broker;
    cfg.client_id = "holdfast-produce";
    cfg.auth_token = token;
    cfg.enable_idempotence = idempotence;
    cfg.send_msg_timeout = std::chrono::milliseconds(send_timeout);
    cfg.request_timeout = std::chrono::milliseconds(request_timeout);
    cfg.retry_times_when_send_failed = static_cast<int>(retries);
    cfg.retry_times_when_send_async_failed = static_cast<int>(retries);
    cfg.tls = tls;
    client::producer prod{cfg};
    prod.start();
    auto prefix = make_msg_id_prefix();
    std::string filler(static_cast<size_t>(size), 'x');
    auto make = [&](long long i) {
      message m;
      m.topic = topic;
      m.msg_id = prefix + std::to_string(i);
      auto body = filler;
      // The id at the front makes a body recognisable; the rest is filler up to --size.
      for (size_t k = 0; k < body.size() && k < m.msg_id.size(); ++k)
        body[k] = m.msg_id[k];
      m.body.assign(body.begin(), body.end());
      return m;
    };
    auto t0 = clock_type::now();
    std::atomic<bool> finished{false};
    std::thread progress([&] {
      auto next = t0 + std::chrono::seconds(1);
      while (!finished) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        if (clock_type::now() >= next && !finished) {
          std::fprintf(stderr, "progress: %llu/%lld answered (%s)\n",
                       static_cast<unsigned long long>(acked.answered()), count,
                       acked.summary().c_str());
          next += std::chrono::seconds(1);
        }
      }
    });
    if (mode == "sync") {
      // K threads, each with one synchronous send in flight.
      std::atomic<long long> next_index{0};
      std::vector<std::thread> workers;
      for (long long w = 0; w < inflight; ++w)
        workers.emplace_back([&] {
          for (long long i; (i = next_index++) < count;) {
            auto m = make(i);
            auto id = m.msg_id;
            try {
              acked.ok(prod.send(std::move(m)));
            } catch (const std::exception& e) {
              acked.error(id, e.what());
            }
          }
        });
      for (auto& t : workers)
        t.join();
    } else if (mode == "async") {
      std::mutex mtx;
      std::condition_variable cv;
      long long outstanding = 0;
      for (long long i = 0; i < count; ++i) {
        {
          std::unique_lock lock{mtx};
          cv.wait(lock, [&] { return outstanding < inflight; });
          ++outstanding;
        }
        auto m = make(i);
        auto id = m.msg_id;
        auto release = [&] {
          std::lock_guard guard{mtx};
          --outstanding;
          cv.notify_all();
        };
        prod.send(
          std::move(m),
          [&acked, release](const send_result& r) {
            acked.ok(r);
            release();
          },
          [&acked, release, id](std::exception_ptr e) {
            acked.error(id, what_of(e));
            release();
          });
      }
      std::unique_lock lock{mtx};
      cv.wait(lock, [&] { return outstanding == 0; });
    } else {
      for (long long i = 0; i < count; ++i)
        prod.send_oneway(make(i));
      // Oneway has no answers to wait for; give the last messages time to leave the process.
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
    finished = true;
    progress.join();
    auto secs = std::chrono::duration<double>(clock_type::now() - t0).count();
    std::printf("produced %lld messages to %s in %.2f s (%.0f msgs/s): %s\n", count,
                topic.c_str(), secs, secs > 0 ? static_cast<double>(count) / secs : 0.0,
                mode == "oneway" ? "oneway, no answers" : acked.summary().c_str());
    prod.shutdown();
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "holdfast produce: %s\n", e.what());
    return 1;
  }
}

namespace {

constexpr const char* consume_usage = R"(usage: holdfast consume --broker HOST:PORT --topic T [--group G] [--from-beginning]
                        [--max N] [--idle-exit-ms MS] [--print ids|bodies|none]
                        [--auth-token TOKEN] [--heartbeat-ms MS] [--process-ms MS]
                        [--tls --tls-ca FILE --tls-cert FILE --tls-key FILE]

Consumes with group G (default holdfast_cli), committing each batch after it was printed.
Consumers of one group share the topic's queues; each heartbeats every --heartbeat-ms
(default 5000). --process-ms pauses that long after printing a batch and before committing
it (a slow handler, for crash tests). Messages that went through the retry path (dead
letters in %DLQ%<group>) show their reconsume count and original topic after the id.
A group that never committed starts at the end of the topic, or at its beginning with
--from-beginning. Stops after N messages, or after MS milliseconds without a message
(default: runs until interrupted).
)" HOLDFAST_TLS_USAGE;

} // namespace

int run_consume(const std::vector<std::string>& args) {
  flag_parser p{"consume", args, consume_usage};
  client::consumer_config cfg;
  cfg.broker = p.get("--broker");
  cfg.topic = p.get("--topic");
  cfg.group = p.get("--group", "holdfast_cli");
  cfg.from_beginning = p.has("--from-beginning");
  auto max = p.get_int("--max", 0, 0, 1'000'000'000'000LL);
  auto idle_ms = p.get_int("--idle-exit-ms", 0, 0, 86'400'000);
  auto print = p.get("--print", "ids");
  cfg.auth_token = p.get("--auth-token");
  cfg.heartbeat_interval = std::chrono::milliseconds(p.get_int("--heartbeat-ms", 5000, 10, 600'000));
  auto process_ms = p.get_int("--process-ms", 0, 0, 86'400'000);
  cfg.tls = p.get_tls();
  p.done();
  if (cfg.broker.empty() || cfg.topic.empty()) {
    std::fprintf(stderr, "holdfast consume: --broker and --topic are required\n%s", consume_usage);
    return 2;
  }
  if (print != "ids" && print != "bodies" && print != "none") {
    std::fprintf(stderr, "holdfast consume: --print must be ids, bodies or none\n");
    return 2;
  }
  set_log_level(log_level::warning);
  if (idle_ms > 0)
    cfg.poll_wait = std::chrono::milliseconds(std::min<long long>(idle_ms, 1000));
  try {
    client::consumer c{cfg};
    c.start();
    long long seen = 0;
    auto last = clock_type::now();
    while (max == 0 || seen < max) {
      auto msgs = c.poll();
      if (msgs.empty()) {
        if (idle_ms > 0 && clock_type::now() - last >= std::chrono::milliseconds(idle_ms))
          break;
        continue;
      }
      last = clock_type::now();
      if (max != 0 && static_cast<long long>(msgs.size()) > max - seen)
        msgs.resize(static_cast<size_t>(max - seen));
      for (auto& m : msgs) {
        ++seen;
        std::string retried;
        if (auto t = m.properties.find(property::reconsume_time); t != m.properties.end()) {
          auto o = m.properties.find(property::retry_topic);
          retried = " reconsumeTimes=" + t->second
                    + " originTopic=" + (o != m.properties.end() ? o->second : std::string("?"));
        }
        if (print == "ids")
          std::printf("%s%s\n", m.msg_id.c_str(), retried.c_str());
        else if (print == "bodies")
          std::printf("%s%s %.*s\n", m.msg_id.c_str(), retried.c_str(),
                      static_cast<int>(m.body.size()), m.body.data());
      }
      std::fflush(stdout);
      if (process_ms > 0)
        std::this_thread::sleep_for(std::chrono::milliseconds(process_ms));
      // Processed (printed): now, and only now, their positions may be committed.
      c.commit(msgs);
    }
    std::fprintf(stderr, "consumed %lld messages\n", seen);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "holdfast consume: %s\n", e.what());
    return 1;
  }
}

namespace {

constexpr const char* verify_usage = R"(usage: holdfast verify --broker HOST:PORT --topic T --acked FILE [--auth-token TOKEN]
                       [--tls --tls-ca FILE --tls-cert FILE --tls-key FILE]

Reads the whole topic and compares it with an --acked file of `holdfast produce`. Reports the
SEND_OK ids that are missing (exit 1 if any), ids stored more than once, and ids stored though
never acknowledged. The last line is `missing=N duplicated=N unacknowledged=N`.
)" HOLDFAST_TLS_USAGE;

} // namespace

int run_verify(const std::vector<std::string>& args) {
  flag_parser p{"verify", args, verify_usage};
  auto broker = p.get("--broker");
  auto topic = p.get("--topic");
  auto acked_path = p.get("--acked");
  auto token = p.get("--auth-token");
  auto tls = p.get_tls();
  p.done();
  if (broker.empty() || topic.empty() || acked_path.empty()) {
    std::fprintf(stderr, "holdfast verify: --broker, --topic and --acked are required\n%s",
                 verify_usage);
    return 2;
  }
  set_log_level(log_level::warning);
  std::ifstream in(acked_path);
  if (!in) {
    std::fprintf(stderr, "holdfast verify: cannot read %s\n", acked_path.c_str());
    return 2;
  }
  std::set<std::string> send_ok, answered;
  // The last status each id was answered with, for the per-status loss count.
  std::unordered_map<std::string, std::string> status_of;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string id, status;
    if (!(ls >> id >> status))
      continue;
    if (status == "ERROR")
      continue;
    answered.insert(id);
    status_of[id] = status;
    if (status == "SEND_OK")
      send_ok.insert(id);
  }
  try {
    client::consumer_config cfg;
    cfg.broker = broker;
    cfg.topic = topic;
    cfg.group = ""; // read-only: no group, no commits
    cfg.from_beginning = true;
    cfg.poll_wait = std::chrono::milliseconds(300);
    cfg.pull_batch = 1024;
    cfg.client_id = "holdfast-verify";
    cfg.auth_token = token;
    cfg.tls = tls;
    client::consumer c{cfg};
    c.start();
    std::unordered_map<std::string, uint32_t> stored;
    uint64_t total = 0;
    for (int empty = 0; empty < 2;) {
      auto msgs = c.poll();
      if (msgs.empty()) {
        ++empty;
        continue;
      }
      empty = 0;
      for (auto& m : msgs) {
        ++stored[m.msg_id];
        ++total;
      }
    }
    uint64_t missing = 0, duplicated = 0, unacknowledged = 0;
    for (auto& id : send_ok)
      if (!stored.count(id))
        ++missing;
    // Acknowledged with another status (FLUSH_DISK_TIMEOUT, FLUSH_SLAVE_TIMEOUT, ...) and not
    // stored: not counted as missing (the producer was told to compensate), but reported.
    std::map<std::string, uint64_t> answered_by, missing_by;
    for (auto& [id, st] : status_of) {
      ++answered_by[st];
      if (!stored.count(id))
        ++missing_by[st];
    }
    for (auto& [id, n] : stored) {
      if (n > 1)
        ++duplicated;
      if (!answered.count(id))
        ++unacknowledged;
    }
    std::printf("topic %s: %llu messages stored, %zu SEND_OK in %s\n", topic.c_str(),
                static_cast<unsigned long long>(total), send_ok.size(), acked_path.c_str());
    std::printf("missing by status:");
    for (auto& [st, n] : answered_by)
      std::printf(" %s=%llu/%llu", st.c_str(),
                  static_cast<unsigned long long>(missing_by.count(st) ? missing_by[st] : 0),
                  static_cast<unsigned long long>(n));
    std::printf("\n");
    std::printf("missing=%llu duplicated=%llu unacknowledged=%llu\n",
                static_cast<unsigned long long>(missing),
                static_cast<unsigned long long>(duplicated),
                static_cast<unsigned long long>(unacknowledged));
    return missing == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "holdfast verify: %s\n", e.what());
    return 2;
  }
}

namespace {

constexpr const char* status_usage = R"(usage: holdfast status --broker HOST:PORT [--auth-token TOKEN]
                       [--tls --tls-ca FILE --tls-cert FILE --tls-key FILE]

Prints the broker's role, flush type, commit-log offsets (written, flushed, confirmed), its
leader epoch, the port of its replication door (haListenPort), the master it copies (on a
slave) or its slaves (on a master), and its topics with the end offset of each queue.
)" HOLDFAST_TLS_USAGE;

} // namespace

int run_status(const std::vector<std::string>& args) {
  flag_parser p{"status", args, status_usage};
  auto broker = p.get("--broker");
  auto token = p.get("--auth-token");
  auto tls = p.get_tls();
  p.done();
  if (broker.empty()) {
    std::fprintf(stderr, "holdfast status: --broker is required\n%s", status_usage);
    return 2;
  }
  set_log_level(log_level::warning);
  try {
    auto s = client::broker_status(broker, std::chrono::seconds(10), token, tls);
    std::printf("broker     %s\nrole       %s\nflush      %s\nwritten    %llu\nflushed    %llu\n"
                "confirmed  %llu\nfsyncs     %llu\nappends    %llu requests, %llu messages\n",
                broker.c_str(), s.broker_role.c_str(), s.flush_disk_type.c_str(),
                static_cast<unsigned long long>(s.written),
                static_cast<unsigned long long>(s.flushed),
                static_cast<unsigned long long>(s.confirmed),
                static_cast<unsigned long long>(s.fsyncs),
                static_cast<unsigned long long>(s.append_requests),
                static_cast<unsigned long long>(s.messages));
    std::printf("epoch      %llu\nhaListenPort %u\n", static_cast<unsigned long long>(s.epoch),
                static_cast<unsigned>(s.ha_listen_port));
    if (!s.master_address.empty())
      std::printf("master     %s\n", s.master_address.c_str());
    for (auto& sl : s.slaves)
      std::printf("slave      %s acked=%llu lag=%llu bytes last_heartbeat=%lld ms ago\n",
                  sl.id.c_str(), static_cast<unsigned long long>(sl.acked),
                  static_cast<unsigned long long>(sl.lag),
                  static_cast<long long>(sl.last_heartbeat_ms_ago));
    for (auto& t : s.topics) {
      std::printf("topic %s:", t.name.c_str());
      for (size_t q = 0; q < t.queue_ends.size(); ++q)
        std::printf(" %zu:%llu", q, static_cast<unsigned long long>(t.queue_ends[q]));
      std::printf("\n");
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "holdfast status: %s\n", e.what());
    return 1;
  }
}

} // namespace holdfast::tools
