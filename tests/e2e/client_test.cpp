// The client library in this process against a broker in another one.

#include "process.hpp"

#include "client/client.hpp"

#include <catch2/catch.hpp>

using namespace holdfast;
using namespace holdfast::e2e;
using namespace std::chrono_literals;

namespace {

message text(const std::string& topic, const std::string& body) {
  message m;
  m.topic = topic;
  m.body.assign(body.begin(), body.end());
  return m;
}

} // namespace

TEST_CASE("the producer's batch send stores all messages with one result each", "[e2e]") {
  temp_dir dir;
  broker_process broker(dir.path(), dir.path() + "/store", free_port());
  client::producer_config cfg;
  cfg.broker = broker.address();
  client::producer p{cfg};
  p.start();
  CHECK(p.broker_info().flush_disk_type == "ASYNC_FLUSH");
  std::vector<message> batch;
  for (int i = 0; i < 10; ++i)
    batch.push_back(text("batch", "m" + std::to_string(i)));
  auto results = p.send(batch);
  REQUIRE(results.size() == 10);
  std::set<std::string> ids;
  for (auto& r : results) {
    CHECK(r.status == send_status::send_ok);
    ids.insert(r.msg_id);
  }
  CHECK(ids.size() == 10);
  // All or nothing: one bad message refuses the whole batch.
  batch.push_back(text("bad/topic", "x"));
  CHECK_THROWS_AS(p.send(batch), client::broker_error);
  auto s = client::broker_status(broker.address(), 5s);
  REQUIRE(s.topics.size() == 1);
  uint64_t stored = 0;
  for (auto e : s.topics[0].queue_ends)
    stored += e;
  CHECK(stored == 10);
}

TEST_CASE("a batch over 4 x maxMessageSize is refused before it travels, and the connection "
          "stays",
          "[e2e][hostile]") {
  // The door takes frames up to 4 x maxMessageSize + 1 MiB: a larger batch would have cost
  // the producer its connection; the client says why instead.
  temp_dir dir;
  broker_process broker(dir.path(), dir.path() + "/store", free_port(),
                        {"maxMessageSize=65536"});
  client::producer_config cfg;
  cfg.broker = broker.address();
  client::producer p{cfg};
  p.start();
  std::vector<message> batch;
  for (int i = 0; i < 5; ++i)
    batch.push_back(text("big", std::string(65536, 'x')));
  try {
    p.send(batch);
    FAIL("a 320 KiB batch went out");
  } catch (const client::broker_error& e) {
    CHECK(std::string(e.what()).find("at most 4 x maxMessageSize") != std::string::npos);
  }
  batch.pop_back();
  batch.pop_back(); // 3 x 64 KiB: fits
  auto results = p.send(batch);
  REQUIRE(results.size() == 3);
  for (auto& r : results)
    CHECK(r.status == send_status::send_ok);
}

TEST_CASE("the client throws typed exceptions", "[e2e]") {
  temp_dir dir;
  client::producer_config cfg;
  cfg.broker = "127.0.0.1:" + std::to_string(free_port()); // nobody listens there
  client::producer nowhere{cfg};
  CHECK_THROWS_AS(nowhere.start(), client::remote_error);
  cfg.broker = "not-an-address";
  client::producer garbled{cfg};
  CHECK_THROWS_AS(garbled.start(), client::remote_error);

  broker_process broker(dir.path(), dir.path() + "/store", free_port(), {"maxMessageSize=100"});
  cfg.broker = broker.address();
  client::producer p{cfg};
  p.start();
  CHECK_THROWS_AS(p.send(text("ok", std::string(101, 'x'))), client::broker_error);
  CHECK(p.send(text("ok", std::string(100, 'x'))).status == send_status::send_ok);
  // A broker that goes away: the sync send fails with a client_error within sendMsgTimeout.
  broker.crash();
  auto t0 = std::chrono::steady_clock::now();
  CHECK_THROWS_AS(p.send(text("ok", "late")), client::client_error);
  CHECK(std::chrono::steady_clock::now() - t0 < 6s);
}

TEST_CASE("a consumer re-delivers what was polled but not committed", "[e2e]") {
  temp_dir dir;
  broker_process broker(dir.path(), dir.path() + "/store", free_port());
  client::producer_config pc;
  pc.broker = broker.address();
  client::producer p{pc};
  p.start();
  for (int i = 0; i < 8; ++i)
    p.send(text("redeliver", "m" + std::to_string(i)));
  client::consumer_config cc;
  cc.broker = broker.address();
  cc.topic = "redeliver";
  cc.group = "g";
  cc.from_beginning = true;
  cc.poll_wait = 300ms;
  std::vector<stored_message> first;
  {
    client::consumer c{cc};
    c.start();
    first = c.poll();
    REQUIRE_FALSE(first.empty());
    // "Crash" before committing: the consumer goes away without commit().
  }
  client::consumer again{cc};
  again.start();
  auto second = again.poll();
  REQUIRE_FALSE(second.empty());
  CHECK(second.front().msg_id == first.front().msg_id);
  again.commit(second);
  client::consumer third{cc};
  third.start();
  auto after = third.poll();
  for (auto& m : after)
    for (auto& s : second)
      CHECK(m.msg_id != s.msg_id);
}
