// Issue #5: the idempotent producer against a broker process that drops replies on purpose
// (holdfast-broker --fault-drop-replies), so the producer retries sends the broker stored.

#include "process.hpp"

#include "client/client.hpp"

#include <catch2/catch.hpp>

#include <condition_variable>
#include <map>
#include <mutex>

using namespace holdfast;
using namespace holdfast::e2e;
using namespace std::chrono_literals;

namespace {

struct outcome {
  std::map<std::string, send_result> results; ///< by message id
  size_t errors = 0;
};

// Sends `n` messages asynchronously, at most `inflight` at once, and waits for every answer.
outcome send_all(client::producer& p, const std::string& topic, int n, int inflight,
                 const std::string& prefix) {
  std::mutex mtx;
  std::condition_variable cv;
  outcome out;
  int outstanding = 0;
  for (int i = 0; i < n; ++i) {
    std::unique_lock lock{mtx};
    cv.wait(lock, [&] { return outstanding < inflight; });
    ++outstanding;
    lock.unlock();
    message m;
    m.topic = topic;
    m.msg_id = prefix + std::to_string(i);
    m.body.assign(m.msg_id.begin(), m.msg_id.end());
    p.send(
      std::move(m),
      [&](const send_result& r) {
        std::lock_guard g{mtx};
        out.results[r.msg_id] = r;
        --outstanding;
        cv.notify_all();
      },
      [&](std::exception_ptr) {
        std::lock_guard g{mtx};
        ++out.errors;
        --outstanding;
        cv.notify_all();
      });
  }
  std::unique_lock lock{mtx};
  REQUIRE(cv.wait_for(lock, 120s, [&] { return outstanding == 0; }));
  return out;
}

// Every stored message of the topic, by message id (several entries: stored more than once).
std::multimap<std::string, stored_message> read_topic(const std::string& broker,
                                                      const std::string& topic, size_t expect) {
  client::consumer_config cc;
  cc.broker = broker;
  cc.topic = topic;
  cc.group = ""; // read only
  cc.from_beginning = true;
  cc.poll_wait = 200ms;
  client::consumer c{cc};
  c.start();
  std::multimap<std::string, stored_message> out;
  int idle = 0;
  while (idle < 5) {
    auto batch = c.poll();
    idle = batch.empty() ? idle + 1 : 0;
    for (auto& m : batch)
      out.emplace(m.msg_id, m);
    if (out.size() > expect)
      idle = std::max(idle, 3); // already too many: a little more to count them all
  }
  return out;
}

client::producer_config producer_for(const std::string& broker, bool idempotence) {
  client::producer_config cfg;
  cfg.broker = broker;
  cfg.enable_idempotence = idempotence;
  cfg.send_msg_timeout = 60s;
  cfg.request_timeout = 400ms; // a dropped reply is retried after this
  cfg.retry_times_when_send_failed = 100;
  cfg.retry_times_when_send_async_failed = 100;
  return cfg;
}

uint64_t duplicates_answered(const std::string& broker) {
  return client::broker_status(broker, 10s).duplicates;
}

} // namespace

TEST_CASE("with replies dropped, each message is stored exactly once and the producer gets its "
          "original offsets",
          "[idempotence][e2e]") {
  temp_dir dir;
  auto port = free_port();
  broker_process broker(dir.path(), dir.path() + "/store", port,
                        {"brokerName=\"idem-" + std::to_string(port) + "\""},
                        {"--fault-drop-replies", "3"});
  const int n = 400;
  outcome sent;
  {
    client::producer p{producer_for(broker.address(), true)};
    p.start();
    sent = send_all(p, "idem", n, 32, "m-");
  }
  CHECK(sent.errors == 0);
  REQUIRE(sent.results.size() == n);
  CHECK(duplicates_answered(broker.address()) > 0); // retries happened and were recognised
  auto stored = read_topic(broker.address(), "idem", n);
  CHECK(stored.size() == n);
  size_t mismatched = 0;
  for (auto& [id, r] : sent.results) {
    CHECK(stored.count(id) == 1);
    auto it = stored.find(id);
    if (it == stored.end() || it->second.queue_id != r.queue_id
        || it->second.queue_offset != r.queue_offset
        || it->second.commit_log_offset != r.commit_log_offset)
      ++mismatched;
  }
  CHECK(mismatched == 0);

  SECTION("without idempotence the same faults store duplicates (what the feature prevents)") {
    client::producer p{producer_for(broker.address(), false)};
    p.start();
    auto plain = send_all(p, "plain", 200, 32, "p-");
    CHECK(plain.errors == 0);
    CHECK(read_topic(broker.address(), "plain", 200).size() > 200);
  }
}

TEST_CASE("a broker restarted between a send and its retry still stores it exactly once",
          "[idempotence][e2e]") {
  auto how = GENERATE(std::string("kill -9"), std::string("SIGTERM"));
  INFO(how);
  temp_dir dir;
  auto port = free_port();
  auto store = dir.path() + "/store";
  std::vector<std::string> sets{"brokerName=\"idem-" + std::to_string(port) + "\"",
                                "flushDiskType=\"SYNC_FLUSH\""};
  auto broker = std::make_unique<broker_process>(dir.path(), store, port, sets,
                                                 std::vector<std::string>{"--fault-drop-replies", "1"});
  const int n = 50;
  client::producer p{producer_for(broker->address(), true)};
  p.start();
  outcome sent;
  // All in flight at once: no answer comes before the restart.
  std::thread sender([&] { sent = send_all(p, "restart", n, n, "r-"); });
  // Every reply is dropped: wait until the broker holds all of them, then restart it.
  auto until = std::chrono::steady_clock::now() + 60s;
  uint64_t stored_before = 0;
  while (std::chrono::steady_clock::now() < until) {
    auto st = client::broker_status(broker->address(), 10s);
    stored_before = 0;
    for (auto& t : st.topics)
      for (auto e : t.queue_ends)
        stored_before += e;
    if (stored_before >= static_cast<uint64_t>(n))
      break;
    std::this_thread::sleep_for(50ms);
  }
  INFO(broker->proc().err());
  CHECK(stored_before == n);
  if (how == "kill -9")
    broker->crash();
  else
    REQUIRE(broker->stop() == 0);
  broker = std::make_unique<broker_process>(dir.path(), store, port, sets);
  sender.join();
  CHECK(sent.errors == 0);
  REQUIRE(sent.results.size() == n);
  auto stored = read_topic(broker->address(), "restart", n);
  CHECK(stored.size() == n);
  size_t mismatched = 0;
  for (auto& [id, r] : sent.results) {
    auto it = stored.find(id);
    if (stored.count(id) != 1 || it->second.queue_offset != r.queue_offset
        || it->second.commit_log_offset != r.commit_log_offset)
      ++mismatched;
  }
  CHECK(mismatched == 0);
  CHECK(duplicates_answered(broker->address()) > 0);
}

TEST_CASE("a retried batch send is stored once, all or nothing", "[idempotence][e2e]") {
  temp_dir dir;
  auto port = free_port();
  broker_process broker(dir.path(), dir.path() + "/store", port,
                        {"brokerName=\"idem-" + std::to_string(port) + "\""},
                        {"--fault-drop-replies", "2"});
  client::producer p{producer_for(broker.address(), true)};
  p.start();
  std::map<std::string, send_result> sent;
  for (int b = 0; b < 20; ++b) {
    std::vector<message> batch;
    for (int i = 0; i < 10; ++i) {
      message m;
      m.topic = "batches";
      m.msg_id = "b" + std::to_string(b) + "-" + std::to_string(i);
      m.body.assign(m.msg_id.begin(), m.msg_id.end());
      batch.push_back(std::move(m));
    }
    auto results = p.send(batch);
    REQUIRE(results.size() == 10);
    for (auto& r : results)
      sent[r.msg_id] = r;
  }
  REQUIRE(sent.size() == 200);
  auto stored = read_topic(broker.address(), "batches", 200);
  CHECK(stored.size() == 200);
  size_t mismatched = 0;
  for (auto& [id, r] : sent) {
    auto it = stored.find(id);
    if (stored.count(id) != 1 || it->second.queue_offset != r.queue_offset
        || it->second.commit_log_offset != r.commit_log_offset)
      ++mismatched;
  }
  CHECK(mismatched == 0);
  CHECK(duplicates_answered(broker.address()) >= 100); // every other batch was a retry
}

TEST_CASE("another client cannot use a producer's id, pre-empt its stream, or learn its "
          "sequence numbers",
          "[idempotence][hostile]") {
  temp_dir dir;
  broker_process broker(dir.path(), dir.path() + "/store", free_port());
  client::producer_config cfg;
  cfg.broker = broker.address();
  client::producer p{cfg};
  p.start();
  std::vector<std::string> ids;
  auto send_some = [&](int n) {
    for (int i = 0; i < n; ++i) {
      message m;
      m.topic = "steal";
      m.msg_id = "real-" + std::to_string(ids.size());
      m.body = {'r'};
      auto r = p.send(m);
      REQUIRE(r.status == send_status::send_ok);
      ids.push_back(m.msg_id);
    }
  };
  send_some(5);
  // Another process (another connection) stamps messages with the ids below its own.
  std::string out;
  REQUIRE(run({std::string(HOLDFAST_BIN_DIR) + "/../tests/rogue_client", broker.address(),
               "steal"},
              dir.path(), out) == 0);
  INFO(out);
  CHECK(out.find("victim ") != std::string::npos);
  CHECK(out.find("STORED") == std::string::npos);
  CHECK(out.find("expected sequence") == std::string::npos);
  CHECK(out.find("preempt") == std::string::npos);
  send_some(5);
  // Every message of the real producer is stored, none of the rogue's.
  REQUIRE(run({bin("holdfast"), "consume", "--broker", broker.address(), "--topic", "steal",
               "--group", "check", "--from-beginning", "--idle-exit-ms", "2000"},
              dir.path(), out) == 0);
  for (auto& id : ids)
    CHECK(out.find(id + "\n") != std::string::npos);
  CHECK(out.find("rogue") == std::string::npos);
}
