#include "actors/flush_service.hpp"

#include "actor_test_support.hpp"
#include "runtime/fault_fs.hpp"

#include <catch2/catch.hpp>

#include <chrono>

using namespace holdfast;
using namespace std::chrono_literals;

namespace {

// Fires `n` one-message appends at once and collects every answer. A send that gets no answer
// within `timeout` is a hang: counted apart from the errors, and a failed check here, because a
// broker that never answers must not pass for one that refuses.
struct outcome {
  int ok = 0;
  int not_ok = 0;
  int errors = 0;
  int timeouts = 0;
  std::vector<send_status> statuses;
  std::vector<caf::error> refusals;
};

outcome send_concurrently(caf::actor_system& sys, partition_actor part, int n,
                          caf::duration timeout = caf::duration{10s}) {
  caf::scoped_actor self{sys};
  for (int i = 0; i < n; ++i) {
    append_req req;
    req.msgs.push_back(test::text_message("t", "id-" + std::to_string(i), "body"));
    self->send(part, std::move(req));
  }
  outcome out;
  for (int i = 0; i < n && out.timeouts == 0; ++i)
    self->receive(
      [&](append_reply& r) {
        for (auto& res : r.results) {
          out.statuses.push_back(res.status);
          (res.status == send_status::send_ok ? out.ok : out.not_ok)++;
        }
      },
      [&](caf::error& e) {
        ++out.errors;
        out.refusals.push_back(e);
      },
      caf::after(timeout) >> [&] { ++out.timeouts; });
  if (out.timeouts > 0)
    FAIL_CHECK("a send got no answer within " << caf::to_string(timeout));
  return out;
}

// True when every refusal says the commit log's fsync failed (or the failure stuck).
bool all_storage_failures(const outcome& out) {
  for (auto& e : out.refusals)
    if (e != make_error(broker_errc::storage_failure))
      return false;
  return !out.refusals.empty();
}

} // namespace

TEST_CASE("a delayed fsync beyond syncFlushTimeout gives FLUSH_DISK_TIMEOUT", "[flush]") {
  fault_fs fs{42};
  test::broker_fixture f{{"flushDiskType=\"SYNC_FLUSH\"",
                                                    "syncFlushTimeout=200"}, fs};
  fs.set_sync_delay(800ms);
  auto t0 = std::chrono::steady_clock::now();
  auto out = send_concurrently(f.sys, f.b.partition, 1);
  auto took = std::chrono::steady_clock::now() - t0;
  REQUIRE(out.statuses.size() == 1);
  CHECK(out.statuses[0] == send_status::flush_disk_timeout);
  CHECK(took >= 190ms);
  CHECK(took < 780ms);
  fs.set_sync_delay(0ms);
}

TEST_CASE("a fast fsync under SYNC_FLUSH gives SEND_OK and makes the message readable",
          "[flush]") {
  fault_fs fs{42};
  test::broker_fixture f{{"flushDiskType=\"SYNC_FLUSH\""}, fs};
  auto out = send_concurrently(f.sys, f.b.partition, 10);
  CHECK(out.ok == 10);
  caf::scoped_actor self{f.sys};
  size_t seen = 0;
  for (int32_t q = 0; q < 4; ++q) {
    pull_req req{"t", q, 0, 100};
    self->request(f.b.partition, caf::duration{5s}, req)
      .receive([&](pull_reply& r) { seen += r.msgs.size(); },
               [](caf::error& e) { FAIL(caf::to_string(e)); });
  }
  CHECK(seen == 10);
}

TEST_CASE("a failed fsync never gives SEND_OK, also to the sends that shared it, and sticks",
          "[flush]") {
  fault_fs fs{42};
  test::broker_fixture f{{"flushDiskType=\"SYNC_FLUSH\""}, fs};
  // Slow the failing fsync down so that many sends queue up behind it and share its fate.
  fs.set_sync_delay(50ms);
  fs.fail_nth_sync(1);
  auto out = send_concurrently(f.sys, f.b.partition, 32);
  CHECK(out.timeouts == 0);
  CHECK(out.ok == 0);
  CHECK(out.not_ok == 0);
  CHECK(out.errors == 32);
  CHECK(all_storage_failures(out));
  fs.set_sync_delay(0ms);
  // The failure sticks: a later send is refused although the disk "works" again.
  auto later = send_concurrently(f.sys, f.b.partition, 3);
  CHECK(later.timeouts == 0);
  CHECK(later.ok == 0);
  CHECK(later.errors == 3);
  CHECK(all_storage_failures(later));
  // And the clean-shutdown marker is not written after a failed fsync.
  CHECK_FALSE(f.stop());
}

TEST_CASE("group commit shares one fsync among many concurrent sends", "[flush]") {
  fault_fs fs{42};
  test::broker_fixture f{{"flushDiskType=\"SYNC_FLUSH\""}, fs};
  // A slow disk: while the first fsync runs, the other sends arrive and wait together.
  fs.set_sync_delay(20ms);
  auto before = fs.sync_count();
  auto out = send_concurrently(f.sys, f.b.partition, 64);
  auto fsyncs = fs.sync_count() - before;
  CHECK(out.ok == 64);
  CHECK(fsyncs >= 1);
  CHECK(fsyncs <= 4);
  fs.set_sync_delay(0ms);
}

TEST_CASE("ASYNC_FLUSH acknowledges at once even when the disk is slow", "[flush]") {
  fault_fs fs{42};
  test::broker_fixture f{{"flushIntervalCommitLog=10",
                                                    "flushCommitLogLeastPages=0"}, fs};
  fs.set_sync_delay(1000ms);
  auto t0 = std::chrono::steady_clock::now();
  auto out = send_concurrently(f.sys, f.b.partition, 20);
  auto took = std::chrono::steady_clock::now() - t0;
  CHECK(out.ok == 20);
  CHECK(took < 900ms);
  fs.set_sync_delay(0ms);
}

TEST_CASE("ASYNC_FLUSH flushes in the background every flushIntervalCommitLog", "[flush]") {
  fault_fs fs{42};
  test::broker_fixture f{{"flushIntervalCommitLog=20",
                                                    "flushCommitLogLeastPages=0"}, fs};
  auto out = send_concurrently(f.sys, f.b.partition, 5);
  REQUIRE(out.ok == 5);
  caf::scoped_actor self{f.sys};
  partition_status st;
  for (int i = 0; i < 100; ++i) {
    self->request(f.b.partition, caf::duration{5s}, status_atom::value)
      .receive([&](partition_status& s) { st = s; },
               [](caf::error& e) { FAIL(caf::to_string(e)); });
    if (st.flushed == st.written)
      break;
    std::this_thread::sleep_for(10ms);
  }
  CHECK(st.written > 0);
  CHECK(st.flushed == st.written);
}
