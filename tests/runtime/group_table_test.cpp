#include "runtime/group_table.hpp"

#include <catch2/catch.hpp>

#include <set>

using namespace holdfast;
using namespace std::chrono_literals;
using v = std::vector<int32_t>;

namespace {

constexpr auto expiry = std::chrono::seconds(10);

group_table::clock_type::time_point at(int seconds) {
  return group_table::clock_type::time_point{} + std::chrono::seconds(1000 + seconds);
}

} // namespace

TEST_CASE("averagely allocation matches RocketMQ's AllocateMessageQueueAveragely", "[group]") {
  CHECK(group_table::allocate_averagely(0, 1, 4) == v{0, 1, 2, 3});
  CHECK(group_table::allocate_averagely(0, 2, 4) == v{0, 1});
  CHECK(group_table::allocate_averagely(1, 2, 4) == v{2, 3});
  // 4 queues over 3 members: the first gets the extra queue.
  CHECK(group_table::allocate_averagely(0, 3, 4) == v{0, 1});
  CHECK(group_table::allocate_averagely(1, 3, 4) == v{2});
  CHECK(group_table::allocate_averagely(2, 3, 4) == v{3});
  // More members than queues: the last ones idle.
  CHECK(group_table::allocate_averagely(0, 3, 1) == v{0});
  CHECK(group_table::allocate_averagely(1, 3, 1).empty());
  CHECK(group_table::allocate_averagely(2, 3, 1).empty());
  CHECK(group_table::allocate_averagely(0, 0, 4).empty());
  CHECK(group_table::allocate_averagely(0, 2, 0).empty());
}

TEST_CASE("every queue has exactly one target owner for any member count", "[group]") {
  auto queues = GENERATE(1, 2, 3, 4, 7, 16);
  auto members = GENERATE(1, 2, 3, 5, 8, 20);
  std::multiset<int32_t> all;
  for (int i = 0; i < members; ++i)
    for (auto q : group_table::allocate_averagely(i, members, queues))
      all.insert(q);
  REQUIRE(all.size() == static_cast<size_t>(queues));
  for (int32_t q = 0; q < queues; ++q)
    CHECK(all.count(q) == 1);
}

TEST_CASE("a lone member gets every queue", "[group]") {
  group_table t;
  CHECK(t.heartbeat("g", "t", "a", {}, 4, expiry, at(0)) == v{0, 1, 2, 3});
  CHECK(t.members("g", "t") == std::vector<std::string>{"a"});
}

TEST_CASE("a queue moves to a new member only after its old owner released it", "[group]") {
  group_table t;
  REQUIRE(t.heartbeat("g", "t", "a", {}, 4, expiry, at(0)) == v{0, 1, 2, 3});
  // b joins: its target is {2, 3}, still held by a.
  CHECK(t.heartbeat("g", "t", "b", {}, 4, expiry, at(1)).empty());
  // a's heartbeat: it keeps only its target {0, 1}; it must release 2 and 3.
  CHECK(t.heartbeat("g", "t", "a", {0, 1, 2, 3}, 4, expiry, at(2)) == v{0, 1});
  // Until a's next heartbeat a counts as holding only what it was told to keep, so b gets them.
  CHECK(t.heartbeat("g", "t", "b", {}, 4, expiry, at(3)) == v{2, 3});
  CHECK(t.heartbeat("g", "t", "a", {0, 1}, 4, expiry, at(4)) == v{0, 1});
  CHECK(t.heartbeat("g", "t", "b", {2, 3}, 4, expiry, at(5)) == v{2, 3});
}

TEST_CASE("no queue is ever granted to two members at once", "[group]") {
  group_table t;
  std::vector<std::string> ids{"a", "b", "c"};
  std::map<std::string, v> holds;
  // Members join and heartbeat in turn, always reporting what they were last granted.
  for (int round = 0; round < 12; ++round) {
    for (auto& id : ids) {
      if (round < 2 && id == "c")
        continue; // c joins late
      holds[id] = t.heartbeat("g", "t", id, holds[id], 4, expiry, at(round));
      std::multiset<int32_t> all;
      for (auto& [m, qs] : holds)
        all.insert(qs.begin(), qs.end());
      for (int32_t q = 0; q < 4; ++q)
        CHECK(all.count(q) <= 1);
    }
  }
  // Settled: a has two queues, b and c one each, together all four.
  CHECK(holds["a"] == v{0, 1});
  CHECK(holds["b"] == v{2});
  CHECK(holds["c"] == v{3});
}

TEST_CASE("a member that leaves hands its queues to the others", "[group]") {
  group_table t;
  std::map<std::string, v> holds;
  for (int round = 0; round < 4; ++round)
    for (std::string id : {"a", "b", "c"})
      holds[id] = t.heartbeat("g", "t", id, holds[id], 4, expiry, at(round));
  REQUIRE(holds["b"] == v{2});
  CHECK(t.remove_member("b"));
  CHECK_FALSE(t.remove_member("b"));
  holds.erase("b");
  for (int round = 4; round < 8; ++round)
    for (std::string id : {"a", "c"})
      holds[id] = t.heartbeat("g", "t", id, holds[id], 4, expiry, at(round));
  CHECK(holds["a"] == v{0, 1});
  CHECK(holds["c"] == v{2, 3});
}

TEST_CASE("a member silent past its expiry loses its queues", "[group]") {
  group_table t;
  REQUIRE(t.heartbeat("g", "t", "a", {}, 2, expiry, at(0)) == v{0, 1});
  CHECK(t.heartbeat("g", "t", "b", {}, 2, expiry, at(1)).empty());
  // a never heartbeats again (killed): still holds its queues within the expiry...
  CHECK(t.heartbeat("g", "t", "b", {}, 2, expiry, at(9)).empty());
  // ...and is dropped after it: b takes everything.
  CHECK(t.heartbeat("g", "t", "b", {}, 2, expiry, at(12)) == v{0, 1});
  CHECK(t.members("g", "t") == std::vector<std::string>{"b"});
}

TEST_CASE("groups and topics are independent", "[group]") {
  group_table t;
  CHECK(t.heartbeat("g1", "t", "a", {}, 2, expiry, at(0)) == v{0, 1});
  CHECK(t.heartbeat("g2", "t", "b", {}, 2, expiry, at(0)) == v{0, 1});
  CHECK(t.heartbeat("g1", "u", "b", {}, 1, expiry, at(0)) == v{0});
  CHECK(t.owned("g1", "t", "a") == v{0, 1});
  // Queue ids a member claims outside the topic are ignored.
  CHECK(t.heartbeat("g1", "t", "a", {0, 1, 7, -1}, 2, expiry, at(1)) == v{0, 1});
}
