// Topics against the real broker process: many of them under a low open-file limit, and
// autoCreateTopicEnable = false with `holdfast admin updateTopic`.

#include "process.hpp"

#include "client/client.hpp"
#include "skip.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <set>

using namespace holdfast;
using namespace holdfast::e2e;
using namespace std::chrono_literals;

namespace {

// Both limits, set in the broker's own process before it runs: it cannot raise them.
const std::vector<std::string> low_fd_limit{"/usr/bin/prlimit", "--nofile=256:256", "--"};

message text(const std::string& topic, const std::string& body) {
  message m;
  m.topic = topic;
  m.body.assign(body.begin(), body.end());
  return m;
}

std::string topic_name(int i) {
  return "fd-topic-" + std::to_string(i);
}

/// One message to each of `n` topics (each created by its send); the SEND_OK count.
int send_one_to_each(const std::string& broker, int n) {
  client::producer_config cfg;
  cfg.broker = broker;
  cfg.send_msg_timeout = 10s;
  client::producer p{cfg};
  p.start();
  int ok = 0;
  for (int i = 0; i < n; ++i) {
    try {
      auto r = p.send(text(topic_name(i), "body of " + topic_name(i)));
      ok += r.status == send_status::send_ok ? 1 : 0;
    } catch (const std::exception& e) {
      UNSCOPED_INFO("send to " << topic_name(i) << ": " << e.what());
    }
  }
  return ok;
}

/// Messages per topic as the broker's status tells (sum of its queue ends).
std::map<std::string, uint64_t> stored_per_topic(const std::string& broker,
                                                 const std::string& token = "") {
  std::map<std::string, uint64_t> out;
  for (auto& t : client::broker_status(broker, 30s, token).topics) {
    uint64_t n = 0;
    for (auto e : t.queue_ends)
      n += e;
    out[t.name] = n;
  }
  return out;
}

/// Every message of a topic, read from the beginning without a group.
std::vector<std::string> read_topic(const std::string& broker, const std::string& topic,
                                    size_t expect) {
  client::consumer_config cc;
  cc.broker = broker;
  cc.topic = topic;
  cc.group = "";
  cc.poll_wait = 100ms;
  client::consumer c{cc};
  c.start();
  std::vector<std::string> out;
  for (int empty = 0; out.size() < expect && empty < 12;) {
    auto got = c.poll();
    empty += got.empty() ? 1 : 0;
    for (auto& m : got)
      out.emplace_back(m.body.begin(), m.body.end());
  }
  return out;
}

/// Every topic holds its one message, and a sample reads back intact.
void check_all_stored(const std::string& broker, int n) {
  auto stored = stored_per_topic(broker);
  int complete = 0;
  for (int i = 0; i < n; ++i)
    complete += stored[topic_name(i)] == 1 ? 1 : 0;
  CHECK(complete == n);
  for (int i = 0; i < n; i += n / 10) {
    CAPTURE(i);
    auto bodies = read_topic(broker, topic_name(i), 1);
    REQUIRE(bodies.size() == 1);
    CHECK(bodies[0] == "body of " + topic_name(i));
  }
}

bool have_prlimit() {
  return ::access(low_fd_limit[0].c_str(), X_OK) == 0;
}

} // namespace

TEST_CASE("a broker limited to 256 open files takes sends to 1000 new topics and restarts with "
          "every message",
          "[e2e][hostile][limits]") {
  // Each queue kept its index file open: 59 topics worked under this limit, then sends failed
  // with storage_failure and the broker could not restart (opendir: Too many open files).
  if (!have_prlimit())
    return holdfast::test::skip("no /usr/bin/prlimit");
  temp_dir dir;
  auto store = dir.path() + "/store";
  auto port = free_port();
  constexpr int topics = 1000;
  {
    broker_process broker(dir.path(), store, port, {}, {}, {}, low_fd_limit);
    CHECK(send_one_to_each(broker.address(), topics) == topics);
    check_all_stored(broker.address(), topics);
    // The default maxOpenIndexFiles (1024) is lowered to a quarter of the limit.
    CHECK(broker.proc().err().find("maxOpenIndexFiles lowered from 1024 to 64")
          != std::string::npos);
    CHECK(broker.stop() == 0);
    CHECK(broker.proc().err().find("stopped (clean)") != std::string::npos);
  }
  broker_process again(dir.path(), store, port, {}, {}, {}, low_fd_limit);
  check_all_stored(again.address(), topics);
  // And it goes on taking sends to old and new topics.
  client::producer_config cfg;
  cfg.broker = again.address();
  client::producer p{cfg};
  p.start();
  CHECK(p.send(text(topic_name(0), "more")).status == send_status::send_ok);
  CHECK(p.send(text("one-more-topic", "new")).status == send_status::send_ok);
  CHECK(again.stop() == 0);
}

TEST_CASE("a broker with 3000 topics recovers from a crash under a limit of 256 open files",
          "[e2e][hostile][limits][slow]") {
  if (!have_prlimit())
    return holdfast::test::skip("no /usr/bin/prlimit");
  temp_dir dir;
  auto store = dir.path() + "/store";
  auto port = free_port();
  constexpr int topics = 3000; // 12000 index files
  {
    broker_process broker(dir.path(), store, port, {}, {}, {}, low_fd_limit);
    CHECK(send_one_to_each(broker.address(), topics) == topics);
    broker.crash(); // SIGKILL: the restart runs recovery over every index
  }
  broker_process again(dir.path(), store, port, {}, {}, {}, low_fd_limit);
  check_all_stored(again.address(), topics);
  CHECK(again.stop() == 0);
  broker_process third(dir.path(), store, port, {}, {}, {}, low_fd_limit); // and a clean one
  check_all_stored(third.address(), topics);
  CHECK(third.stop() == 0);
}

TEST_CASE("with autoCreateTopicEnable false a send to an unknown topic is refused until holdfast "
          "admin updateTopic creates it",
          "[e2e][topics]") {
  temp_dir dir;
  const std::string token = "admin-secret";
  broker_process broker(dir.path(), dir.path() + "/store", free_port(),
                        {"autoCreateTopicEnable=false", "authToken=\"" + token + "\""});
  auto produce = [&](const std::string& acked) {
    std::string out;
    return run({bin("holdfast"), "produce", "--broker", broker.address(), "--topic", "orders",
                "--count", "3", "--auth-token", token, "--acked", dir.path() + "/" + acked},
               dir.path(), out);
  };
  REQUIRE(produce("refused") == 0); // errors are answers
  auto refused = slurp(dir.path() + "/refused");
  INFO(refused);
  CHECK(count(refused, " ERROR topic_not_exist") == 3);
  CHECK(refused.find("does not exist") != std::string::npos);
  CHECK(stored_per_topic(broker.address(), token).count("orders") == 0);

  auto admin = [&](std::vector<std::string> extra, std::string& out, std::string& err) {
    std::vector<std::string> argv{bin("holdfast"), "admin", "updateTopic", "--broker",
                                  broker.address(), "--topic", "orders"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return run(argv, dir.path(), out, &err);
  };
  std::string out, err;
  // Without the token the broker refuses: creating topics is for authenticated clients.
  CHECK(admin({"--queues", "2"}, out, err) == 1);
  CHECK(err.find("unauthorized") != std::string::npos);
  REQUIRE(admin({"--queues", "2", "--auth-token", token}, out, err) == 0);
  CHECK(out == "topic orders queues 2\n");

  REQUIRE(produce("stored") == 0);
  CHECK(count(slurp(dir.path() + "/stored"), " SEND_OK ") == 3);
  // Shrinking is refused, growing keeps what the queues hold.
  CHECK(admin({"--queues", "1", "--auth-token", token}, out, err) == 1);
  CHECK(err.find("shrinking") != std::string::npos);
  REQUIRE(admin({"--queues", "3", "--auth-token", token}, out, err) == 0);
  CHECK(out == "topic orders queues 3\n");
  auto s = client::broker_status(broker.address(), 10s, token);
  for (auto& t : s.topics)
    if (t.name == "orders") {
      REQUIRE(t.queue_ends.size() == 3);
      CHECK(t.queue_ends[0] + t.queue_ends[1] == 3);
      CHECK(t.queue_ends[2] == 0);
    }
  // Bad input gets a clear error, not a crash.
  CHECK(admin({"--queues", "0", "--auth-token", token}, out, err) == 2);
  CHECK(run({bin("holdfast"), "admin", "updateTopic", "--broker", broker.address(), "--topic",
             "bad/name", "--queues", "1", "--auth-token", token},
            dir.path(), out, &err) == 1);
  CHECK(err.find("invalid_message") != std::string::npos);
  CHECK(run({bin("holdfast"), "admin", "noSuchVerb"}, dir.path(), out, &err) == 2);
  CHECK(broker.stop() == 0);
}
