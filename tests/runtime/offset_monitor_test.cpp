#include "runtime/offset_monitor.hpp"

#include "runtime/task.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <vector>

using namespace holdfast;
using clock_type = offset_monitor::clock_type;
using namespace std::chrono_literals;

namespace {

task<void> wait_for(offset_monitor& m, uint64_t offset, clock_type::time_point deadline,
                    std::vector<std::pair<uint64_t, offset_monitor::outcome>>& log) {
  auto o = co_await m.wait(offset, deadline);
  log.emplace_back(offset, o);
}

} // namespace

TEST_CASE("notify resumes every waiter at or below the offset and no other", "[flush]") {
  offset_monitor m;
  task_scope scope;
  std::vector<std::pair<uint64_t, offset_monitor::outcome>> log;
  auto far = clock_type::now() + 1h;
  for (uint64_t off : {300, 100, 200, 400})
    scope.spawn(wait_for(m, off, far, log));
  CHECK(m.waiting() == 4);
  m.notify(250);
  REQUIRE(log.size() == 2);
  CHECK(log[0].first == 100);
  CHECK(log[1].first == 200);
  CHECK(log[0].second == offset_monitor::outcome::reached);
  m.notify(100); // offsets only move forward: nothing happens
  CHECK(log.size() == 2);
  m.notify(400);
  CHECK(log.size() == 4);
  CHECK(scope.live() == 0);
}

TEST_CASE("a wait for an offset already reached does not suspend", "[flush]") {
  offset_monitor m;
  task_scope scope;
  std::vector<std::pair<uint64_t, offset_monitor::outcome>> log;
  m.notify(500);
  scope.spawn(wait_for(m, 500, clock_type::now() + 1h, log));
  REQUIRE(log.size() == 1);
  CHECK(log[0].second == offset_monitor::outcome::reached);
  CHECK(m.waiting() == 0);
}

TEST_CASE("expire times out only the waiters whose deadline passed", "[flush]") {
  offset_monitor m;
  task_scope scope;
  std::vector<std::pair<uint64_t, offset_monitor::outcome>> log;
  auto now = clock_type::now();
  scope.spawn(wait_for(m, 10, now + 10ms, log));
  scope.spawn(wait_for(m, 20, now + 1h, log));
  REQUIRE(m.next_deadline().has_value());
  CHECK(*m.next_deadline() == now + 10ms);
  m.expire(now + 20ms);
  REQUIRE(log.size() == 1);
  CHECK(log[0] == std::make_pair(uint64_t{10}, offset_monitor::outcome::timed_out));
  CHECK(*m.next_deadline() == now + 1h);
}

TEST_CASE("fail resumes every waiter and makes later waits fail at once", "[flush]") {
  offset_monitor m;
  task_scope scope;
  std::vector<std::pair<uint64_t, offset_monitor::outcome>> log;
  scope.spawn(wait_for(m, 10, clock_type::now() + 1h, log));
  scope.spawn(wait_for(m, 20, clock_type::now() + 1h, log));
  m.fail();
  CHECK(log.size() == 2);
  scope.spawn(wait_for(m, 30, clock_type::now() + 1h, log));
  REQUIRE(log.size() == 3);
  CHECK(log[2].second == offset_monitor::outcome::failed);
}

TEST_CASE("a frame destroyed while waiting unregisters itself from the monitor", "[flush]") {
  offset_monitor m;
  std::vector<std::pair<uint64_t, offset_monitor::outcome>> log;
  {
    task_scope scope;
    scope.spawn(wait_for(m, 10, clock_type::now() + 1h, log));
    CHECK(m.waiting() == 1);
  }
  CHECK(m.waiting() == 0);
  m.notify(100); // must not touch the destroyed frame (ASan would report it)
  CHECK(log.empty());
}
