#include "runtime/queue_index.hpp"

#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

using namespace holdfast;
using holdfast::test::temp_dir;

namespace {

// Appends are written to the file in blocks of this many entries (queue_index.cpp).
constexpr uint64_t block = 256;

index_entry entry(uint64_t i) {
  return {1000 + i * 100, static_cast<uint32_t>(68 + i)};
}

void append_entries(queue_index& idx, uint64_t from, uint64_t to) {
  for (auto i = from; i < to; ++i)
    idx.append(entry(i));
}

// Checks that `got` holds entries [from, from + got.size()) of the pattern above.
void check_entries(const std::vector<index_entry>& got, uint64_t from) {
  for (size_t k = 0; k < got.size(); ++k) {
    CAPTURE(from + k);
    CHECK(got[k].commit_log_offset == entry(from + k).commit_log_offset);
    CHECK(got[k].size == entry(from + k).size);
  }
}

// A cache of its own per opened index: a reopened index must see what tests wrote behind the
// store's back (a handle remembers the size it saw). The caches outlive their indexes.
std::unique_ptr<queue_index> open_index(const std::string& path) {
  static std::vector<std::unique_ptr<index_file_cache>> caches;
  caches.push_back(std::make_unique<index_file_cache>(posix_fs(), 4));
  std::unique_ptr<queue_index> idx;
  REQUIRE(queue_index::open(*caches.back(), path, idx) == errc::ok);
  return idx;
}

} // namespace

TEST_CASE("index entries read back across the buffered and written boundary", "[index]") {
  temp_dir tmp;
  auto n = GENERATE(as<uint64_t>{}, 1, 255, 256, 257, 600);
  CAPTURE(n);
  auto idx = open_index(tmp / "0");
  CHECK(idx->count() == 0);
  append_entries(*idx, 0, n);
  CHECK(idx->count() == n);
  // Only whole blocks have reached the file so far.
  CHECK(test::file_size(tmp / "0") == (n / block) * block * queue_index::entry_size);

  std::vector<index_entry> got;
  REQUIRE(idx->read(0, n + 10, got) == errc::ok);
  CHECK(got.size() == n);
  check_entries(got, 0);
  // Windows around every block boundary, partly written, partly buffered.
  for (uint64_t from : {uint64_t{0}, block - 3, block, 2 * block - 1, n - 1}) {
    if (from >= n)
      continue;
    CAPTURE(from);
    REQUIRE(idx->read(from, 7, got) == errc::ok);
    CHECK(got.size() == std::min<uint64_t>(7, n - from));
    check_entries(got, from);
  }
  REQUIRE(idx->read(n, 5, got) == errc::ok);
  CHECK(got.empty());
  REQUIRE(idx->read(0, 0, got) == errc::ok);
  CHECK(got.empty());
}

TEST_CASE("flush writes the buffered entries to the file", "[index]") {
  temp_dir tmp;
  auto idx = open_index(tmp / "0");
  append_entries(*idx, 0, 300);
  REQUIRE(idx->flush() == errc::ok);
  CHECK(test::file_size(tmp / "0") == 300 * queue_index::entry_size);
  CHECK(idx->count() == 300);
  std::vector<index_entry> got;
  REQUIRE(idx->read(250, 50, got) == errc::ok);
  CHECK(got.size() == 50);
  check_entries(got, 250);
}

TEST_CASE("truncate drops every entry from the given number on", "[index]") {
  temp_dir tmp;
  auto idx = open_index(tmp / "0");
  append_entries(*idx, 0, 600); // 512 in the file, 88 buffered
  auto keep = GENERATE(as<uint64_t>{}, 600, 550, 512, 300, 256, 1, 0, 1000);
  CAPTURE(keep);
  REQUIRE(idx->truncate(keep) == errc::ok);
  auto left = std::min<uint64_t>(keep, 600);
  CHECK(idx->count() == left);
  std::vector<index_entry> got;
  REQUIRE(idx->read(0, 1000, got) == errc::ok);
  CHECK(got.size() == left);
  check_entries(got, 0);
  // New entries go right after the kept ones, in memory and on disk.
  append_entries(*idx, left, left + 10);
  REQUIRE(idx->sync() == errc::ok);
  CHECK(test::file_size(tmp / "0") == (left + 10) * queue_index::entry_size);
  idx = open_index(tmp / "0");
  CHECK(idx->count() == left + 10);
  REQUIRE(idx->read(0, 1000, got) == errc::ok);
  CHECK(got.size() == left + 10);
  check_entries(got, 0);
}

TEST_CASE("truncate_from_log_offset drops the entries at or past a commit-log offset",
          "[index]") {
  temp_dir tmp;
  auto idx = open_index(tmp / "0");
  append_entries(*idx, 0, 600); // entry i lies at 1000 + 100 i
  struct variant {
    uint64_t offset;
    uint64_t left;
  };
  auto var = GENERATE(variant{0, 0}, variant{1000, 0}, variant{1001, 1},
                      variant{1000 + 37 * 100 + 50, 38}, variant{1000 + 256 * 100, 256},
                      variant{1000 + 599 * 100, 599}, variant{1000 + 600 * 100, 600},
                      variant{UINT64_MAX, 600});
  CAPTURE(var.offset);
  REQUIRE(idx->truncate_from_log_offset(var.offset) == errc::ok);
  CHECK(idx->count() == var.left);
  std::vector<index_entry> got;
  REQUIRE(idx->read(0, 1000, got) == errc::ok);
  REQUIRE(got.size() == var.left);
  check_entries(got, 0);
  for (auto& e : got)
    CHECK(e.commit_log_offset < var.offset);
}

TEST_CASE("reopening an index keeps the entries that reached the file", "[index]") {
  temp_dir tmp;
  enum class how { nothing, flush, sync };
  auto mode = GENERATE(how::nothing, how::flush, how::sync);
  {
    auto idx = open_index(tmp / "0");
    append_entries(*idx, 0, 300);
    if (mode == how::flush)
      REQUIRE(idx->flush() == errc::ok);
    if (mode == how::sync)
      REQUIRE(idx->sync() == errc::ok);
  }
  // Without a flush only the full block was written; the rest is rebuilt from the log.
  uint64_t expect = mode == how::nothing ? block : 300;
  auto idx = open_index(tmp / "0");
  CHECK(idx->count() == expect);
  std::vector<index_entry> got;
  REQUIRE(idx->read(0, 1000, got) == errc::ok);
  CHECK(got.size() == expect);
  check_entries(got, 0);
}

TEST_CASE("a partial trailing entry is dropped when the index is opened", "[index]") {
  temp_dir tmp;
  {
    auto idx = open_index(tmp / "0");
    append_entries(*idx, 0, 10);
    REQUIRE(idx->sync() == errc::ok);
  }
  auto extra = GENERATE(as<size_t>{}, 1, 8, 15);
  CAPTURE(extra);
  test::append_raw(tmp / "0", std::string(extra, '\x7f'));
  auto idx = open_index(tmp / "0");
  CHECK(idx->count() == 10);
  CHECK(test::file_size(tmp / "0") == 10 * queue_index::entry_size);
  append_entries(*idx, 10, 12);
  REQUIRE(idx->sync() == errc::ok);
  idx = open_index(tmp / "0");
  std::vector<index_entry> got;
  REQUIRE(idx->read(0, 100, got) == errc::ok);
  CHECK(got.size() == 12);
  check_entries(got, 0);
}

TEST_CASE("zero-filled and stale entries past the checkpoint are dropped", "[index][recovery]") {
  // What a power cut can leave behind the synced part of an index: entries whose records are
  // gone, then space the file system extended but never wrote.
  temp_dir tmp;
  {
    auto idx = open_index(tmp / "0");
    append_entries(*idx, 0, 300);
    REQUIRE(idx->sync() == errc::ok);
  }
  auto zeros = GENERATE(as<size_t>{}, 1, 256, 600);
  CAPTURE(zeros);
  test::append_raw(tmp / "0", std::string(zeros * queue_index::entry_size, '\0'));
  auto idx = open_index(tmp / "0");
  REQUIRE(idx->count() == 300 + zeros);
  // A checkpoint at entry 250: 250..299 are stale, the zeros are not entries at all.
  REQUIRE(idx->truncate_from_log_offset(entry(250).commit_log_offset) == errc::ok);
  CHECK(idx->count() == 250);
  std::vector<index_entry> got;
  REQUIRE(idx->read(0, 1000, got) == errc::ok);
  REQUIRE(got.size() == 250);
  check_entries(got, 0);
  // A checkpoint past every real entry still drops the zeros.
  idx = open_index(tmp / "0");
  REQUIRE(idx->count() == 250);
  test::append_raw(tmp / "0", std::string(zeros * queue_index::entry_size, '\0'));
  idx = open_index(tmp / "0");
  REQUIRE(idx->truncate_from_log_offset(UINT64_MAX) == errc::ok);
  CHECK(idx->count() == 250);
}
