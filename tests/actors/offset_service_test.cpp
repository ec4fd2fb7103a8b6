#include "actors/offset_service.hpp"

#include "actor_test_support.hpp"
#include "runtime/fault_fs.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <thread>
#include <vector>

using namespace holdfast;
using namespace std::chrono_literals;

namespace {

offset_service_actor spawn_over(caf::actor_system& sys, file_system& fs, const std::string& dir) {
  std::unique_ptr<offset_store> st;
  REQUIRE(offset_store::open(fs, dir, st) == errc::ok);
  return spawn_offset_service(sys, std::move(st));
}

offset_write_req commit(std::string group, uint64_t offset, int32_t queue = 0) {
  offset_write_req r;
  r.kind = offset_change::commit;
  r.entries.push_back(group_offset{std::move(group), "T", queue, offset});
  return r;
}

caf::expected<offset_write_ack> ask(caf::actor_system& sys, offset_service_actor svc,
                                    offset_write_req req) {
  caf::scoped_actor self{sys};
  caf::expected<offset_write_ack> out{caf::error{}};
  self->request(svc, caf::duration{10s}, std::move(req))
    .receive([&](offset_write_ack& a) { out = std::move(a); },
             [&](caf::error& e) { out = std::move(e); });
  return out;
}

} // namespace

TEST_CASE("commits from several consumers that arrive during one fsync share the next one",
          "[offsets][group-commit][slow-disk]") {
  test::scratch_dir dir;
  test::test_system_config cfg;
  caf::actor_system sys{cfg};
  fault_fs fs(21);
  auto svc = spawn_over(sys, fs, dir.path());
  fs.set_sync_delay(300ms);
  auto syncs = fs.sync_count();
  std::vector<std::thread> consumers;
  std::vector<int> ok(8, 0);
  for (int i = 0; i < 8; ++i)
    consumers.emplace_back([&, i] {
      for (uint64_t off = 1; off <= 3; ++off)
        ok[i] += ask(sys, svc, commit(std::to_string(i), off)) ? 1 : 0;
    });
  for (auto& t : consumers)
    t.join();
  fs.set_sync_delay(0ms);
  for (int i = 0; i < 8; ++i)
    CHECK(ok[i] == 3);
  // 24 commits; one fsync each would be 24. Each consumer waits for its previous answer, so at
  // most about one fsync per round of the slowest consumer, plus stragglers.
  auto used = fs.sync_count() - syncs;
  INFO(used << " fsyncs for 24 commits");
  CHECK(used <= 12);
  caf::anon_send_exit(svc, caf::exit_reason::user_shutdown);
}

TEST_CASE("the offset service answers a commit only after its fsync and refuses every commit "
          "after a failed one",
          "[offsets][fsyncgate]") {
  test::scratch_dir dir;
  test::test_system_config cfg;
  caf::actor_system sys{cfg};
  fault_fs fs(22);
  auto svc = spawn_over(sys, fs, dir.path());
  REQUIRE(ask(sys, svc, commit("g", 5)));
  // Backwards: refused at once, as invalid.
  auto back = ask(sys, svc, commit("g", 4));
  REQUIRE_FALSE(back);
  CHECK(back.error() == make_error(broker_errc::invalid_message));
  CHECK(describe(back.error()).find("only move forward") != std::string::npos);
  // Unchanged and nothing staged: answered without an fsync.
  auto syncs = fs.sync_count();
  auto same = ask(sys, svc, commit("g", 5));
  REQUIRE(same);
  CHECK(same->applied.empty());
  CHECK(fs.sync_count() == syncs);
  // A slow fsync: the answer comes after it.
  fs.set_sync_delay(400ms);
  auto start = std::chrono::steady_clock::now();
  auto slow = ask(sys, svc, commit("g", 6));
  CHECK(std::chrono::steady_clock::now() - start >= 400ms);
  REQUIRE(slow);
  REQUIRE(slow->applied.size() == 1);
  CHECK(slow->applied[0].offset == 6u);
  fs.set_sync_delay(0ms);
  // A failed fsync fails its commit and every later one, with a clear error.
  fs.fail_nth_sync(1);
  auto failed = ask(sys, svc, commit("g", 7));
  REQUIRE_FALSE(failed);
  CHECK(failed.error() == make_error(broker_errc::storage_failure));
  for (uint64_t off : {uint64_t{7}, uint64_t{8}}) {
    auto later = ask(sys, svc, commit("g", off));
    REQUIRE_FALSE(later);
    CHECK(later.error() == make_error(broker_errc::storage_failure));
    CHECK(describe(later.error()).find("refused until it restarts") != std::string::npos);
  }
  caf::anon_send_exit(svc, caf::exit_reason::user_shutdown);
}

TEST_CASE("an invalid group name in an offset write is refused with a clear error",
          "[offsets][hostile]") {
  test::scratch_dir dir;
  test::test_system_config cfg;
  caf::actor_system sys{cfg};
  auto svc = spawn_over(sys, posix_fs(), dir.path());
  auto bad = ask(sys, svc, commit("../etc", 1));
  REQUIRE_FALSE(bad);
  CHECK(bad.error() == make_error(broker_errc::invalid_message));
  auto bad_queue = ask(sys, svc, commit("g", 1, -1));
  REQUIRE_FALSE(bad_queue);
  CHECK(bad_queue.error() == make_error(broker_errc::invalid_message));
  caf::anon_send_exit(svc, caf::exit_reason::user_shutdown);
}
