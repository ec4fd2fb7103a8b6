#include "runtime/offset_journal.hpp"

#include "runtime/crc32c.hpp"
#include "runtime/fault_fs.hpp"

#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

using namespace holdfast;
using holdfast::test::temp_dir;

namespace {

/// An opened journal and the payloads its recovery replayed.
struct opened {
  std::unique_ptr<offset_journal> journal;
  std::vector<std::string> replayed;
  offset_journal::replay_report report;
};

opened open_journal(const std::string& path, file_system& fs = posix_fs()) {
  opened o;
  auto apply = [&o](std::string_view p) {
    o.replayed.emplace_back(p);
    return true;
  };
  REQUIRE(offset_journal::open(fs, path, apply, o.journal, o.report) == errc::ok);
  REQUIRE(o.journal != nullptr);
  return o;
}

/// A journal at `path` holding `payloads`, synced.
void write_journal(const std::string& path, const std::vector<std::string>& payloads) {
  auto o = open_journal(path);
  for (auto& p : payloads)
    REQUIRE(o.journal->append(p) == errc::ok);
  REQUIRE(o.journal->sync() == errc::ok);
}

const std::vector<std::string> three = {"first", std::string(1000, 'x'), "third"};

} // namespace

TEST_CASE("records appended and synced are replayed in order after reopening", "[offsets][wal]") {
  temp_dir tmp;
  auto path = tmp / "j";
  write_journal(path, three);
  auto o = open_journal(path);
  CHECK(o.replayed == three);
  CHECK(o.report.records == 3);
  CHECK(o.report.dropped_bytes == 0);
  // The journal continues after the replayed records.
  REQUIRE(o.journal->append("fourth") == errc::ok);
  REQUIRE(o.journal->sync() == errc::ok);
  auto again = open_journal(path);
  REQUIRE(again.replayed.size() == 4);
  CHECK(again.replayed[3] == "fourth");
}

TEST_CASE("a new journal is only its magic and an empty payload is a record", "[offsets][wal]") {
  temp_dir tmp;
  auto path = tmp / "j";
  {
    auto o = open_journal(path);
    CHECK(o.replayed.empty());
    CHECK(o.journal->size() == offset_journal::header_size);
    CHECK_FALSE(o.journal->dirty());
    REQUIRE(o.journal->append("") == errc::ok);
    CHECK(o.journal->dirty());
    REQUIRE(o.journal->sync() == errc::ok);
    CHECK_FALSE(o.journal->dirty());
  }
  CHECK(test::slurp(path).substr(0, 8) == "HFOJRN01");
  auto o = open_journal(path);
  REQUIRE(o.replayed.size() == 1);
  CHECK(o.replayed[0].empty());
}

TEST_CASE("a torn last record is dropped on recovery and the next record takes its place",
          "[offsets][wal]") {
  temp_dir sample;
  write_journal(sample / "j", three);
  auto good = test::slurp(sample / "j");
  auto last = offset_journal::record_header_size + three[2].size();
  auto keep = good.size() - last; // the first two records
  // Every cut inside the last record, zeros over it, and a flipped bit in each of its bytes.
  std::vector<std::string> torn;
  for (size_t len = keep + 1; len < good.size(); ++len)
    torn.push_back(good.substr(0, len));
  torn.push_back(good.substr(0, keep) + std::string(last, '\0'));
  for (size_t pos = keep; pos < good.size(); ++pos) {
    auto bad = good;
    bad[pos] = static_cast<char>(bad[pos] ^ 0x10);
    torn.push_back(bad);
  }
  for (auto& bytes : torn) {
    CAPTURE(bytes.size());
    temp_dir tmp;
    test::spit(tmp / "j", bytes);
    auto o = open_journal(tmp / "j");
    CHECK(o.replayed == std::vector<std::string>{three[0], three[1]});
    CHECK(o.report.dropped_bytes == bytes.size() - keep);
    CHECK_FALSE(o.report.why.empty());
    CHECK(test::file_size(tmp / "j") == keep); // cut on disk, not just skipped
    REQUIRE(o.journal->append("after") == errc::ok);
    REQUIRE(o.journal->sync() == errc::ok);
    auto again = open_journal(tmp / "j");
    CHECK(again.replayed == std::vector<std::string>{three[0], three[1], "after"});
  }
}

TEST_CASE("an impossible length is a bad tail, never an allocation", "[offsets][wal][hostile]") {
  temp_dir tmp;
  auto path = tmp / "j";
  write_journal(path, {"a"});
  std::string rec(offset_journal::record_header_size, '\0');
  for (uint32_t length : {0xffffffffu, offset_journal::max_record_size + 1, 3u}) {
    CAPTURE(length);
    for (int i = 0; i < 4; ++i)
      rec[4 + i] = static_cast<char>((length >> (8 * i)) & 0xff);
    rec[8] = 1;
    auto bytes = test::slurp(path);
    temp_dir t2;
    test::spit(t2 / "j", bytes + rec);
    auto o = open_journal(t2 / "j");
    CHECK(o.replayed == std::vector<std::string>{"a"});
    CHECK(o.report.dropped_bytes == rec.size());
  }
}

TEST_CASE("a payload that passes its checksum but does not decode ends the replay there",
          "[offsets][wal]") {
  temp_dir tmp;
  auto path = tmp / "j";
  write_journal(path, three);
  opened o;
  auto apply = [&o](std::string_view p) {
    if (p == three[1])
      return false;
    o.replayed.emplace_back(p);
    return true;
  };
  REQUIRE(offset_journal::open(posix_fs(), path, apply, o.journal, o.report) == errc::ok);
  CHECK(o.replayed == std::vector<std::string>{three[0]});
  CHECK(o.report.records == 1);
}

TEST_CASE("a journal shorter than its magic starts empty, one with a foreign magic is corrupt",
          "[offsets][wal]") {
  temp_dir tmp;
  auto path = tmp / "j";
  for (std::string bytes : {std::string(""), std::string("HFOJ"), std::string(8, '\0')}) {
    test::spit(path, bytes);
    auto o = open_journal(path);
    CHECK(o.replayed.empty());
    CHECK(test::slurp(path) == "HFOJRN01");
  }
  test::spit(path, "HFOJRN99 something else");
  std::unique_ptr<offset_journal> j;
  offset_journal::replay_report report;
  CHECK(offset_journal::open(posix_fs(), path, [](std::string_view) { return true; }, j, report)
        == errc::corrupt);
  CHECK(j == nullptr);
  CHECK(test::slurp(path) == "HFOJRN99 something else"); // left alone for the caller
}

TEST_CASE("records synced before a power cut survive it in every tear mode, later ones may not",
          "[offsets][wal][crash]") {
  auto mode = GENERATE(tear_mode::drop, tear_mode::random_prefix, tear_mode::zero_fill);
  auto seed = GENERATE(range(uint64_t{1}, uint64_t{5}));
  CAPTURE(seed);
  temp_dir tmp;
  auto path = tmp / "j";
  {
    fault_fs fs(seed);
    auto o = open_journal(path, fs);
    REQUIRE(o.journal->append("durable-1") == errc::ok);
    REQUIRE(o.journal->append("durable-2") == errc::ok);
    REQUIRE(o.journal->sync() == errc::ok);
    REQUIRE(o.journal->append(std::string(5000, 'u')) == errc::ok); // never synced
    fs.power_cut(mode);
  }
  auto o = open_journal(path);
  REQUIRE(o.replayed.size() >= 2);
  CHECK(o.replayed[0] == "durable-1");
  CHECK(o.replayed[1] == "durable-2");
  CHECK(o.replayed.size() <= 3);
}

TEST_CASE("after a failed journal fsync every later append, sync and reset is refused",
          "[offsets][wal][fsyncgate]") {
  temp_dir tmp;
  fault_fs fs(3);
  auto o = open_journal(tmp / "j", fs);
  REQUIRE(o.journal->append("a") == errc::ok);
  fs.fail_nth_sync(1);
  CHECK(o.journal->sync() == errc::io_error);
  CHECK(o.journal->failed());
  auto syncs = fs.sync_count();
  CHECK(o.journal->append("b") == errc::sticky_failure);
  CHECK(o.journal->sync() == errc::sticky_failure);
  CHECK(o.journal->reset() == errc::sticky_failure);
  CHECK(fs.sync_count() == syncs);
}

TEST_CASE("an append that hits a full disk is cut back off and the next one follows",
          "[offsets][wal][hostile]") {
  temp_dir tmp;
  fault_fs fs(4);
  {
    auto o = open_journal(tmp / "j", fs);
    REQUIRE(o.journal->append("before") == errc::ok);
    auto size = o.journal->size();
    fs.set_disk_full(true);
    CHECK(o.journal->append(std::string(4000, 'f')) == errc::no_space);
    CHECK(o.journal->size() == size);
    CHECK(test::file_size(tmp / "j") == size); // the half-written record is gone
    CHECK_FALSE(o.journal->failed());
    fs.set_disk_full(false);
    REQUIRE(o.journal->append("after") == errc::ok);
    REQUIRE(o.journal->sync() == errc::ok);
  }
  auto o = open_journal(tmp / "j");
  CHECK(o.replayed == std::vector<std::string>{"before", "after"});
  CHECK(o.report.dropped_bytes == 0);
}

TEST_CASE("reset empties the journal durably", "[offsets][wal]") {
  temp_dir tmp;
  auto path = tmp / "j";
  {
    auto o = open_journal(path);
    REQUIRE(o.journal->append("old") == errc::ok);
    REQUIRE(o.journal->sync() == errc::ok);
    REQUIRE(o.journal->reset() == errc::ok);
    CHECK(o.journal->size() == offset_journal::header_size);
    REQUIRE(o.journal->append("new") == errc::ok);
    REQUIRE(o.journal->sync() == errc::ok);
  }
  CHECK(open_journal(path).replayed == std::vector<std::string>{"new"});
}
