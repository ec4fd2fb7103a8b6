#include "runtime/offset_store.hpp"

#include "runtime/crc32c.hpp"
#include "runtime/fault_fs.hpp"

#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

using namespace holdfast;
using holdfast::test::temp_dir;

namespace Catch {
template <>
struct StringMaker<holdfast::tear_mode> {
  static std::string convert(holdfast::tear_mode x) {
    switch (x) {
      case holdfast::tear_mode::drop: return "drop";
      case holdfast::tear_mode::random_prefix: return "random_prefix";
      case holdfast::tear_mode::zero_fill: return "zero_fill";
    }
    return "?";
  }
};
} // namespace Catch

namespace {

std::unique_ptr<offset_store> open_offsets(const std::string& dir, file_system& fs = posix_fs()) {
  std::unique_ptr<offset_store> st;
  REQUIRE(offset_store::open(fs, dir, st) == errc::ok);
  REQUIRE(st != nullptr);
  return st;
}

/// A store with a few offsets of two groups, compacted: all of it in the snapshot file.
void write_sample(const std::string& dir) {
  auto st = open_offsets(dir);
  REQUIRE(st->commit("orders", "OrderTopic", 0, 42) == errc::ok);
  REQUIRE(st->commit("orders", "OrderTopic", 3, 7) == errc::ok);
  REQUIRE(st->commit("billing", "%RETRY%billing", 1, 1ull << 40) == errc::ok);
  REQUIRE(st->compact() == errc::ok);
}

void put_le(std::string& out, uint64_t x, int bytes) {
  for (int i = 0; i < bytes; ++i)
    out.push_back(static_cast<char>((x >> (8 * i)) & 0xff));
}

/// `body` followed by its masked CRC-32C: a file whose checksum is right whatever it says.
std::string sealed(std::string body) {
  put_le(body, crc32c::mask(crc32c::value(body.data(), body.size())), 4);
  return body;
}

/// Header of the format in runtime/offset_store.cpp with `count` announced entries.
std::string header(uint32_t count) {
  std::string out = "HFOFFS01";
  put_le(out, count, 4);
  return out;
}

std::string encoded_entry(const std::string& group, const std::string& topic, uint16_t queue,
                          uint64_t offset) {
  std::string out;
  put_le(out, group.size(), 2);
  out += group;
  put_le(out, topic.size(), 2);
  out += topic;
  put_le(out, queue, 2);
  put_le(out, offset, 8);
  return out;
}

/// Checks what a store must look like after opening over a corrupt file holding `bytes`.
void check_moved_aside(const temp_dir& tmp, const std::string& bytes) {
  auto st = open_offsets(tmp.path());
  CHECK(st->size() == 0);
  CHECK_FALSE(posix_fs().exists(tmp / "consumer_offsets"));
  REQUIRE(posix_fs().exists(tmp / "consumer_offsets.corrupt"));
  CHECK(test::slurp(tmp / "consumer_offsets.corrupt") == bytes);
}

} // namespace

TEST_CASE("committed offsets are read back after reopening the store", "[offsets]") {
  temp_dir tmp;
  auto dir = tmp / "config/offsets"; // missing directories are created
  {
    auto st = open_offsets(dir);
    CHECK(st->size() == 0);
    CHECK(st->get("orders", "OrderTopic", 0) == std::nullopt);
    REQUIRE(st->commit("orders", "OrderTopic", 0, 42) == errc::ok);
    REQUIRE(st->commit("orders", "OrderTopic", 65535, 0) == errc::ok);
    REQUIRE(st->commit("billing", "OrderTopic", 0, 1ull << 40) == errc::ok);
    CHECK(st->get("orders", "OrderTopic", 0) == 42u);
  }
  auto st = open_offsets(dir);
  CHECK(st->size() == 3);
  CHECK(st->get("orders", "OrderTopic", 0) == 42u);
  CHECK(st->get("orders", "OrderTopic", 65535) == 0u);
  CHECK(st->get("billing", "OrderTopic", 0) == (1ull << 40));
  // Never committed: a different queue, topic or group.
  CHECK(st->get("orders", "OrderTopic", 1) == std::nullopt);
  CHECK(st->get("orders", "OtherTopic", 0) == std::nullopt);
  CHECK(st->get("nobody", "OrderTopic", 0) == std::nullopt);
}

TEST_CASE("an offset only moves forward unless a rewind is allowed", "[offsets]") {
  temp_dir tmp;
  auto st = open_offsets(tmp.path());
  REQUIRE(st->commit("g", "T", 0, 10) == errc::ok);
  auto before = test::slurp(tmp / "consumer_offsets.journal");

  CHECK(st->commit("g", "T", 0, 9) == errc::out_of_range);
  CHECK(st->get("g", "T", 0) == 10u);
  CHECK(test::slurp(tmp / "consumer_offsets.journal") == before);

  // Re-committing the same offset is fine (consumers commit periodically without progress),
  // and another queue of the same group is independent.
  CHECK(st->commit("g", "T", 0, 10) == errc::ok);
  CHECK(st->commit("g", "T", 1, 3) == errc::ok);
  CHECK(st->commit("g", "T", 0, 12) == errc::ok);
  CHECK(st->get("g", "T", 0) == 12u);

  // An operator reset.
  CHECK(st->commit("g", "T", 0, 2, true) == errc::ok);
  CHECK(st->get("g", "T", 0) == 2u);
  st.reset();
  CHECK(open_offsets(tmp.path())->get("g", "T", 0) == 2u);
}

TEST_CASE("invalid group names topic names and queue ids are refused with nothing written",
          "[offsets]") {
  temp_dir tmp;
  fault_fs fs(1);
  auto st = open_offsets(tmp.path(), fs);
  auto check_refused = [&](const std::string& group, const std::string& topic, int32_t queue) {
    CAPTURE(group, topic, queue);
    auto syncs = fs.sync_count();
    CHECK(st->commit(group, topic, queue, 1) == errc::invalid_argument);
    CHECK(st->commit_all({{"good", "Good", 0, 1}, {group, topic, queue, 1}})
          == errc::invalid_argument);
    CHECK(fs.sync_count() == syncs);
    CHECK_FALSE(posix_fs().exists(tmp / "consumer_offsets"));
    CHECK_FALSE(posix_fs().exists(tmp / "consumer_offsets.tmp"));
    CHECK(test::slurp(tmp / "consumer_offsets.journal") == "HFOJRN01");
    CHECK(st->size() == 0);
  };
  for (std::string g : {std::string(""), std::string("a/b"), std::string("../x"),
                        std::string("a.b"), std::string("a b"), std::string(200, 'g'),
                        std::string(128, 'g')})
    check_refused(g, "Topic", 0);
  for (std::string t : {std::string(""), std::string("a/b"), std::string("../x"),
                        std::string(200, 't')})
    check_refused("group", t, 0);
  for (int32_t q : {-1, 65536, INT32_MIN, INT32_MAX})
    check_refused("group", "Topic", q);

  // The limits themselves are accepted.
  CHECK(st->commit(std::string(127, 'g'), std::string(127, 't'), 65535, 1) == errc::ok);
  CHECK(st->commit("%RETRY%g-1_x", "%DLQ%g-1_x", 0, 1) == errc::ok);
}

TEST_CASE("group names use the topic alphabet and can never be a path", "[offsets]") {
  CHECK(valid_group_name("please_rename_unique_group_name"));
  CHECK(valid_group_name("CID-orders%1"));
  CHECK(valid_group_name(std::string(127, 'a')));
  CHECK_FALSE(valid_group_name(""));
  CHECK_FALSE(valid_group_name(std::string(128, 'a')));
  CHECK_FALSE(valid_group_name("a/b"));
  CHECK_FALSE(valid_group_name(".."));
  CHECK_FALSE(valid_group_name("../x"));
  CHECK_FALSE(valid_group_name(std::string("a\0b", 3)));
}

TEST_CASE("a flipped byte anywhere in the offsets file makes it corrupt", "[offsets]") {
  temp_dir sample;
  write_sample(sample.path());
  auto good = test::slurp(sample / "consumer_offsets");
  REQUIRE(good.size() > 16);
  for (size_t pos = 0; pos < good.size(); ++pos) {
    CAPTURE(pos);
    temp_dir tmp;
    auto bad = good;
    bad[pos] = static_cast<char>(bad[pos] ^ 0x40);
    test::spit(tmp / "consumer_offsets", bad);
    check_moved_aside(tmp, bad);
  }
}

TEST_CASE("a truncated or extended offsets file is corrupt", "[offsets]") {
  temp_dir sample;
  write_sample(sample.path());
  auto good = test::slurp(sample / "consumer_offsets");
  for (size_t len = 0; len < good.size(); ++len) {
    CAPTURE(len);
    temp_dir tmp;
    test::spit(tmp / "consumer_offsets", good.substr(0, len));
    check_moved_aside(tmp, good.substr(0, len));
  }
  temp_dir tmp;
  test::spit(tmp / "consumer_offsets", good + "x");
  check_moved_aside(tmp, good + "x");
}

TEST_CASE("a file with a valid checksum but impossible content is corrupt", "[offsets]") {
  std::string runs_past = header(1);
  put_le(runs_past, 0xffff, 2); // group length far past the end
  runs_past += "g";
  auto wrong_magic = sealed("HFOFFS02" + header(0).substr(8));
  auto too_many = sealed(header(2) + encoded_entry("g", "T", 0, 1));
  auto too_few = sealed(header(0) + encoded_entry("g", "T", 0, 1));
  auto bad_group = sealed(header(1) + encoded_entry("a/b", "T", 0, 1));
  auto bad_topic = sealed(header(1) + encoded_entry("g", "", 0, 1));
  auto duplicate = sealed(header(2) + encoded_entry("g", "T", 0, 1) + encoded_entry("g", "T", 0, 2));
  auto bytes = GENERATE_COPY(sealed(runs_past), wrong_magic, too_many, too_few, bad_group,
                             bad_topic, duplicate);
  temp_dir tmp;
  test::spit(tmp / "consumer_offsets", bytes);
  check_moved_aside(tmp, bytes);
}

TEST_CASE("a hand-built file in the documented format is read", "[offsets]") {
  temp_dir tmp;
  test::spit(tmp / "consumer_offsets",
             sealed(header(2) + encoded_entry("g", "T", 3, 99) + encoded_entry("h", "U", 0, 5)));
  auto st = open_offsets(tmp.path());
  CHECK(st->size() == 2);
  CHECK(st->get("g", "T", 3) == 99u);
  CHECK(st->get("h", "U", 0) == 5u);
}

TEST_CASE("the store keeps working after a corrupt file was moved aside", "[offsets]") {
  temp_dir tmp;
  test::spit(tmp / "consumer_offsets", "garbage");
  {
    auto st = open_offsets(tmp.path());
    CHECK(st->commit("g", "T", 0, 5) == errc::ok);
  }
  CHECK(open_offsets(tmp.path())->get("g", "T", 0) == 5u);
  CHECK(test::slurp(tmp / "consumer_offsets.corrupt") == "garbage");
}

TEST_CASE("a second corrupt file does not overwrite the first one kept aside", "[offsets]") {
  temp_dir tmp;
  test::spit(tmp / "consumer_offsets", "first");
  (void) open_offsets(tmp.path());
  test::spit(tmp / "consumer_offsets", "second");
  (void) open_offsets(tmp.path());
  CHECK(test::slurp(tmp / "consumer_offsets.corrupt") == "first");
  CHECK(test::slurp(tmp / "consumer_offsets.corrupt.1") == "second");
  CHECK_FALSE(posix_fs().exists(tmp / "consumer_offsets"));
}

TEST_CASE("a leftover temp file is ignored on open", "[offsets]") {
  temp_dir tmp;
  write_sample(tmp.path());
  test::spit(tmp / "consumer_offsets.tmp", "half a write that was never renamed");
  auto st = open_offsets(tmp.path());
  CHECK(st->size() == 3);
  CHECK(st->get("orders", "OrderTopic", 0) == 42u);
  CHECK_FALSE(posix_fs().exists(tmp / "consumer_offsets.corrupt"));
  // The next commit simply overwrites the temp file.
  CHECK(st->commit("orders", "OrderTopic", 0, 43) == errc::ok);
  CHECK(open_offsets(tmp.path())->get("orders", "OrderTopic", 0) == 43u);
}

TEST_CASE("a commit that returned ok survives a power cut in every tear mode",
          "[offsets][crash]") {
  auto mode = GENERATE(tear_mode::drop, tear_mode::random_prefix, tear_mode::zero_fill);
  auto seed = GENERATE(range(uint64_t{1}, uint64_t{6}));
  CAPTURE(mode, seed);
  temp_dir tmp;
  auto dir = tmp / "offsets";
  {
    fault_fs fs(seed);
    auto st = open_offsets(dir, fs);
    REQUIRE(st->commit("g", "T", 0, 10) == errc::ok);
    REQUIRE(st->commit_all({{"g", "T", 1, 20}, {"h", "T", 0, 30}}) == errc::ok);
    REQUIRE(st->commit("g", "T", 0, 11) == errc::ok);
    fs.power_cut(mode);
    // After the cut nothing more can be written, and nothing that fails may count.
    CHECK(st->commit("g", "T", 0, 12) != errc::ok);
    CHECK(st->get("g", "T", 0) == 11u);
  }
  auto st = open_offsets(dir);
  CHECK_FALSE(posix_fs().exists(dir + "/consumer_offsets.corrupt"));
  CHECK(st->size() == 3);
  CHECK(st->get("g", "T", 0) == 11u);
  CHECK(st->get("g", "T", 1) == 20u);
  CHECK(st->get("h", "T", 0) == 30u);
}

TEST_CASE("a commit whose sync fails returns an error and leaves the stored offset unchanged",
          "[offsets][crash]") {
  auto what = GENERATE(as<std::string>{}, "commit", "new queue", "commit_all");
  CAPTURE(what);
  temp_dir tmp;
  fault_fs fs(7);
  auto st = open_offsets(tmp.path(), fs);
  REQUIRE(st->commit("g", "T", 0, 10) == errc::ok);

  fs.fail_nth_sync(1);
  if (what == "commit") {
    CHECK(st->commit("g", "T", 0, 20) == errc::io_error);
  } else if (what == "new queue") {
    CHECK(st->commit("g", "T", 5, 1) == errc::io_error);
    CHECK(st->get("g", "T", 5) == std::nullopt);
  } else {
    CHECK(st->commit_all({{"g", "T", 0, 30}, {"h", "T", 0, 1}}) == errc::io_error);
    CHECK(st->get("h", "T", 0) == std::nullopt);
  }
  CHECK(st->get("g", "T", 0) == 10u);
  // The journal record of an unanswered commit may or may not be on disk after a restart
  // (fsyncgate: nobody knows); either way nothing answered is lost.
  auto off = open_offsets(tmp.path())->get("g", "T", 0);
  CHECK((off == 10u || off == 20u || off == 30u));
}

TEST_CASE("after a failed fsync of consumer offsets every later commit is refused",
          "[offsets][fsyncgate]") {
  auto failing = GENERATE(as<std::string>{}, "file", "directory");
  CAPTURE(failing);
  temp_dir tmp;
  fault_fs fs(7);
  auto st = open_offsets(tmp.path(), fs);
  REQUIRE(st->commit("g", "T", 0, 10) == errc::ok);
  if (failing == "file") {
    // The journal's fsync.
    fs.fail_nth_sync(1);
    CHECK(st->commit("g", "T", 0, 20) == errc::io_error);
  } else {
    // The directory fsync of a compaction's rename: which snapshot the name holds is unknown.
    REQUIRE(st->commit("g", "T", 0, 20) == errc::ok);
    fs.fail_nth_dir_sync(1);
    CHECK(st->compact() == errc::io_error);
  }
  CHECK(st->failed());
  // The fault_fs lets every later sync through; the store still refuses: what the failed one
  // covered may be gone, and only a restart that reads the disk can tell.
  auto syncs = fs.sync_count();
  CHECK(st->commit("g", "T", 0, 20) == errc::sticky_failure);
  CHECK(st->commit("g", "T", 0, 10) == errc::sticky_failure);
  CHECK(st->commit("g", "T", 1, 5) == errc::sticky_failure);
  CHECK(st->commit_all({{"g", "T", 0, 30}}) == errc::sticky_failure);
  CHECK(st->merge_max({{"g", "T", 0, 40}}) == errc::sticky_failure);
  CHECK(st->compact() == errc::sticky_failure);
  CHECK(fs.sync_count() == syncs);
  // Memory never claims more than the disk.
  CHECK(st->get("g", "T", 0) == (failing == "file" ? 10u : 20u));
  fs.power_cut(tear_mode::drop);
  auto again = open_offsets(tmp.path());
  CHECK_FALSE(again->failed());
  auto off = again->get("g", "T", 0);
  CHECK((off == 10u || off == 20u));
  CHECK(again->commit("g", "T", 0, 30) == errc::ok);
}

TEST_CASE("a consumer offsets write that hits a full disk is refused but not sticky",
          "[offsets][hostile]") {
  temp_dir tmp;
  fault_fs fs(9);
  auto st = open_offsets(tmp.path(), fs);
  REQUIRE(st->commit("g", "T", 0, 10) == errc::ok);
  fs.set_disk_full(true);
  CHECK(st->commit("g", "T", 0, 20) == errc::no_space);
  CHECK(st->get("g", "T", 0) == 10u);
  CHECK_FALSE(st->failed());
  fs.set_disk_full(false);
  CHECK(st->commit("g", "T", 0, 20) == errc::ok);
  fs.power_cut(tear_mode::drop);
  CHECK(open_offsets(tmp.path())->get("g", "T", 0) == 20u);
}

TEST_CASE("commit_all makes a batch durable with one write", "[offsets]") {
  temp_dir tmp;
  fault_fs fs(3);
  auto st = open_offsets(tmp.path(), fs);
  std::vector<offset_store::entry> batch;
  for (int32_t q = 0; q < 50; ++q) {
    std::string topic = "T";
    topic += std::to_string(q % 5); // not "T" + ...: g++ 12 warns falsely (-Wrestrict)
    batch.push_back({"g", topic, q, uint64_t(100 + q)});
  }
  auto syncs = fs.sync_count();
  REQUIRE(st->commit_all(batch) == errc::ok);
  auto grew = fs.sync_count() - syncs;
  CHECK(grew >= 1);
  CHECK(grew <= 2); // a constant of the atomic write, not one per entry
  fs.power_cut(tear_mode::drop);
  auto again = open_offsets(tmp.path());
  CHECK(again->size() == batch.size());
  for (const auto& e : batch)
    CHECK(again->get(e.group, e.topic, e.queue_id) == e.offset);
}

TEST_CASE("commit_all refuses the whole batch when one entry would move backwards",
          "[offsets]") {
  temp_dir tmp;
  auto st = open_offsets(tmp.path());
  REQUIRE(st->commit("g", "T", 0, 10) == errc::ok);
  auto before = test::slurp(tmp / "consumer_offsets.journal");
  CHECK(st->commit_all({{"g", "T", 1, 5}, {"g", "T", 0, 9}}) == errc::out_of_range);
  // Within one batch a later entry may not undo an earlier one either.
  CHECK(st->commit_all({{"g", "T", 2, 5}, {"g", "T", 2, 4}}) == errc::out_of_range);
  CHECK(st->size() == 1);
  CHECK(st->get("g", "T", 1) == std::nullopt);
  CHECK(test::slurp(tmp / "consumer_offsets.journal") == before);
  CHECK(st->commit_all({}) == errc::ok);
  CHECK(st->commit_all({{"g", "T", 2, 4}, {"g", "T", 2, 5}}) == errc::ok);
  CHECK(st->get("g", "T", 2) == 5u);
}

TEST_CASE("an unchanged commit does not touch the disk", "[offsets]") {
  temp_dir tmp;
  fault_fs fs(5);
  auto st = open_offsets(tmp.path(), fs);
  REQUIRE(st->commit_all({{"g", "T", 0, 10}, {"g", "T", 1, 11}}) == errc::ok);
  auto syncs = fs.sync_count();
  CHECK(st->commit("g", "T", 0, 10) == errc::ok);
  CHECK(st->commit_all({{"g", "T", 0, 10}, {"g", "T", 1, 11}}) == errc::ok);
  CHECK(fs.sync_count() == syncs);
}

TEST_CASE("group_offsets lists exactly the entries of one group in order", "[offsets]") {
  temp_dir tmp;
  auto st = open_offsets(tmp.path());
  REQUIRE(st->commit_all({{"g2", "A", 0, 1},
                          {"g", "B", 1, 2},
                          {"g", "A", 3, 3},
                          {"f", "A", 0, 4},
                          {"g", "A", 0, 5}})
          == errc::ok);
  auto entries = st->group_offsets("g");
  REQUIRE(entries.size() == 3);
  CHECK(entries[0].topic == "A");
  CHECK(entries[0].queue_id == 0);
  CHECK(entries[0].offset == 5u);
  CHECK(entries[1].topic == "A");
  CHECK(entries[1].queue_id == 3);
  CHECK(entries[2].topic == "B");
  CHECK(entries[2].offset == 2u);
  for (const auto& e : entries)
    CHECK(e.group == "g");
  CHECK(st->group_offsets("g2").size() == 1);
  CHECK(st->group_offsets("nobody").empty());
}

TEST_CASE("a slave's copy of the master's offsets only moves offsets forward", "[offsets]") {
  temp_dir tmp;
  auto dir = tmp / "offsets";
  {
    auto st = open_offsets(dir);
    REQUIRE(st->commit("g", "t", 0, 10) == errc::ok);
    REQUIRE(st->commit("g", "t", 1, 50) == errc::ok);
    std::vector<offset_store::entry> from_master{
      {"g", "t", 0, 20}, {"g", "t", 1, 40}, {"h", "t", 0, 7}, {"bad/name", "t", 0, 9}};
    REQUIRE(st->merge_max(from_master) == errc::ok);
    CHECK(st->get("g", "t", 0) == 20u); // master ahead: taken
    CHECK(st->get("g", "t", 1) == 50u); // local ahead: kept
    CHECK(st->get("h", "t", 0) == 7u);  // new: taken
    CHECK(st->size() == 3);             // the invalid one skipped
  }
  auto st = open_offsets(dir);
  auto all = st->all();
  REQUIRE(all.size() == 3);
  CHECK(all[0].group == "g");
  CHECK(all[0].offset == 20u);
  CHECK(all[2].group == "h");
}

TEST_CASE("an offsets file of the previous format opens as the snapshot and keeps every offset "
          "through new commits and a compaction",
          "[offsets][upgrade]") {
  // Before the journal, `consumer_offsets` was the whole store, in exactly the snapshot format:
  // an upgraded broker finds it, creates an empty journal and loses nothing.
  temp_dir tmp;
  auto old_file = sealed(header(3) + encoded_entry("billing", "%RETRY%billing", 1, 1ull << 40)
                         + encoded_entry("orders", "OrderTopic", 0, 42)
                         + encoded_entry("orders", "OrderTopic", 3, 7));
  test::spit(tmp / "consumer_offsets", old_file);
  REQUIRE_FALSE(posix_fs().exists(tmp / "consumer_offsets.journal"));
  {
    auto st = open_offsets(tmp.path());
    CHECK(st->size() == 3);
    CHECK(st->get("orders", "OrderTopic", 0) == 42u);
    CHECK(st->get("orders", "OrderTopic", 3) == 7u);
    CHECK(st->get("billing", "%RETRY%billing", 1) == (1ull << 40));
    CHECK(test::slurp(tmp / "consumer_offsets") == old_file); // not rewritten by the upgrade
    REQUIRE(st->commit("orders", "OrderTopic", 0, 50) == errc::ok);
  }
  {
    auto st = open_offsets(tmp.path());
    CHECK(st->get("orders", "OrderTopic", 0) == 50u);
    CHECK(st->get("orders", "OrderTopic", 3) == 7u);
    REQUIRE(st->compact() == errc::ok);
  }
  auto st = open_offsets(tmp.path());
  CHECK(st->size() == 3);
  CHECK(st->get("orders", "OrderTopic", 0) == 50u);
  CHECK(st->get("billing", "%RETRY%billing", 1) == (1ull << 40));
  CHECK(test::slurp(tmp / "consumer_offsets.journal") == "HFOJRN01");
}

TEST_CASE("staged commits become durable together with one fsync", "[offsets][group-commit]") {
  temp_dir tmp;
  fault_fs fs(11);
  auto st = open_offsets(tmp.path(), fs);
  REQUIRE(st->commit("g", "T", 0, 1) == errc::ok);
  auto syncs = fs.sync_count();
  std::vector<offset_store::entry> applied;
  for (int32_t q = 0; q < 5; ++q)
    REQUIRE(st->stage_commit({{"g", "T", q, uint64_t(10 + q)}}, false, applied) == errc::ok);
  CHECK(st->dirty());
  // Forward only is checked against what is staged, durable or not.
  CHECK(st->stage_commit({{"g", "T", 0, 5}}, false, applied) == errc::out_of_range);
  // Staged is not durable: memory shows the old value until the sync.
  CHECK(st->get("g", "T", 0) == 1u);
  CHECK(st->get("g", "T", 4) == std::nullopt);
  REQUIRE(st->sync() == errc::ok);
  CHECK(fs.sync_count() == syncs + 1);
  CHECK_FALSE(st->dirty());
  CHECK(st->get("g", "T", 0) == 10u);
  CHECK(st->get("g", "T", 4) == 14u);
  fs.power_cut(tear_mode::drop);
  CHECK(open_offsets(tmp.path())->get("g", "T", 4) == 14u);
}

TEST_CASE("staged commits whose fsync fails never become visible and the store turns sticky",
          "[offsets][fsyncgate]") {
  temp_dir tmp;
  fault_fs fs(12);
  auto st = open_offsets(tmp.path(), fs);
  REQUIRE(st->commit("g", "T", 0, 1) == errc::ok);
  std::vector<offset_store::entry> applied;
  REQUIRE(st->stage_commit({{"g", "T", 0, 2}}, false, applied) == errc::ok);
  REQUIRE(st->stage_merge_max({{"h", "T", 0, 3}}, applied) == errc::ok);
  fs.fail_nth_sync(1);
  CHECK(st->sync() == errc::io_error);
  CHECK(st->get("g", "T", 0) == 1u);
  CHECK(st->get("h", "T", 0) == std::nullopt);
  CHECK(st->stage_commit({{"g", "T", 0, 3}}, false, applied) == errc::sticky_failure);
  CHECK(st->sync() == errc::sticky_failure);
}

TEST_CASE("compaction folds the journal into the snapshot and loses nothing", "[offsets]") {
  auto mode = GENERATE(tear_mode::drop, tear_mode::random_prefix, tear_mode::zero_fill);
  CAPTURE(mode);
  temp_dir tmp;
  {
    fault_fs fs(13);
    offset_store::options opts;
    opts.compact_min_bytes = 512;
    std::unique_ptr<offset_store> st;
    REQUIRE(offset_store::open(fs, tmp.path(), opts, st) == errc::ok);
    int compactions = 0;
    for (uint64_t i = 1; i <= 200; ++i) {
      std::string topic = "T";
      topic += std::to_string(i % 7); // not "T" + ...: g++ 12 warns falsely (-Wrestrict)
      REQUIRE(st->commit("g", topic, 0, i) == errc::ok);
      if (st->compaction_due()) {
        REQUIRE(st->compact() == errc::ok);
        ++compactions;
        CHECK(st->journal_size() == offset_journal::header_size);
      }
    }
    CHECK(compactions >= 2);
    // Nothing may be staged while compacting: the snapshot would miss it.
    std::vector<offset_store::entry> applied;
    REQUIRE(st->stage_commit({{"g", "T0", 0, 1000}}, false, applied) == errc::ok);
    CHECK(st->compact() == errc::invalid_argument);
    REQUIRE(st->sync() == errc::ok);
    fs.power_cut(mode);
  }
  auto st = open_offsets(tmp.path());
  CHECK(st->size() == 7);
  CHECK(st->get("g", "T0", 0) == 1000u);
  CHECK(st->get("g", "T1", 0) == 197u);
  CHECK(st->get("g", "T4", 0) == 200u);
}

TEST_CASE("a crash between a compaction's rename and its journal reset loses nothing",
          "[offsets][crash]") {
  temp_dir tmp;
  std::string journal_before;
  {
    auto st = open_offsets(tmp.path());
    REQUIRE(st->commit("g", "T", 0, 10) == errc::ok);
    REQUIRE(st->commit("g", "T", 1, 20) == errc::ok);
    REQUIRE(st->commit("g", "T", 0, 11) == errc::ok);
    journal_before = test::slurp(tmp / "consumer_offsets.journal");
    REQUIRE(st->compact() == errc::ok);
  }
  // As if the reset never reached the disk: the old journal replays over the new snapshot.
  test::spit(tmp / "consumer_offsets.journal", journal_before);
  auto st = open_offsets(tmp.path());
  CHECK(st->size() == 2);
  CHECK(st->get("g", "T", 0) == 11u);
  CHECK(st->get("g", "T", 1) == 20u);
}

TEST_CASE("a torn journal tail is cut off on open and the store continues after it",
          "[offsets][crash]") {
  temp_dir tmp;
  {
    auto st = open_offsets(tmp.path());
    REQUIRE(st->commit("g", "T", 0, 10) == errc::ok);
  }
  auto good = test::slurp(tmp / "consumer_offsets.journal");
  test::append_raw(tmp / "consumer_offsets.journal", std::string("\x12\x34\x56", 3));
  {
    auto st = open_offsets(tmp.path());
    CHECK(st->get("g", "T", 0) == 10u);
    CHECK(test::slurp(tmp / "consumer_offsets.journal") == good);
    REQUIRE(st->commit("g", "T", 0, 11) == errc::ok);
  }
  CHECK(open_offsets(tmp.path())->get("g", "T", 0) == 11u);
  CHECK_FALSE(posix_fs().exists(tmp / "consumer_offsets.corrupt"));
}

TEST_CASE("a journal with a foreign magic is kept aside and the snapshot still opens",
          "[offsets]") {
  temp_dir tmp;
  write_sample(tmp.path());
  test::spit(tmp / "consumer_offsets.journal", "NOTAJRNL and more");
  auto st = open_offsets(tmp.path());
  CHECK(st->size() == 3);
  CHECK(test::slurp(tmp / "consumer_offsets.journal.corrupt") == "NOTAJRNL and more");
  CHECK(st->commit("orders", "OrderTopic", 0, 43) == errc::ok);
}

TEST_CASE("a clamp lowers offsets past their queue's end through the journal", "[offsets]") {
  temp_dir tmp;
  {
    auto st = open_offsets(tmp.path());
    REQUIRE(st->commit_all({{"g", "T", 0, 10}, {"g", "T", 1, 3}, {"h", "U", 0, 8}}) == errc::ok);
    std::vector<offset_store::entry> lowered;
    auto end_of = [](const std::string& topic, int32_t) -> uint64_t {
      return topic == "T" ? 5 : 100;
    };
    REQUIRE(st->clamp(end_of, lowered) == errc::ok);
    REQUIRE(lowered.size() == 1);
    CHECK(lowered[0].offset == 10u);
    CHECK(st->get("g", "T", 0) == 5u);
  }
  auto st = open_offsets(tmp.path());
  CHECK(st->get("g", "T", 0) == 5u);
  CHECK(st->get("g", "T", 1) == 3u);
  CHECK(st->get("h", "U", 0) == 8u);
}
