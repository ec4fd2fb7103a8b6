#include "runtime/record_reader.hpp"

#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

using namespace holdfast;
using holdfast::test::temp_dir;
using record::decode_status;
using stop = record_reader::stop_reason;

namespace Catch {
template <>
struct StringMaker<holdfast::record_reader::stop_reason> {
  static std::string convert(holdfast::record_reader::stop_reason x) {
    return std::string(holdfast::to_string(x));
  }
};
} // namespace Catch

namespace {

// Segments in these tests start at this commit-log offset, so positions and file offsets differ.
constexpr uint64_t base = 1000;

std::string make_record(uint64_t offset, size_t i, size_t body) {
  return test::encoded_record(offset, i, body);
}

/// A segment file starting at `base` with records of assorted sizes.
struct segment_under_test {
  temp_dir tmp;
  std::string bytes;
  std::vector<uint64_t> offsets;

  void add(size_t body) {
    offsets.push_back(base + bytes.size());
    bytes += make_record(base + bytes.size(), offsets.size() - 1, body);
  }

  uint64_t end() const {
    return base + bytes.size();
  }

  std::shared_ptr<const file> open() const {
    test::spit(tmp / "segment", bytes);
    std::unique_ptr<file> f;
    REQUIRE(posix_fs().open(tmp / "segment", open_mode::read_only, f) == errc::ok);
    return std::shared_ptr<const file>(std::move(f));
  }
};

/// The offsets of every record the reader returns until it stops.
std::vector<uint64_t> walk(record_reader& r) {
  std::vector<uint64_t> seen;
  record::view v;
  while (r.next(v)) {
    CHECK(std::string(r.record_bytes().data(), r.record_bytes().size()).size() == v.length);
    seen.push_back(v.f.commit_log_offset);
  }
  return seen;
}

} // namespace

TEST_CASE("the record reader returns every record whatever the chunk size", "[reader]") {
  auto chunk = GENERATE(as<size_t>{}, 1, 7, 8, 67, 68, 100, 333, 1000, 1 << 20);
  CAPTURE(chunk);
  segment_under_test s;
  for (size_t i = 0; i < 30; ++i)
    s.add(i * 37 % 500);
  record_reader r(s.open(), base, base, s.end(), {chunk, true});
  CHECK(walk(r) == s.offsets);
  CHECK(r.reason() == stop::end);
  CHECK(r.position() == s.end());
  record::view v;
  CHECK_FALSE(r.next(v)); // stays stopped
}

TEST_CASE("the record reader starts at any record boundary", "[reader]") {
  segment_under_test s;
  for (size_t i = 0; i < 10; ++i)
    s.add(100 + i);
  auto k = GENERATE(as<size_t>{}, 0, 1, 5, 9);
  CAPTURE(k);
  record_reader r(s.open(), base, s.offsets[k], s.end(), {64, true});
  CHECK(walk(r) == std::vector<uint64_t>(s.offsets.begin() + static_cast<std::ptrdiff_t>(k),
                                         s.offsets.end()));
  CHECK(r.reason() == stop::end);
}

TEST_CASE("the record reader stops at a torn last record and says where", "[reader]") {
  segment_under_test s;
  for (size_t i = 0; i < 5; ++i)
    s.add(200);
  auto whole = s.bytes;
  auto torn_at = s.end();
  s.add(200);
  auto keep = GENERATE(as<size_t>{}, 1, 7, 8, 67, 68, 150);
  CAPTURE(keep);
  s.bytes.resize(whole.size() + keep);
  record_reader r(s.open(), base, base, s.end(), {100, true});
  CHECK(walk(r).size() == 5);
  CHECK(r.reason() == stop::bad_record);
  CHECK(r.status() == decode_status::torn);
  CHECK(r.position() == torn_at);
}

TEST_CASE("the record reader reports a zero-filled tail", "[reader]") {
  segment_under_test s;
  for (size_t i = 0; i < 3; ++i)
    s.add(50);
  auto tail_at = s.end();
  s.bytes.append(GENERATE(as<size_t>{}, 1, 8, 4096), '\0');
  record_reader r(s.open(), base, base, s.end(), {100, true});
  CHECK(walk(r).size() == 3);
  CHECK(r.reason() == stop::bad_record);
  CHECK(r.status() == decode_status::zero_tail);
  CHECK(r.position() == tail_at);
}

TEST_CASE("the record reader reports a bad checksum at the record's position", "[reader]") {
  segment_under_test s;
  for (size_t i = 0; i < 6; ++i)
    s.add(80);
  s.bytes[s.offsets[3] - base + 100] ^= 0x20; // in the body of the fourth record
  record_reader r(s.open(), base, base, s.end(), {1 << 20, true});
  CHECK(walk(r).size() == 3);
  CHECK(r.reason() == stop::bad_record);
  CHECK(r.status() == decode_status::bad_crc);
  CHECK(r.position() == s.offsets[3]);
}

TEST_CASE("a record whose offset field is not its position is bad unless offsets go unchecked",
          "[reader]") {
  segment_under_test s;
  s.add(10);
  s.offsets.push_back(s.end());
  s.bytes += make_record(s.end() + 4096, 1, 10); // copied from elsewhere
  auto check = GENERATE(true, false);
  CAPTURE(check);
  record_reader r(s.open(), base, base, s.end(), {1 << 20, check});
  auto seen = walk(r);
  if (check) {
    CHECK(seen.size() == 1);
    CHECK(r.reason() == stop::bad_record);
    CHECK(r.status() == decode_status::bad_length);
    CHECK(r.position() == s.offsets[1]);
  } else {
    CHECK(seen.size() == 2);
    CHECK(r.reason() == stop::end);
  }
}

TEST_CASE("the record reader stops before a record that would pass its byte budget", "[reader]") {
  segment_under_test s;
  for (size_t i = 0; i < 10; ++i)
    s.add(100);
  auto size = s.offsets[1] - s.offsets[0];
  auto budget = GENERATE_COPY(uint64_t{0}, size - 1, size, 3 * size + 5, 100 * size);
  CAPTURE(budget);
  record_reader r(s.open(), base, base, s.end(), {8, true, budget});
  auto seen = walk(r);
  // The first record always; then whole records while they fit.
  auto want = std::clamp<uint64_t>(budget / size, 1, 10);
  CHECK(seen.size() == want);
  CHECK(r.reason() == (want == 10 ? stop::end : stop::budget));
  CHECK(r.position() == base + want * size);
}

TEST_CASE("a chunk ending in a record's first bytes is read on even when they are zeros",
          "[reader]") {
  // A masked crc may begin with zero bytes. Fewer than 8 zeros at a chunk's end are no proof
  // of a zero-filled tail while the file goes on: the reader reads on.
  segment_under_test s;
  s.add(40);
  // Find a second record whose first byte (of the crc) is zero.
  std::string second;
  for (size_t body = 0; second.empty() || second[0] != '\0'; ++body) {
    REQUIRE(body < 100000);
    second = make_record(s.end(), 1, body);
  }
  s.offsets.push_back(s.end());
  s.bytes += second;
  auto chunk = s.offsets[1] - base + 1; // the first chunk ends one byte into the second record
  record_reader r(s.open(), base, base, s.end(), {chunk, true});
  CHECK(walk(r) == s.offsets);
  CHECK(r.reason() == stop::end);
}

TEST_CASE("a file shorter than the end it was given is a read error", "[reader]") {
  segment_under_test s;
  for (size_t i = 0; i < 3; ++i)
    s.add(60);
  auto f = s.open();
  record_reader r(f, base, base, s.end() + 500, {1 << 20, true});
  CHECK(walk(r).size() == 3);
  CHECK(r.reason() == stop::read_error);
  CHECK(r.error() == errc::corrupt);
  CHECK(r.position() == s.end());
}

TEST_CASE("a reader from a position outside its file has stopped with out_of_range",
          "[reader]") {
  segment_under_test s;
  s.add(10);
  auto f = s.open();
  record_reader below(f, base, base - 1, s.end(), {});
  record_reader past(f, base, s.end() + 1, s.end(), {});
  auto failed = record_reader::failed(7, errc::out_of_range);
  for (auto* r : {&below, &past, &failed}) {
    record::view v;
    CHECK_FALSE(r->next(v));
    CHECK(r->reason() == stop::read_error);
    CHECK(r->error() == errc::out_of_range);
  }
  CHECK(failed.position() == 7);
}
