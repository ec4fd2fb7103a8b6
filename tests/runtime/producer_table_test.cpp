#include "runtime/producer_table.hpp"

#include <catch2/catch.hpp>

using namespace holdfast;

namespace {

sequenced_entry entry(uint64_t seq, uint64_t offset) {
  return sequenced_entry{seq, seq * 10, offset, 100, 1};
}

} // namespace

TEST_CASE("a producer table tracks the next sequence and the stored results per stream",
          "[producer_table][idempotence]") {
  producer_table t(4);
  stream_key a{7, "orders", -1};
  stream_key b{7, "orders", 2}; // another queue of the same producer: another stream
  CHECK(t.next_sequence(a) == 0);
  for (uint64_t s = 0; s < 6; ++s)
    t.apply(a, entry(s, 1000 + s * 100), 1);
  t.apply(b, entry(0, 5000), 1);
  CHECK(t.next_sequence(a) == 6);
  CHECK(t.next_sequence(b) == 1);
  // The window keeps the last four results.
  CHECK_FALSE(t.find(a, 1));
  REQUIRE(t.find(a, 2));
  CHECK(t.find(a, 2)->commit_log_offset == 1200);
  CHECK(t.find(a, 5)->queue_offset == 50);
  CHECK_FALSE(t.find(a, 6));
  CHECK(t.max_producer_id() == 7);
}

TEST_CASE("truncating the producer table forgets what the log lost", "[producer_table]") {
  producer_table t;
  stream_key a{1, "t", -1};
  for (uint64_t s = 0; s < 5; ++s)
    t.apply(a, entry(s, s * 100), 1);
  t.truncate(300); // records at 300 and 400 are gone
  CHECK(t.next_sequence(a) == 3);
  CHECK(t.find(a, 2));
  CHECK_FALSE(t.find(a, 3));
  t.truncate(0);
  CHECK(t.streams() == 0);
  // Replaying the log is the truth: a stream restarts from what a record says.
  t.apply(a, entry(9, 50), 1);
  CHECK(t.next_sequence(a) == 10);
  CHECK_FALSE(t.find(a, 8));
}

TEST_CASE("a producer table snapshot round-trips and leaves out what is not durable",
          "[producer_table]") {
  producer_table t;
  stream_key a{(3ull << 32) | 1, "t", -1}, b{(3ull << 32) | 2, "u", 0}, old{5, "old", -1};
  for (uint64_t s = 0; s < 3; ++s)
    t.apply(a, entry(s, s * 100), 1000);
  t.apply(b, entry(0, 50), 1000);
  t.apply(old, entry(0, 10), 1); // idle for long: expired at the snapshot
  // Covered up to 200: a's record at 200 (ends at 300) may not survive a crash.
  auto bytes = t.encode(200, 1000 + 10, 100);
  producer_table u;
  uint64_t covered = 0;
  REQUIRE(u.decode(bytes, covered) == errc::ok);
  CHECK(covered == 200);
  CHECK(u.next_sequence(a) == 2);
  CHECK(u.find(a, 1)->commit_log_offset == 100);
  CHECK(u.next_sequence(b) == 1);
  CHECK(u.next_sequence(old) == 0);
  CHECK(u.max_producer_id() == ((3ull << 32) | 2));

  SECTION("a damaged snapshot is refused and leaves the table as it was") {
    for (size_t i : {size_t{0}, size_t{9}, bytes.size() / 2, bytes.size() - 1}) {
      auto bad = bytes;
      bad[i] ^= 0x40;
      CHECK(u.decode(bad, covered) == errc::corrupt);
    }
    CHECK(u.decode(bytes.substr(0, bytes.size() - 5), covered) == errc::corrupt);
    CHECK(u.decode("", covered) == errc::corrupt);
    CHECK(u.next_sequence(a) == 2);
  }
}

TEST_CASE("idle producer streams leave memory", "[idempotence]") {
  producer_table t;
  t.apply(stream_key{1, "a", -1}, sequenced_entry{0, 0, 0, 10, 0}, 1000);
  t.apply(stream_key{2, "a", -1}, sequenced_entry{0, 1, 10, 10, 0}, 5000);
  CHECK(t.expire(5500, 1000) == 1);
  CHECK(t.streams() == 1);
  CHECK(t.next_sequence(stream_key{1, "a", -1}) == 0);
  CHECK(t.next_sequence(stream_key{2, "a", -1}) == 1);
}
