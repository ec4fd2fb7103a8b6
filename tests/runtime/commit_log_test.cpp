#include "runtime/commit_log.hpp"

#include "runtime/fault_fs.hpp"

#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

using namespace holdfast;
using holdfast::test::temp_dir;
using record::decode_status;

namespace {

// Records of this body size are 324 bytes, so a 4096-byte segment holds 12 of them.
constexpr size_t body_size = 250;
constexpr uint64_t small_segment = 4096;

std::string make_record(uint64_t offset, size_t i, size_t body = body_size) {
  return test::encoded_record(offset, i, body); // fixed-width ids: equal bodies, equal sizes
}

/// A commit log under a temp dir plus what the test wrote into it.
struct log_under_test {
  temp_dir tmp;
  std::string dir = tmp / "commitlog";
  uint64_t segment_size = small_segment;
  std::unique_ptr<commit_log> log;
  recovery_report report;
  std::vector<uint64_t> seen; // commit-log offsets the recovery visitor was shown
  std::vector<uint64_t> offsets;
  std::vector<std::string> records;

  explicit log_under_test(uint64_t seg = small_segment) : segment_size(seg) {
  }

  errc open(bool clean, uint64_t scan_from = 0, file_system& fs = posix_fs()) {
    log.reset();
    seen.clear();
    auto visit = [this](const record::view& v) { seen.push_back(v.f.commit_log_offset); };
    return commit_log::open(fs, {dir, segment_size}, clean, scan_from, visit, log, report);
  }

  void append(size_t n, size_t body = body_size) {
    for (size_t k = 0; k < n; ++k) {
      auto off = log->write_offset();
      auto rec = make_record(off, records.size(), body);
      REQUIRE(log->append(rec) == errc::ok);
      offsets.push_back(off);
      records.push_back(rec);
    }
  }

  /// Offsets of the first `n` records written.
  std::vector<uint64_t> first(size_t n) const {
    return {offsets.begin(), offsets.begin() + static_cast<std::ptrdiff_t>(n)};
  }

  std::string path(uint64_t base) const {
    return dir + "/" + segment_name(base);
  }

  /// Names in the log directory, sorted.
  std::vector<std::string> files() const {
    std::vector<std::string> out;
    for (auto& e : std::filesystem::directory_iterator(dir))
      out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }

  /// Bases of the segment files, from their names.
  std::vector<uint64_t> segment_bases() const {
    std::vector<uint64_t> out;
    for (auto& name : files())
      if (name.size() == 20 && name.find_first_not_of("0123456789") == std::string::npos)
        out.push_back(std::stoull(name));
    return out;
  }
};

} // namespace

TEST_CASE("segment names are the base offset in twenty digits", "[wal]") {
  CHECK(segment_name(0) == "00000000000000000000");
  CHECK(segment_name(4096) == "00000000000000004096");
  CHECK(segment_name(1073741824) == "00000000001073741824");
  CHECK(segment_name(UINT64_MAX) == "18446744073709551615");
}

TEST_CASE("records appended to the commit log read back byte for byte", "[wal]") {
  log_under_test t(1 << 20);
  REQUIRE(t.open(false) == errc::ok);
  CHECK(t.log->write_offset() == 0);
  CHECK(t.log->start_offset() == 0);
  t.append(20);
  CHECK(t.log->write_offset() == 20 * t.records[0].size());
  for (size_t i = 0; i < t.records.size(); ++i) {
    std::string got;
    REQUIRE(t.log->read(t.offsets[i], t.records[i].size(), got) == errc::ok);
    CHECK(got == t.records[i]);
  }
  std::string got;
  CHECK(t.log->read(t.log->write_offset() - 10, 11, got) == errc::out_of_range);
  CHECK(t.log->read(t.log->write_offset(), 1, got) == errc::out_of_range);
}

TEST_CASE("the commit log rolls to a new segment named by its base offset", "[wal]") {
  log_under_test t;
  REQUIRE(t.open(false) == errc::ok);
  t.append(40);
  auto bases = t.segment_bases();
  REQUIRE(bases.size() == 4);
  CHECK(bases[0] == 0);
  // Segments hold whole records: each base is the offset of some record.
  uint64_t total = 0;
  for (size_t s = 0; s < bases.size(); ++s) {
    CAPTURE(s);
    CHECK(std::count(t.offsets.begin(), t.offsets.end(), bases[s]) == 1);
    CHECK(bases[s] == total);
    auto size = test::file_size(t.path(bases[s]));
    CHECK(size <= small_segment);
    CHECK(size % t.records[0].size() == 0);
    total += size;
  }
  CHECK(total == t.log->write_offset());
  CHECK(bases[1] == 12 * t.records[0].size());
  // A record spanning the roll is readable from the new segment.
  std::string got;
  REQUIRE(t.log->read(t.offsets[12], t.records[12].size(), got) == errc::ok);
  CHECK(got == t.records[12]);
}

TEST_CASE("a record larger than the segment size gets a segment of its own", "[wal]") {
  log_under_test t;
  REQUIRE(t.open(false) == errc::ok);
  t.append(1);
  t.append(1, 2 * small_segment);
  t.append(1);
  auto bases = t.segment_bases();
  REQUIRE(bases.size() == 3);
  CHECK(bases == std::vector<uint64_t>{t.offsets[0], t.offsets[1], t.offsets[2]});
  std::string got;
  REQUIRE(t.log->read(t.offsets[1], t.records[1].size(), got) == errc::ok);
  CHECK(got == t.records[1]);
}

TEST_CASE("sync advances the flushed offset to the write offset", "[wal]") {
  log_under_test t;
  REQUIRE(t.open(false) == errc::ok);
  CHECK(t.log->flushed_offset() == 0);
  auto n = GENERATE(as<size_t>{}, 1, 30); // within one segment, and across rolls
  CAPTURE(n);
  t.append(n);
  CHECK(t.log->flushed_offset() == 0);
  auto syncs = t.log->sync_count();
  REQUIRE(t.log->sync() == errc::ok);
  CHECK(t.log->flushed_offset() == t.log->write_offset());
  CHECK(t.log->sync_count() == syncs + 1);
  // Nothing new: succeeds without touching the disk.
  REQUIRE(t.log->sync() == errc::ok);
  CHECK(t.log->sync_count() == syncs + 1);
  t.append(1);
  CHECK(t.log->flushed_offset() == t.offsets.back());
  REQUIRE(t.log->sync() == errc::ok);
  CHECK(t.log->flushed_offset() == t.log->write_offset());
}

TEST_CASE("a clean reopen keeps every record without scanning", "[wal][recovery]") {
  log_under_test t;
  REQUIRE(t.open(false) == errc::ok);
  t.append(30);
  REQUIRE(t.log->sync() == errc::ok);
  auto end = t.log->write_offset();
  REQUIRE(t.open(true, end) == errc::ok);
  CHECK(t.report.clean);
  CHECK(t.report.scanned_records == 0);
  CHECK(t.seen.empty());
  CHECK(t.report.end_offset == end);
  CHECK(t.report.truncated_bytes == 0);
  CHECK(t.report.moved_aside.empty());
  CHECK(t.log->write_offset() == end);
  CHECK(t.log->flushed_offset() == end);
  for (size_t i = 0; i < t.records.size(); ++i) {
    std::string got;
    REQUIRE(t.log->read(t.offsets[i], t.records[i].size(), got) == errc::ok);
    CHECK(got == t.records[i]);
  }
  // Appends continue where the log ended.
  t.append(1);
  CHECK(t.offsets.back() == end);
}

TEST_CASE("an unclean reopen shows the visitor every record from the scan start",
          "[wal][recovery]") {
  log_under_test t;
  REQUIRE(t.open(false) == errc::ok);
  t.append(30);
  REQUIRE(t.log->sync() == errc::ok);
  auto end = t.log->write_offset();
  auto from = GENERATE(as<size_t>{}, 0, 5, 12, 29);
  CAPTURE(from);
  REQUIRE(t.open(false, t.offsets[from]) == errc::ok);
  CHECK_FALSE(t.report.clean);
  CHECK(t.report.scanned_from == t.offsets[from]);
  CHECK(t.report.scanned_records == 30 - from);
  CHECK(t.seen == std::vector<uint64_t>(t.offsets.begin() + static_cast<std::ptrdiff_t>(from),
                                        t.offsets.end()));
  CHECK(t.report.end_offset == end);
  CHECK(t.report.truncated_bytes == 0);
  CHECK(t.report.stop_reason == decode_status::ok);
  CHECK(t.log->write_offset() == end);
}

TEST_CASE("an unclean reopen cuts a torn tail off the last segment", "[wal][recovery]") {
  struct variant {
    const char* what;
    decode_status reason;
  };
  auto var = GENERATE(variant{"a few garbage bytes", decode_status::torn},
                      variant{"the first half of a record", decode_status::torn},
                      variant{"a record header without its payload", decode_status::torn},
                      variant{"a block of zeros", decode_status::zero_tail});
  CAPTURE(var.what);
  auto segments = GENERATE(1, 3);
  CAPTURE(segments);
  log_under_test t;
  REQUIRE(t.open(false) == errc::ok);
  t.append(segments == 1 ? 5 : 30);
  REQUIRE(t.log->sync() == errc::ok);
  auto good_end = t.log->write_offset();
  auto last_base = t.segment_bases().back();
  t.log.reset();

  std::string tail;
  auto next = make_record(good_end, 99);
  if (var.reason == decode_status::zero_tail)
    tail.assign(1000, '\0');
  else if (std::string(var.what) == "a few garbage bytes")
    tail = "\x01garb";
  else if (std::string(var.what) == "the first half of a record")
    tail = next.substr(0, next.size() / 2);
  else
    tail = next.substr(0, record::header_size);
  test::append_raw(t.path(last_base), tail);

  REQUIRE(t.open(false) == errc::ok);
  CHECK(t.report.stop_reason == var.reason);
  CHECK(t.report.truncated_bytes == tail.size());
  CHECK(t.report.end_offset == good_end);
  CHECK(t.report.moved_aside.empty()); // a torn tail is debris, not evidence
  CHECK(t.seen == t.offsets);
  CHECK(t.log->write_offset() == good_end);
  CHECK(test::file_size(t.path(last_base)) == good_end - last_base);
  // The next record lands right after the last good one and survives another recovery.
  t.append(1);
  REQUIRE(t.log->sync() == errc::ok);
  REQUIRE(t.open(false) == errc::ok);
  CHECK(t.seen == t.offsets);
  CHECK(t.report.truncated_bytes == 0);
}

TEST_CASE("a corrupt record in the last segment cuts the log there and keeps the rest aside",
          "[wal][recovery]") {
  struct variant {
    const char* what;
    decode_status reason;
  };
  auto var = GENERATE(variant{"a flipped body byte", decode_status::bad_crc},
                      variant{"a length field of all ones", decode_status::bad_length},
                      variant{"a record with the wrong offset", decode_status::bad_length});
  CAPTURE(var.what);
  log_under_test t;
  REQUIRE(t.open(false) == errc::ok);
  t.append(30); // segments at records 0, 12 and 24
  REQUIRE(t.log->sync() == errc::ok);
  auto end = t.log->write_offset();
  t.log.reset();

  const size_t bad = 27; // in the middle of the last segment
  auto base = t.offsets[24];
  auto pos = t.offsets[bad] - base;
  auto seg = test::slurp(t.path(base));
  if (var.reason == decode_status::bad_crc) {
    seg[pos + 100] = static_cast<char>(seg[pos + 100] ^ 0x55);
  } else if (std::string(var.what) == "a length field of all ones") {
    seg.replace(pos + 4, 4, "\xff\xff\xff\xff");
  } else {
    // A well-formed record that claims to live somewhere else (copied from another offset).
    auto stray = make_record(t.offsets[bad] + 1, bad);
    seg.replace(pos, stray.size(), stray);
  }
  test::spit(t.path(base), seg);

  REQUIRE(t.open(false) == errc::ok);
  CHECK(t.report.stop_reason == var.reason);
  CHECK(t.seen == t.first(bad));
  CHECK(t.report.end_offset == t.offsets[bad]);
  CHECK(t.report.truncated_bytes == end - t.offsets[bad]);
  CHECK(t.log->write_offset() == t.offsets[bad]);
  CHECK(test::file_size(t.path(base)) == pos);
  // The dropped bytes are kept for an operator, under a name that is not a segment.
  auto aside = t.path(base) + "." + std::to_string(pos) + ".corrupt";
  REQUIRE(t.report.moved_aside == std::vector<std::string>{aside});
  CHECK(test::slurp(aside) == seg.substr(pos));
  // Earlier segments are untouched.
  CHECK(t.segment_bases() == std::vector<uint64_t>{0, t.offsets[12], base});
  std::string got;
  REQUIRE(t.log->read(t.offsets[5], t.records[5].size(), got) == errc::ok);
  CHECK(got == t.records[5]);
  // A second recovery finds nothing more to do and keeps the .corrupt file.
  REQUIRE(t.open(false) == errc::ok);
  CHECK(t.report.truncated_bytes == 0);
  CHECK(t.report.moved_aside.empty());
  CHECK(t.seen == t.first(bad));
  CHECK(std::filesystem::exists(aside));
}

TEST_CASE("a later segment that is garbage from its first byte is moved aside whole",
          "[wal][recovery]") {
  log_under_test t;
  REQUIRE(t.open(false) == errc::ok);
  t.append(40); // segments at records 0, 12, 24 and 36
  REQUIRE(t.log->sync() == errc::ok);
  t.log.reset();
  auto bases = t.segment_bases();
  REQUIRE(bases.size() == 4);
  auto which = GENERATE(as<size_t>{}, 1, 3); // a middle segment, the last segment
  CAPTURE(which);
  auto size = test::file_size(t.path(bases[which]));
  auto fill = GENERATE(std::string(1, 'G'), std::string(1, '\0'));
  std::string garbage(size, fill[0]);
  test::spit(t.path(bases[which]), garbage);

  REQUIRE(t.open(false) == errc::ok);
  std::vector<std::string> expect_aside;
  for (size_t s = which; s < bases.size(); ++s)
    expect_aside.push_back(t.path(bases[s]) + ".corrupt");
  CHECK(t.report.moved_aside == expect_aside);
  CHECK(t.report.end_offset == bases[which]);
  CHECK(t.log->write_offset() == bases[which]);
  CHECK(t.seen == t.first(12 * which));
  // Never deleted: the garbage is still there under its new name, and so are later segments.
  CHECK(test::slurp(expect_aside.front()) == garbage);
  for (size_t s = which + 1; s < bases.size(); ++s) {
    CHECK_FALSE(std::filesystem::exists(t.path(bases[s])));
    CHECK(test::file_size(t.path(bases[s]) + ".corrupt") == test::file_size(expect_aside[s - which]));
  }
  CHECK_FALSE(std::filesystem::exists(t.path(bases[which])));
  CHECK(t.segment_bases() == std::vector<uint64_t>(bases.begin(),
                                                   bases.begin() + static_cast<std::ptrdiff_t>(which)));
  // Earlier segments are intact and the log carries on from their end.
  std::string got;
  REQUIRE(t.log->read(t.offsets[0], t.records[0].size(), got) == errc::ok);
  CHECK(got == t.records[0]);
  auto next = make_record(t.log->write_offset(), 0);
  REQUIRE(t.log->append(next) == errc::ok);
  REQUIRE(t.log->sync() == errc::ok);
  REQUIRE(t.open(false) == errc::ok);
  CHECK(t.report.moved_aside.empty());
  CHECK(t.seen.size() == 12 * which + 1);
}

TEST_CASE("a gap between segments moves the later segments aside", "[wal][recovery]") {
  auto clean = GENERATE(false, true);
  CAPTURE(clean);
  log_under_test t;
  REQUIRE(t.open(false) == errc::ok);
  t.append(40);
  REQUIRE(t.log->sync() == errc::ok);
  t.log.reset();
  auto bases = t.segment_bases();
  REQUIRE(bases.size() == 4);
  // Lose the second segment: the third no longer continues the first.
  std::filesystem::remove(t.path(bases[1]));

  REQUIRE(t.open(clean) == errc::ok);
  CHECK(t.report.moved_aside
        == std::vector<std::string>{t.path(bases[2]) + ".corrupt", t.path(bases[3]) + ".corrupt"});
  CHECK(std::filesystem::exists(t.path(bases[2]) + ".corrupt"));
  CHECK(std::filesystem::exists(t.path(bases[3]) + ".corrupt"));
  CHECK(t.segment_bases() == std::vector<uint64_t>{0});
  CHECK(t.report.end_offset == bases[1]);
  CHECK(t.log->write_offset() == bases[1]);
  if (!clean)
    CHECK(t.seen == t.first(12));
}

TEST_CASE("after a failed sync every later append and sync report a sticky failure",
          "[wal][fault]") {
  log_under_test t;
  fault_fs fs(7);
  REQUIRE(t.open(false, 0, fs) == errc::ok);
  t.append(3);
  REQUIRE(t.log->sync() == errc::ok);
  t.append(2);
  auto written = t.log->write_offset();
  auto flushed = t.log->flushed_offset();
  fs.fail_nth_sync(1);
  CHECK(t.log->sync() == errc::io_error);
  CHECK(t.log->failed());
  CHECK(t.log->flushed_offset() == flushed);

  for (int i = 0; i < 3; ++i) {
    CHECK(t.log->append(make_record(written, 50)) == errc::sticky_failure);
    CHECK(t.log->sync() == errc::sticky_failure);
  }
  CHECK(t.log->write_offset() == written);
  CHECK(t.log->flushed_offset() == flushed);
  // The fault_fs would let a sync through now; the log still refuses.
  std::unique_ptr<file> probe;
  REQUIRE(fs.open(t.tmp / "probe", open_mode::read_write, probe) == errc::ok);
  CHECK(probe->sync() == errc::ok);
  CHECK(t.log->sync() == errc::sticky_failure);

  // A restart is what clears it.
  REQUIRE(t.open(false) == errc::ok);
  CHECK_FALSE(t.log->failed());
  CHECK(t.seen == t.offsets);
  t.append(1);
  CHECK(t.log->sync() == errc::ok);
}

TEST_CASE("truncate_to cuts the log back to a record boundary", "[wal]") {
  log_under_test t;
  REQUIRE(t.open(false) == errc::ok);
  t.append(40);
  REQUIRE(t.log->sync() == errc::ok);
  auto keep = GENERATE(as<size_t>{}, 39, 30, 12, 5, 0);
  CAPTURE(keep);
  auto cut = t.offsets[keep];
  CHECK(t.log->truncate_to(t.log->write_offset() + 1) == errc::out_of_range);
  REQUIRE(t.log->truncate_to(t.log->write_offset()) == errc::ok);
  REQUIRE(t.log->truncate_to(cut) == errc::ok);
  CHECK(t.log->write_offset() == cut);
  CHECK(t.log->flushed_offset() == cut);
  std::string got;
  CHECK(t.log->read(cut, t.records[keep].size(), got) == errc::out_of_range);
  if (keep > 0) {
    REQUIRE(t.log->read(t.offsets[keep - 1], t.records[keep - 1].size(), got) == errc::ok);
    CHECK(got == t.records[keep - 1]);
  }
  // Segments past the cut are renamed, not deleted.
  for (auto base : t.segment_bases())
    CHECK(base <= cut);
  // Appends continue at the cut, and a recovery sees the kept records then the new one.
  t.offsets.resize(keep);
  t.records.resize(keep);
  t.append(1);
  CHECK(t.offsets.back() == cut);
  REQUIRE(t.log->sync() == errc::ok);
  REQUIRE(t.open(false) == errc::ok);
  CHECK(t.seen == t.offsets);
  CHECK(t.report.moved_aside.empty());
}

TEST_CASE("a commit log refuses a segment size smaller than a record header", "[wal]") {
  temp_dir tmp;
  std::unique_ptr<commit_log> log;
  recovery_report report;
  CHECK(commit_log::open(posix_fs(), {tmp / "log", 10}, false, 0, {}, log, report)
        == errc::invalid_argument);
  CHECK(log == nullptr);
}

TEST_CASE("a segment rolled during a directory sync is itself made durable",
          "[wal][fsyncgate]") {
  log_under_test t;
  fault_fs fs(3);
  REQUIRE(t.open(false, 0, fs) == errc::ok);
  t.append(13); // 12 records fill a segment: the 13th rolls segment 1, so the next sync syncs
                // the directory
  bool rolled = false;
  fs.set_dir_sync_hook([&](const std::string&) {
    if (rolled)
      return;
    rolled = true;
    t.append(12); // the writer rolls segment 2 while the flusher syncs the directory
  });
  REQUIRE(t.log->sync() == errc::ok);
  REQUIRE(rolled);
  fs.set_dir_sync_hook({});
  REQUIRE(t.segment_bases().size() == 3);
  REQUIRE(t.log->sync() == errc::ok); // covers segment 2's records: its name must be durable too
  CHECK(t.log->flushed_offset() == t.log->write_offset());
  fs.power_cut(tear_mode::drop);
  REQUIRE(t.open(false) == errc::ok);
  CHECK(t.seen == t.offsets);
}

TEST_CASE("a failed fsync during a truncation of the commit log is sticky", "[wal][fsyncgate]") {
  log_under_test t;
  fault_fs fs(5);
  REQUIRE(t.open(false, 0, fs) == errc::ok);
  t.append(30);
  REQUIRE(t.log->sync() == errc::ok);
  auto written = t.log->write_offset();
  fs.fail_nth_sync(1);
  CHECK(t.log->truncate_to(t.offsets[20]) == errc::io_error);
  CHECK(t.log->failed());
  // Whether the cut reached the disk is unknown: nothing may be written on top of it.
  CHECK(t.log->append(make_record(t.offsets[20], 99)) == errc::sticky_failure);
  CHECK(t.log->append(make_record(written, 99)) == errc::sticky_failure);
  CHECK(t.log->sync() == errc::sticky_failure);
  CHECK(t.log->truncate_to(t.offsets[10]) == errc::sticky_failure);
  // A restart recovers whatever the disk holds: some prefix of the records, at least the kept.
  fs.power_cut(tear_mode::drop);
  REQUIRE(t.open(false) == errc::ok);
  REQUIRE(t.seen.size() >= 20);
  CHECK(t.seen == t.first(t.seen.size()));
}

TEST_CASE("a reader of the commit log walks the records of one segment from any record",
          "[wal][reader]") {
  log_under_test t;
  REQUIRE(t.open(false) == errc::ok);
  t.append(30); // segments of 12 records: [0, 12), [12, 24), [24, 30)
  auto k = GENERATE(as<size_t>{}, 0, 5, 12, 23, 24, 29);
  CAPTURE(k);
  auto r = t.log->reader(t.offsets[k], {100, true});
  std::vector<uint64_t> seen;
  record::view v;
  while (r.next(v))
    seen.push_back(v.f.commit_log_offset);
  auto seg_end = std::min<size_t>((k / 12 + 1) * 12, 30);
  CHECK(seen == std::vector<uint64_t>(t.offsets.begin() + static_cast<std::ptrdiff_t>(k),
                                      t.offsets.begin() + static_cast<std::ptrdiff_t>(seg_end)));
  CHECK(r.reason() == record_reader::stop_reason::end);

  auto past = t.log->reader(t.log->write_offset() + 1, {});
  CHECK_FALSE(past.next(v));
  CHECK(past.error() == errc::out_of_range);
  auto at_end = t.log->reader(t.log->write_offset(), {});
  CHECK_FALSE(at_end.next(v));
  CHECK(at_end.reason() == record_reader::stop_reason::end);
}
