#include "runtime/fault_fs.hpp"

#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <set>
#include <vector>
#include <string>

using namespace holdfast;
using holdfast::test::temp_dir;
using namespace std::chrono_literals;

namespace {

// A file in `dir` through `fs` whose directory entry is already durable, holding `synced`
// bytes made durable and then `unsynced` bytes written after the last sync.
std::unique_ptr<file> half_synced_file(fault_fs& fs, const temp_dir& dir,
                                       const std::string& synced, const std::string& unsynced) {
  std::unique_ptr<file> f;
  REQUIRE(fs.open(dir / "data", open_mode::read_write, f) == errc::ok);
  REQUIRE(fs.sync_dir(dir.path()) == errc::ok);
  REQUIRE(f->append(synced) == errc::ok);
  REQUIRE(f->sync() == errc::ok);
  REQUIRE(f->append(unsynced) == errc::ok);
  REQUIRE(f->size() == synced.size() + unsynced.size());
  return f;
}

} // namespace

TEST_CASE("a power cut in drop mode keeps exactly the synced bytes", "[fault]") {
  temp_dir dir;
  fault_fs fs(1);
  auto f = half_synced_file(fs, dir, "durable-part|", "lost-part");
  fs.power_cut(tear_mode::drop);
  CHECK(fs.powered_off());
  CHECK(test::slurp(dir / "data") == "durable-part|");
}

TEST_CASE("a power cut in random prefix mode keeps the synced bytes and a prefix of the rest",
          "[fault]") {
  temp_dir dir;
  auto seed = GENERATE(range(uint64_t{1}, uint64_t{21}));
  CAPTURE(seed);
  fault_fs fs(seed);
  std::string synced = "0123456789";
  std::string unsynced = "abcdefghijklmnopqrstuvwxyz";
  auto f = half_synced_file(fs, dir, synced, unsynced);
  fs.power_cut(tear_mode::random_prefix);
  auto after = test::slurp(dir / "data");
  CHECK(after.size() >= synced.size());
  CHECK(after.size() <= synced.size() + unsynced.size());
  // What survived is a prefix of what was written, never anything else.
  CHECK(after == (synced + unsynced).substr(0, after.size()));
}

TEST_CASE("random prefix power cuts tear at different places for different seeds", "[fault]") {
  // Guards against a "random" tear that is always 0 or always everything.
  std::set<uint64_t> sizes;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    temp_dir dir;
    fault_fs fs(seed);
    auto f = half_synced_file(fs, dir, "0123456789", std::string(1000, 'x'));
    fs.power_cut(tear_mode::random_prefix);
    sizes.insert(test::file_size(dir / "data"));
  }
  CHECK(sizes.size() > 5);
}

TEST_CASE("a power cut in zero fill mode keeps the length and zeroes what was not synced",
          "[fault]") {
  temp_dir dir;
  fault_fs fs(1);
  auto f = half_synced_file(fs, dir, "synced!", "not synced");
  fs.power_cut(tear_mode::zero_fill);
  CHECK(test::slurp(dir / "data") == std::string("synced!") + std::string(10, '\0'));
}

TEST_CASE("overwriting synced bytes makes them unsynced again", "[fault]") {
  temp_dir dir;
  fault_fs fs(1);
  auto f = half_synced_file(fs, dir, "0123456789", "");
  REQUIRE(f->write_at(4, std::string("XY")) == errc::ok);
  fs.power_cut(tear_mode::drop);
  CHECK(test::slurp(dir / "data") == "0123");
}

TEST_CASE("a file whose directory was never synced vanishes on a power cut", "[fault]") {
  temp_dir dir;
  fault_fs fs(1);
  auto sync_the_dir = GENERATE(false, true);
  CAPTURE(sync_the_dir);
  std::unique_ptr<file> f;
  REQUIRE(fs.open(dir / "fresh", open_mode::read_write, f) == errc::ok);
  REQUIRE(f->append(std::string("content")) == errc::ok);
  REQUIRE(f->sync() == errc::ok); // the data is durable, the name is not
  if (sync_the_dir)
    REQUIRE(fs.sync_dir(dir.path()) == errc::ok);
  fs.power_cut(tear_mode::drop);
  CHECK(std::filesystem::exists(dir / "fresh") == sync_the_dir);
  if (sync_the_dir)
    CHECK(test::slurp(dir / "fresh") == "content");
}

TEST_CASE("a file that existed before the fault_fs counts as durable", "[fault]") {
  temp_dir dir;
  test::spit(dir / "old", "from before");
  fault_fs fs(1);
  std::unique_ptr<file> f;
  REQUIRE(fs.open(dir / "old", open_mode::read_write, f) == errc::ok);
  REQUIRE(f->append(std::string(" and after")) == errc::ok);
  fs.power_cut(tear_mode::drop);
  CHECK(test::slurp(dir / "old") == "from before");
}

TEST_CASE("a renamed file counts as durable under its new name", "[fault]") {
  temp_dir dir;
  fault_fs fs(1);
  std::unique_ptr<file> f;
  REQUIRE(fs.open(dir / "a.tmp", open_mode::read_write, f) == errc::ok);
  REQUIRE(f->append(std::string("payload")) == errc::ok);
  REQUIRE(f->sync() == errc::ok);
  REQUIRE(fs.rename(dir / "a.tmp", dir / "a") == errc::ok);
  fs.power_cut(tear_mode::drop);
  CHECK_FALSE(std::filesystem::exists(dir / "a.tmp"));
  CHECK(test::slurp(dir / "a") == "payload");
}

TEST_CASE("fail_nth_sync of one fails the next sync with an io error and not the one after",
          "[fault]") {
  temp_dir dir;
  fault_fs fs(1);
  std::unique_ptr<file> f;
  REQUIRE(fs.open(dir / "data", open_mode::read_write, f) == errc::ok);
  REQUIRE(f->append(std::string("abc")) == errc::ok);
  REQUIRE(f->sync() == errc::ok);
  fs.fail_nth_sync(1);
  REQUIRE(f->append(std::string("def")) == errc::ok);
  CHECK(f->sync() == errc::io_error);
  CHECK(fs.sync_count() == 1);
  CHECK(f->sync() == errc::ok);
  CHECK(fs.sync_count() == 2);
  CHECK(f->sync() == errc::ok);
}

TEST_CASE("fail_nth_sync counts syncs from the moment it is called", "[fault]") {
  temp_dir dir;
  fault_fs fs(1);
  auto n = GENERATE(as<uint64_t>{}, 1, 2, 3);
  CAPTURE(n);
  std::unique_ptr<file> f;
  REQUIRE(fs.open(dir / "data", open_mode::read_write, f) == errc::ok);
  REQUIRE(f->sync() == errc::ok); // syncs before the call do not count
  fs.fail_nth_sync(n);
  for (uint64_t i = 1; i <= 4; ++i) {
    CAPTURE(i);
    CHECK(f->sync() == (i == n ? errc::io_error : errc::ok));
  }
}

TEST_CASE("bytes written before a failed sync are not durable", "[fault]") {
  temp_dir dir;
  fault_fs fs(1);
  auto f = half_synced_file(fs, dir, "kept", "lost");
  fs.fail_nth_sync(1);
  REQUIRE(f->sync() == errc::io_error);
  fs.power_cut(tear_mode::drop);
  CHECK(test::slurp(dir / "data") == "kept");
}

TEST_CASE("set_sync_delay makes every sync take at least the delay", "[fault]") {
  temp_dir dir;
  fault_fs fs(1);
  std::unique_ptr<file> f;
  REQUIRE(fs.open(dir / "data", open_mode::read_write, f) == errc::ok);
  auto delay = GENERATE(20ms, 60ms);
  fs.set_sync_delay(delay);
  for (int i = 0; i < 2; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    REQUIRE(f->sync() == errc::ok);
    CHECK(std::chrono::steady_clock::now() - t0 >= delay);
  }
}

TEST_CASE("after a power cut every operation reports closed", "[fault]") {
  temp_dir dir;
  fault_fs fs(1);
  std::unique_ptr<file> f;
  REQUIRE(fs.open(dir / "data", open_mode::read_write, f) == errc::ok);
  REQUIRE(fs.sync_dir(dir.path()) == errc::ok);
  REQUIRE(f->append(std::string("abc")) == errc::ok);
  REQUIRE(f->sync() == errc::ok);
  fs.power_cut(tear_mode::drop);

  CHECK(f->append(std::string("x")) == errc::closed);
  CHECK(f->write_at(0, std::string("x")) == errc::closed);
  char buf[3];
  size_t n = 99;
  CHECK(f->read_at(0, std::span<char>(buf, 3), n) == errc::closed);
  CHECK(f->flush() == errc::closed);
  CHECK(f->sync() == errc::closed);
  CHECK(f->truncate(0) == errc::closed);

  std::unique_ptr<file> g;
  CHECK(fs.open(dir / "data", open_mode::read_only, g) == errc::closed);
  CHECK(fs.open(dir / "other", open_mode::read_write, g) == errc::closed);
  CHECK(fs.rename(dir / "data", dir / "moved") == errc::closed);
  CHECK(fs.remove(dir / "data") == errc::closed);
  CHECK(fs.create_dirs(dir / "sub") == errc::closed);
  CHECK(fs.sync_dir(dir.path()) == errc::closed);
  std::vector<std::string> names;
  CHECK(fs.list(dir.path(), names) == errc::closed);
  CHECK_FALSE(fs.exists(dir / "data"));

  // None of it reached the disk.
  CHECK(test::slurp(dir / "data") == "abc");
  CHECK_FALSE(std::filesystem::exists(dir / "other"));
  CHECK_FALSE(std::filesystem::exists(dir / "sub"));
}

TEST_CASE("sync_count counts successful file syncs only", "[fault]") {
  temp_dir dir;
  fault_fs fs(1);
  CHECK(fs.sync_count() == 0);
  std::unique_ptr<file> f;
  REQUIRE(fs.open(dir / "data", open_mode::read_write, f) == errc::ok);
  auto n = GENERATE(1, 5);
  for (int i = 0; i < n; ++i)
    REQUIRE(f->sync() == errc::ok);
  REQUIRE(fs.sync_dir(dir.path()) == errc::ok); // a directory sync is not a file sync
  CHECK(fs.sync_count() == static_cast<uint64_t>(n));
  fs.fail_nth_sync(1);
  CHECK(f->sync() == errc::io_error);
  CHECK(fs.sync_count() == static_cast<uint64_t>(n));
  fs.power_cut(tear_mode::drop);
  CHECK(f->sync() == errc::closed);
  CHECK(fs.sync_count() == static_cast<uint64_t>(n));
}

TEST_CASE("the fault_fs passes reads and lists and removals through to the real files", "[fault]") {
  temp_dir dir;
  fault_fs fs(1);
  std::unique_ptr<file> f;
  REQUIRE(fs.open(dir / "b", open_mode::read_write, f) == errc::ok);
  REQUIRE(fs.open(dir / "a", open_mode::read_write, f) == errc::ok);
  REQUIRE(f->append(std::string("hello")) == errc::ok);
  char buf[8] = {};
  size_t n = 0;
  REQUIRE(f->read_at(1, std::span<char>(buf, 8), n) == errc::ok);
  CHECK(n == 4);
  CHECK(std::string(buf, n) == "ello");
  std::vector<std::string> names;
  REQUIRE(fs.list(dir.path(), names) == errc::ok);
  CHECK(names == std::vector<std::string>{"a", "b"});
  REQUIRE(fs.remove(dir / "b") == errc::ok);
  CHECK_FALSE(fs.exists(dir / "b"));
  CHECK(fs.exists(dir / "a"));
  std::unique_ptr<file> missing;
  CHECK(fs.open(dir / "nope", open_mode::read_only, missing) == errc::not_found);
}

namespace {

const char* name_of(tear_mode m) {
  switch (m) {
    case tear_mode::drop: return "drop";
    case tear_mode::random_prefix: return "random_prefix";
    case tear_mode::zero_fill: return "zero_fill";
  }
  return "?";
}

} // namespace

TEST_CASE("bytes whose fsync failed are lost on a power cut even after a later successful fsync",
          "[fault][fsyncgate]") {
  auto mode = GENERATE(tear_mode::drop, tear_mode::random_prefix, tear_mode::zero_fill);
  auto seed = GENERATE(range(uint64_t{1}, uint64_t{6}));
  CAPTURE(name_of(mode), seed);
  temp_dir dir;
  fault_fs fs(seed);
  auto f = half_synced_file(fs, dir, "AAAA", "BBBB");
  fs.fail_nth_sync(1);
  REQUIRE(f->sync() == errc::io_error);
  REQUIRE(f->append(std::string("CCCC")) == errc::ok);
  REQUIRE(f->sync() == errc::ok); // writes CCCC and the length, not BBBB
  // Until the power goes, the page cache still shows what was written.
  char buf[12];
  size_t n = 0;
  REQUIRE(f->read_at(0, std::span<char>(buf, 12), n) == errc::ok);
  CHECK(std::string(buf, n) == "AAAABBBBCCCC");
  fs.power_cut(mode);
  auto after = test::slurp(dir / "data");
  REQUIRE(after.size() == 12);
  CHECK(after.substr(0, 4) == "AAAA");
  CHECK(after.substr(8) == "CCCC");
  // Where BBBB was: nothing of it (zeros), except for a torn write-back that got part of it out.
  auto middle = after.substr(4, 4);
  auto kept = middle.find('\0');
  if (mode != tear_mode::random_prefix)
    CHECK(kept == 0);
  if (kept == std::string::npos)
    kept = 4;
  CHECK(middle.substr(0, kept) == std::string("BBBB").substr(0, kept));
  CHECK(middle.substr(kept) == std::string(4 - kept, '\0'));
}

TEST_CASE("bytes whose fsync failed at the end of a file are cut off on a power cut",
          "[fault][fsyncgate]") {
  temp_dir dir;
  fault_fs fs(1);
  auto f = half_synced_file(fs, dir, "AAAA", "BBBB");
  fs.fail_nth_sync(1);
  REQUIRE(f->sync() == errc::io_error);
  REQUIRE(f->sync() == errc::ok); // "succeeds": nothing is dirty any more
  fs.power_cut(tear_mode::drop);
  CHECK(test::slurp(dir / "data") == "AAAA");
}

TEST_CASE("bytes rewritten after a failed fsync are made durable by the next one",
          "[fault][fsyncgate]") {
  temp_dir dir;
  fault_fs fs(1);
  auto f = half_synced_file(fs, dir, "AAAA", "BBBB");
  fs.fail_nth_sync(1);
  REQUIRE(f->sync() == errc::io_error);
  REQUIRE(f->write_at(4, std::string("bb")) == errc::ok);
  REQUIRE(f->sync() == errc::ok);
  fs.power_cut(tear_mode::drop);
  // The first half was written again and synced; the second half is still the lost write.
  CHECK(test::slurp(dir / "data") == "AAAAbb");
}

TEST_CASE("a failed directory sync leaves the files created before it non-durable for good",
          "[fault][fsyncgate]") {
  temp_dir dir;
  fault_fs fs(1);
  std::unique_ptr<file> before, after;
  REQUIRE(fs.open(dir / "before", open_mode::read_write, before) == errc::ok);
  REQUIRE(before->append(std::string("x")) == errc::ok);
  REQUIRE(before->sync() == errc::ok);
  fs.fail_nth_dir_sync(1);
  REQUIRE(fs.sync_dir(dir.path()) == errc::io_error);
  REQUIRE(fs.open(dir / "after", open_mode::read_write, after) == errc::ok);
  REQUIRE(after->append(std::string("y")) == errc::ok);
  REQUIRE(after->sync() == errc::ok);
  REQUIRE(fs.sync_dir(dir.path()) == errc::ok);
  fs.power_cut(tear_mode::drop);
  CHECK_FALSE(std::filesystem::exists(dir / "before"));
  CHECK(test::slurp(dir / "after") == "y");
}

TEST_CASE("a file created while its directory is synced is not covered by that sync",
          "[fault][fsyncgate]") {
  temp_dir dir;
  fault_fs fs(1);
  auto sync_again = GENERATE(false, true);
  CAPTURE(sync_again);
  std::unique_ptr<file> first, second;
  REQUIRE(fs.open(dir / "first", open_mode::read_write, first) == errc::ok);
  bool fired = false;
  fs.set_dir_sync_hook([&](const std::string&) {
    if (fired)
      return;
    fired = true;
    REQUIRE(fs.open(dir / "second", open_mode::read_write, second) == errc::ok);
  });
  REQUIRE(fs.sync_dir(dir.path()) == errc::ok);
  REQUIRE(fired);
  if (sync_again)
    REQUIRE(fs.sync_dir(dir.path()) == errc::ok);
  fs.set_dir_sync_hook({});
  fs.power_cut(tear_mode::drop);
  CHECK(std::filesystem::exists(dir / "first"));
  CHECK(std::filesystem::exists(dir / "second") == sync_again);
}

TEST_CASE("fail_nth_dir_sync fails only directory syncs", "[fault]") {
  temp_dir dir;
  fault_fs fs(1);
  std::unique_ptr<file> f;
  REQUIRE(fs.open(dir / "data", open_mode::read_write, f) == errc::ok);
  fs.fail_nth_dir_sync(2);
  CHECK(f->sync() == errc::ok);
  CHECK(fs.sync_dir(dir.path()) == errc::ok);
  CHECK(f->sync() == errc::ok);
  CHECK(fs.sync_dir(dir.path()) == errc::io_error);
  CHECK(fs.sync_dir(dir.path()) == errc::ok);
}
