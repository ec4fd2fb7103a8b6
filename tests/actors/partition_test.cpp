#include "actors/partition.hpp"

#include "actor_test_support.hpp"
#include "runtime/fault_fs.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

using namespace holdfast;
using namespace std::chrono_literals;

namespace {

caf::expected<append_reply> append_one(caf::actor_system& sys, partition_actor part, message m) {
  caf::scoped_actor self{sys};
  append_req req;
  req.msgs.push_back(std::move(m));
  caf::expected<append_reply> out{caf::error{}};
  self->request(part, caf::duration{5s}, std::move(req))
    .receive([&](append_reply& r) { out = std::move(r); },
             [&](caf::error& e) { out = std::move(e); });
  return out;
}

} // namespace

TEST_CASE("the partition refuses invalid topic names with invalid_message", "[partition]") {
  test::broker_fixture f;
  auto topic = GENERATE(std::string(""), std::string("../x"), std::string("a/b"),
                        std::string(300, 'a'), std::string("sp ace"), std::string("dot.ted"));
  auto r = append_one(f.sys, f.b.partition, test::text_message(topic, "id", "x"));
  REQUIRE_FALSE(r);
  CHECK(r.error() == make_error(broker_errc::invalid_message));
  CHECK(describe(r.error()).find("topic") != std::string::npos);
}

TEST_CASE("the partition refuses a body over maxMessageSize and bad queue ids", "[partition]") {
  test::broker_fixture f{{"maxMessageSize=1024"}};
  auto big = append_one(f.sys, f.b.partition, test::text_message("t", "id", std::string(1025, 'x')));
  REQUIRE_FALSE(big);
  CHECK(describe(big.error()).find("maxMessageSize") != std::string::npos);
  auto fits = append_one(f.sys, f.b.partition, test::text_message("t", "id", std::string(1024, 'x')));
  CHECK(fits);
  auto m = test::text_message("t", "id", "x");
  m.queue_id = GENERATE(4, 100, -2);
  auto bad = append_one(f.sys, f.b.partition, m);
  REQUIRE_FALSE(bad);
  CHECK(describe(bad.error()).find("queue") != std::string::npos);
}

TEST_CASE("a batch is stored all or nothing", "[partition]") {
  test::broker_fixture f;
  caf::scoped_actor self{f.sys};
  append_req req;
  req.msgs.push_back(test::text_message("t", "good-1", "x"));
  req.msgs.push_back(test::text_message("bad/topic", "bad", "x"));
  bool refused = false;
  self->request(f.b.partition, caf::duration{5s}, req)
    .receive([](append_reply&) {}, [&](caf::error&) { refused = true; });
  CHECK(refused);
  partition_status st;
  self->request(f.b.partition, caf::duration{5s}, status_atom::value)
    .receive([&](partition_status& s) { st = s; }, [](caf::error&) {});
  CHECK(st.written == 0);
}

TEST_CASE("messages survive a clean restart with their offsets", "[partition][recovery]") {
  test::scratch_dir dir;
  test::test_system_config cfg;
  caf::actor_system sys{cfg};
  auto conf = test::broker_config_for(dir.path());
  std::vector<send_result> sent;
  {
    auto b = start_broker(sys, conf, posix_fs());
    REQUIRE(b);
    for (int i = 0; i < 20; ++i) {
      auto r = append_one(sys, b->partition,
                          test::text_message("t", "id-" + std::to_string(i), "body " + std::to_string(i)));
      REQUIRE(r);
      sent.push_back(r->results.at(0));
    }
    REQUIRE(stop_broker(sys, *b));
  }
  auto b = start_broker(sys, conf, posix_fs());
  REQUIRE(b);
  CHECK(b->recovery.clean);
  caf::scoped_actor self{sys};
  for (auto& s : sent) {
    pull_req req{"t", s.queue_id, s.queue_offset, 1};
    self->request(b->partition, caf::duration{5s}, req)
      .receive(
        [&](pull_reply& r) {
          REQUIRE(r.msgs.size() == 1);
          CHECK(r.msgs[0].msg_id == s.msg_id);
          CHECK(r.msgs[0].commit_log_offset == s.commit_log_offset);
        },
        [](caf::error& e) { FAIL(caf::to_string(e)); });
  }
  stop_broker(sys, *b);
}

TEST_CASE("the partition answers an idempotent retry with the original result and refuses gaps",
          "[partition][idempotence]") {
  test::broker_fixture f{{"flushDiskType=\"SYNC_FLUSH\""}};
  caf::scoped_actor self{f.sys};
  hello_reply hello;
  self->request(f.b.partition, caf::duration{5s}, hello_req{"test", ""})
    .receive([&](hello_reply& r) { hello = r; }, [](caf::error&) {});
  REQUIRE(hello.producer_id != 0);
  auto seq = [&](uint64_t n) {
    auto m = test::text_message("idem", "id-" + std::to_string(n), "x");
    m.producer_id = hello.producer_id;
    m.sequence = n;
    return m;
  };
  auto first = append_one(f.sys, f.b.partition, seq(0));
  REQUIRE(first);
  auto again = append_one(f.sys, f.b.partition, seq(0));
  REQUIRE(again);
  CHECK(again->results[0].status == send_status::send_ok);
  CHECK(again->results[0].queue_offset == first->results[0].queue_offset);
  CHECK(again->results[0].commit_log_offset == first->results[0].commit_log_offset);
  auto gap = append_one(f.sys, f.b.partition, seq(2));
  REQUIRE_FALSE(gap);
  CHECK(gap.error() == make_error(broker_errc::out_of_sequence));
  CHECK(describe(gap.error()).find("expected sequence 1, got 2") != std::string::npos);
  CHECK(retriable(gap.error())); // an earlier send may still be on its way
  partition_status st;
  self->request(f.b.partition, caf::duration{5s}, status_atom::value)
    .receive([&](partition_status& s) { st = s; }, [](caf::error&) {});
  CHECK(st.duplicates == 1);
  CHECK(st.topics.at(0).queue_ends.at(0) + st.topics.at(0).queue_ends.at(1)
          + st.topics.at(0).queue_ends.at(2) + st.topics.at(0).queue_ends.at(3)
        == 1);
  // Every hello gets a fresh id.
  hello_reply second;
  self->request(f.b.partition, caf::duration{5s}, hello_req{"test", ""})
    .receive([&](hello_reply& r) { second = r; }, [](caf::error&) {});
  CHECK(second.producer_id != hello.producer_id);
}

TEST_CASE("a slow disk does not stall the partition: checkpoints sync on their own thread",
          "[partition]") {
  fault_fs fs(1);
  test::broker_fixture f{{"flushIntervalConsumeQueue=50", "flushDiskType=\"SYNC_FLUSH\"",
                          "syncFlushTimeout=300"},
                         fs};
  REQUIRE(append_one(f.sys, f.b.partition, test::text_message("slow", "first", "x")));
  fs.set_sync_delay(1500ms);
  std::this_thread::sleep_for(300ms); // a checkpoint is now stuck in its index fsyncs
  // Were the checkpoint on the partition's thread, this would wait out several 1.5 s fsyncs
  // and the 5 s request timeout; instead the send gets its FLUSH_DISK_TIMEOUT.
  auto r = append_one(f.sys, f.b.partition, test::text_message("slow", "second", "x"));
  REQUIRE(r);
  CHECK(r->results[0].status == send_status::flush_disk_timeout);
  fs.set_sync_delay(0ms);
}
