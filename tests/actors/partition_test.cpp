#include "actors/partition.hpp"

#include "actor_test_support.hpp"
#include "runtime/fault_fs.hpp"

#include <catch2/catch.hpp>

#include <atomic>
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
    .receive([&](partition_status& s) { st = s; }, [](caf::error& e) { FAIL(caf::to_string(e)); });
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
  self->request(f.b.client_door, caf::duration{5s}, hello_req{"test", "", {}})
    .receive([&](hello_reply& r) { hello = r; }, [](caf::error& e) { FAIL(caf::to_string(e)); });
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
  // The refusal names no sequence number: nothing in it helps anyone pre-empt the stream.
  CHECK(describe(gap.error()).find('1') == std::string::npos);
  CHECK(describe(gap.error()).find('2') == std::string::npos);
  CHECK(retriable(gap.error())); // an earlier send may still be on its way
  partition_status st;
  self->request(f.b.partition, caf::duration{5s}, status_atom::value)
    .receive([&](partition_status& s) { st = s; }, [](caf::error& e) { FAIL(caf::to_string(e)); });
  CHECK(st.duplicates == 1);
  CHECK(st.topics.at(0).queue_ends.at(0) + st.topics.at(0).queue_ends.at(1)
          + st.topics.at(0).queue_ends.at(2) + st.topics.at(0).queue_ends.at(3)
        == 1);
  // Every hello gets a fresh id.
  hello_reply second;
  self->request(f.b.client_door, caf::duration{5s}, hello_req{"test", "", {}})
    .receive([&](hello_reply& r) { second = r; }, [](caf::error& e) { FAIL(caf::to_string(e)); });
  CHECK(second.producer_id != hello.producer_id);
  // Producer ids carry the leader epoch: a promoted slave (a new term) never repeats one.
  CHECK((hello.producer_id >> 32) == hello.epoch);
  CHECK(hello.epoch >= 1);
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

namespace {

// A request from `self` to the partition with a generous timeout; the reply or the error.
template <class R, class Req>
caf::expected<R> ask_partition(caf::scoped_actor& self, partition_actor part, Req req) {
  caf::expected<R> out{caf::error{}};
  self->request(part, caf::duration{10s}, std::move(req))
    .receive([&](R& r) { out = std::move(r); }, [&](caf::error& e) { out = std::move(e); });
  return out;
}

partition_status status_of(caf::scoped_actor& self, partition_actor part) {
  partition_status st;
  self->request(part, caf::duration{10s}, status_atom::value)
    .receive([&](partition_status& s) { st = std::move(s); },
             [](caf::error& e) { FAIL(caf::to_string(e)); });
  return st;
}

uint64_t slave_acked(const partition_status& st, const std::string& id) {
  for (auto& s : st.slaves)
    if (s.id == id)
      return s.acked;
  return UINT64_MAX;
}

// A fetch of the authenticated slave `slave` (the replication door's job) in term `term`.
slave_fetch fetch(uint64_t offset, uint64_t acked, leader_epoch term, std::string slave = "s1") {
  slave_fetch r;
  r.slave_id = std::move(slave);
  r.req.offset = offset;
  r.req.acked = acked;
  r.req.last_epoch = term.epoch;
  r.req.last_term = term.term;
  return r;
}

} // namespace

TEST_CASE("garbage replication acks get clear errors and leave the slave's state unchanged",
          "[partition][hostile]") {
  test::broker_fixture f{{"brokerRole=\"ASYNC_MASTER\"", "brokerName=\"hostile-b\"",
                          "haAuthToken=\"t\""}};
  for (int i = 0; i < 3; ++i)
    REQUIRE(append_one(f.sys, f.b.partition, test::text_message("t", "m" + std::to_string(i), "x")));
  caf::scoped_actor self{f.sys};
  auto end = status_of(self, f.b.partition).written;
  REQUIRE(end > 0);
  auto first = ask_partition<ha_fetch_reply>(self, f.b.partition, fetch(0, 0, leader_epoch{}));
  REQUIRE(first);
  REQUIRE(first->bytes.size() == end);
  REQUIRE(first->epochs.size() == 1); // the master's term, which starts within those bytes
  auto term = first->epochs.back();
  REQUIRE(ask_partition<ha_fetch_reply>(self, f.b.partition, fetch(end, end, term)));
  REQUIRE(slave_acked(status_of(self, f.b.partition), "s1") == end);

  SECTION("an ack past the fetch offset") {
    auto r = ask_partition<ha_fetch_reply>(self, f.b.partition, fetch(end, end + 1000, term));
    REQUIRE_FALSE(r);
    CHECK(describe(r.error()).find("past the fetch offset") != std::string::npos);
  }
  SECTION("a fetch and an ack past the master's end: told to truncate, nothing recorded") {
    auto r = ask_partition<ha_fetch_reply>(self, f.b.partition,
                                           fetch(end + 1000, end + 1000, term));
    REQUIRE(r);
    CHECK(r->diverged);
    CHECK(r->truncate_to == end);
  }
  SECTION("a term the master never had: told to drop it, nothing recorded") {
    auto other = term;
    other.term ^= 1;
    auto r = ask_partition<ha_fetch_reply>(self, f.b.partition, fetch(end, end, other));
    REQUIRE(r);
    CHECK(r->diverged);
    CHECK(r->drop_last_term);
  }
  SECTION("an ack going backwards while the fetch offset stays") {
    auto r = ask_partition<ha_fetch_reply>(self, f.b.partition, fetch(end, 1, term));
    REQUIRE_FALSE(r);
    CHECK(describe(r.error()).find("went back") != std::string::npos);
  }
  SECTION("a fetch offset inside a record") {
    auto g = ask_partition<ha_fetch_reply>(self, f.b.partition, fetch(5, 5, term));
    REQUIRE_FALSE(g);
    CHECK(g.error() == make_error(broker_errc::out_of_order));
    CHECK(describe(g.error()).find("not a record boundary") != std::string::npos);
  }
  SECTION("an acknowledgement past what was sent, or from a slave never attached") {
    self->send(f.b.partition, slave_ack{"s1", end + 1000});
    self->send(f.b.partition, slave_ack{"nobody", end + 1000});
  }
  auto st = status_of(self, f.b.partition);
  CHECK(slave_acked(st, "s1") == end);
  CHECK(st.slaves.size() == 1);
  CHECK(st.written == end);
  // The log still serves a well-formed fetch.
  auto again = ask_partition<ha_fetch_reply>(self, f.b.partition, fetch(0, 0, leader_epoch{}, "s2"));
  REQUIRE(again);
  CHECK(again->bytes.size() == end);
}

TEST_CASE("a consumer committing past the queue end or backwards gets an error and keeps its "
          "offset",
          "[partition][hostile]") {
  test::broker_fixture f;
  for (int i = 0; i < 3; ++i) {
    auto m = test::text_message("t", "m" + std::to_string(i), "x");
    m.queue_id = 0;
    REQUIRE(append_one(f.sys, f.b.partition, m));
  }
  caf::scoped_actor self{f.sys};
  auto commit = [&](uint64_t off, int32_t queue = 0) {
    return ask_partition<bool>(self, f.b.partition, commit_offset_req{"g", "t", queue, off});
  };
  auto committed = [&] {
    auto r = ask_partition<fetch_offset_reply>(self, f.b.partition, fetch_offset_req{"g", "t", 0});
    REQUIRE(r);
    REQUIRE(r->found);
    return r->offset;
  };
  REQUIRE(commit(2));
  for (uint64_t bad : {uint64_t{4}, uint64_t{1000}, UINT64_MAX}) {
    auto r = commit(bad);
    REQUIRE_FALSE(r);
    CHECK(describe(r.error()).find("past the queue's confirmed end") != std::string::npos);
    CHECK(committed() == 2);
  }
  auto back = commit(1);
  REQUIRE_FALSE(back);
  CHECK(describe(back.error()).find("only move forward") != std::string::npos);
  CHECK(committed() == 2);
  CHECK_FALSE(commit(0, 4)); // a queue the topic does not have
  CHECK_FALSE(commit(0, -1));
  CHECK(committed() == 2);
  REQUIRE(commit(3)); // the end itself is fine
  CHECK(committed() == 3);
}

TEST_CASE("a full disk gives sends storage_failure naming no space, and sends succeed again when "
          "space returns",
          "[partition][hostile]") {
  // The in-process half of the full-disk test (the e2e one uses a real tmpfs): SYNC_FLUSH, so
  // SEND_OK means flushed.
  fault_fs fs{31};
  test::broker_fixture f{{"flushDiskType=\"SYNC_FLUSH\""}, fs};
  REQUIRE(append_one(f.sys, f.b.partition, test::text_message("t", "before", "x")));
  fs.set_disk_full(true);
  for (int i = 0; i < 3; ++i) {
    auto r = append_one(f.sys, f.b.partition, test::text_message("t", "refused", "x"));
    REQUIRE_FALSE(r);
    CHECK(r.error() == make_error(broker_errc::storage_failure));
    CHECK(describe(r.error()).find("no space left on device") != std::string::npos);
  }
  fs.set_disk_full(false);
  auto after = append_one(f.sys, f.b.partition, test::text_message("t", "after", "x"));
  REQUIRE(after);
  CHECK(after->results.at(0).status == send_status::send_ok);
  caf::scoped_actor self{f.sys};
  auto st = status_of(self, f.b.partition);
  CHECK(st.flushed == st.written);
  uint64_t total = 0;
  for (auto& t : st.topics)
    for (auto e : t.queue_ends)
      total += e;
  CHECK(total == 2);
}

TEST_CASE("after a failed index fsync the partition refuses every send until it is restarted",
          "[partition][fsyncgate]") {
  // fsyncgate: the pages a failed fsync covered may be gone, so nothing written after it may be
  // acknowledged. The checkpoint's index fsync fails here, not a send's own flush.
  fault_fs fs{7};
  test::broker_fixture f{{"flushIntervalConsumeQueue=50"}, fs};
  REQUIRE(append_one(f.sys, f.b.partition, test::text_message("t", "before", "x")));
  fs.fail_nth_sync(1);
  std::this_thread::sleep_for(500ms); // several checkpoints: the first one's fsync fails
  for (int i = 0; i < 3; ++i) {
    auto r = append_one(f.sys, f.b.partition, test::text_message("t", "after", "x"));
    REQUIRE_FALSE(r);
    CHECK(r.error() == make_error(broker_errc::storage_failure));
    CHECK(describe(r.error()).find("refuses sends until restarted") != std::string::npos);
  }
}

TEST_CASE("a pull returns at most maxTransferCountOnMessageInMemory messages and "
          "maxTransferBytesOnMessageInMemory bytes, but a larger message whole",
          "[partition][pull]") {
  test::broker_fixture f{{"defaultTopicQueueNums=1", "flushDiskType=\"SYNC_FLUSH\""}};
  for (int i = 0; i < 40; ++i)
    REQUIRE(append_one(f.sys, f.b.partition, test::text_message("small", std::to_string(i), "x")));
  for (int i = 0; i < 20; ++i)
    REQUIRE(append_one(f.sys, f.b.partition,
                       test::text_message("big", std::to_string(i), std::string(20 * 1024, 'b'))));
  REQUIRE(append_one(f.sys, f.b.partition,
                     test::text_message("huge", "h", std::string(300 * 1024, 'h'))));
  caf::scoped_actor self{f.sys};
  auto pull = [&](const std::string& topic) {
    auto r = ask_partition<pull_reply>(self, f.b.partition, pull_req{topic, 0, 0, 1000});
    REQUIRE(r);
    return std::move(*r);
  };
  // The defaults: 32 messages, 256 KiB.
  auto small = pull("small");
  CHECK(small.msgs.size() == 32);
  CHECK(small.next_offset == 32);
  auto big = pull("big");
  size_t bytes = 0;
  for (auto& m : big.msgs)
    bytes += m.body.size();
  CHECK(big.msgs.size() == 12); // a 13th 20 KiB record would pass 256 KiB
  CHECK(bytes <= 256 * 1024);
  CHECK(big.next_offset == big.msgs.size());
  auto huge = pull("huge");
  REQUIRE(huge.msgs.size() == 1);
  CHECK(huge.msgs[0].body.size() == 300 * 1024);
}

TEST_CASE("a slow disk delays consumer commits but never sends, pulls or the deadline tick",
          "[partition][slow-disk]") {
  // A commit is answered only after its fsync, but that fsync runs on the offset service's
  // thread: the partition keeps answering sends, pulls and long-poll deadlines meanwhile.
  // ASYNC_FLUSH, so sends and pulls need no fsync of their own.
  fault_fs fs(5);
  test::broker_fixture f{{"defaultTopicQueueNums=1"}, fs};
  for (int i = 0; i < 10; ++i)
    REQUIRE(append_one(f.sys, f.b.partition, test::text_message("t", std::to_string(i), "x")));
  constexpr auto fsync_delay = 1500ms;
  fs.set_sync_delay(fsync_delay);
  std::atomic<bool> done{false};
  std::vector<std::chrono::steady_clock::duration> commit_times;
  std::vector<bool> commit_ok;
  std::thread consumer([&] {
    caf::scoped_actor self{f.sys};
    for (uint64_t off = 1; !done; ++off) {
      auto start = std::chrono::steady_clock::now();
      auto r = ask_partition<bool>(self, f.b.partition,
                                   commit_offset_req{"g", "t", 0, std::min<uint64_t>(off, 10)});
      commit_times.push_back(std::chrono::steady_clock::now() - start);
      commit_ok.push_back(static_cast<bool>(r));
    }
  });
  std::this_thread::sleep_for(100ms); // the first commit is now with the disk
  caf::scoped_actor self{f.sys};
  std::chrono::steady_clock::duration slowest{};
  auto deadline = std::chrono::steady_clock::now() + 2 * fsync_delay + 500ms;
  int i = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    auto start = std::chrono::steady_clock::now();
    REQUIRE(append_one(f.sys, f.b.partition, test::text_message("t", std::to_string(100 + i++), "x")));
    REQUIRE(ask_partition<pull_reply>(self, f.b.partition, pull_req{"t", 0, 0, 4}));
    // A long poll at the end of the queue: only the deadline tick can answer it.
    auto end = status_of(self, f.b.partition).topics.at(0).queue_ends.at(0);
    auto polled = ask_partition<pull_reply>(self, f.b.partition, pull_req{"t", 0, end, 4, 50});
    REQUIRE(polled);
    CHECK(polled->msgs.empty());
    slowest = std::max(slowest, std::chrono::steady_clock::now() - start);
  }
  done = true;
  consumer.join();
  fs.set_sync_delay(0ms);
  auto ms = [](auto d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
  INFO("slowest round of send, pull and long poll: " << ms(slowest) << " ms");
  CHECK(slowest < 500ms);
  REQUIRE_FALSE(commit_times.empty());
  for (size_t k = 0; k < commit_times.size(); ++k) {
    INFO("commit " << k << " took " << ms(commit_times[k]) << " ms");
    CHECK(commit_ok[k]);
    CHECK(commit_times[k] >= fsync_delay); // answered only after its fsync
  }
  auto committed = ask_partition<fetch_offset_reply>(self, f.b.partition,
                                                     fetch_offset_req{"g", "t", 0});
  REQUIRE(committed);
  CHECK(committed->offset == std::min<uint64_t>(commit_times.size(), 10));
}

TEST_CASE("long polls past maxParkedPullsPerClient or maxParkedPulls answer the oldest to make "
          "room, and a send wakes only the polls of its queue",
          "[partition][pull][hostile]") {
  test::broker_fixture f{{"defaultTopicQueueNums=2", "maxParkedPullsPerClient=2",
                          "maxParkedPulls=3"}};
  auto to_queue = [](int q, const std::string& id) {
    auto m = test::text_message("t", id, "body-" + id);
    m.queue_id = q;
    return m;
  };
  REQUIRE(append_one(f.sys, f.b.partition, to_queue(0, "a")));
  REQUIRE(append_one(f.sys, f.b.partition, to_queue(1, "b")));
  // One scoped actor per poll, so each answer is known by its asker.
  std::vector<std::unique_ptr<caf::scoped_actor>> askers;
  auto poll = [&](int q, uint64_t client) {
    askers.push_back(std::make_unique<caf::scoped_actor>(f.sys));
    pull_req req{"t", q, 1, 32, 10000};
    req.client = client;
    (*askers.back())->send(f.b.partition, std::move(req));
    return askers.size() - 1;
  };
  // nullopt: no answer within `wait`.
  auto answer = [&](size_t i, std::chrono::milliseconds wait) {
    std::optional<pull_reply> out;
    (*askers[i])->receive([&](pull_reply& r) { out = std::move(r); },
                          [&](caf::error&) { FAIL("a poll failed"); },
                          caf::after(wait) >> [] {});
    return out;
  };
  auto p1 = poll(0, 7);
  auto p2 = poll(0, 7);
  auto p3 = poll(1, 7); // client 7's third: its oldest (p1) answers, empty
  auto a1 = answer(p1, 5s);
  REQUIRE(a1);
  CHECK(a1->msgs.empty());
  CHECK_FALSE(answer(p2, 300ms));
  auto p4 = poll(1, 8);
  auto p5 = poll(1, 9); // the fourth parked in all: the oldest (p2) answers, empty
  auto a2 = answer(p2, 5s);
  REQUIRE(a2);
  CHECK(a2->msgs.empty());
  // A message to queue 1 wakes the polls of queue 1 with it; a poll of queue 0 waits on.
  auto p6 = poll(0, 10); // evicts p3, the oldest
  REQUIRE(answer(p3, 5s));
  REQUIRE(append_one(f.sys, f.b.partition, to_queue(1, "c")));
  for (auto p : {p4, p5}) {
    auto a = answer(p, 5s);
    REQUIRE(a);
    REQUIRE(a->msgs.size() == 1);
    CHECK(a->msgs[0].msg_id == "c");
  }
  CHECK_FALSE(answer(p6, 300ms));
  REQUIRE(append_one(f.sys, f.b.partition, to_queue(0, "d")));
  auto a6 = answer(p6, 5s);
  REQUIRE(a6);
  REQUIRE(a6->msgs.size() == 1);
  CHECK(a6->msgs[0].msg_id == "d");
}

TEST_CASE("a slave has at most one fetch waiting: a new one answers the older, empty",
          "[partition][hostile]") {
  test::broker_fixture f{{"brokerRole=\"ASYNC_MASTER\"", "brokerName=\"one-fetch\"",
                          "haAuthToken=\"t\""}};
  REQUIRE(append_one(f.sys, f.b.partition, test::text_message("t", "m", "x")));
  caf::scoped_actor self{f.sys};
  auto first = ask_partition<ha_fetch_reply>(self, f.b.partition, fetch(0, 0, leader_epoch{}));
  REQUIRE(first);
  auto end = first->bytes.size();
  auto term = first->epochs.back();
  // Three waiting fetches at the end, each from its own asker.
  std::vector<std::unique_ptr<caf::scoped_actor>> askers;
  for (int i = 0; i < 3; ++i) {
    askers.push_back(std::make_unique<caf::scoped_actor>(f.sys));
    auto req = fetch(end, end, term);
    req.req.max_wait_ms = 10000;
    (*askers.back())->send(f.b.partition, std::move(req));
  }
  auto answered = [&](size_t i, std::chrono::milliseconds wait) {
    bool got = false;
    (*askers[i])->receive([&](ha_fetch_reply& r) { got = r.bytes.empty(); },
                          [&](caf::error&) { FAIL("a fetch failed"); },
                          caf::after(wait) >> [] {});
    return got;
  };
  CHECK(answered(0, 5s));
  CHECK(answered(1, 5s));
  CHECK_FALSE(answered(2, 300ms)); // the newest waits on
}
