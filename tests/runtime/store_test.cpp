#include "runtime/store.hpp"

#include "runtime/fault_fs.hpp"

#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

using namespace holdfast;
using holdfast::test::temp_dir;

namespace Catch {
template <>
struct StringMaker<holdfast::message_check> {
  static std::string convert(holdfast::message_check x) {
    return std::string(holdfast::to_string(x));
  }
};
} // namespace Catch

namespace {

constexpr int64_t now_ms = 1700000000000;

message make(std::string topic, int32_t queue_id, std::string body, std::string id = {}) {
  message m;
  m.topic = std::move(topic);
  m.queue_id = queue_id;
  m.msg_id = std::move(id);
  m.properties = {{"KEYS", "k-" + m.msg_id}};
  m.body.assign(body.begin(), body.end());
  return m;
}

std::string body_text(const std::vector<char>& b) {
  return {b.begin(), b.end()};
}

store_options options_for(const temp_dir& tmp) {
  store_options o;
  o.root = tmp / "store";
  o.segment_size = 64 * 1024; // several segments in the larger tests
  o.max_message_size = 1024;
  o.default_queue_nums = 4;
  return o;
}

std::unique_ptr<message_store> open_store(const store_options& o, recovery_report& report,
                                          file_system& fs = posix_fs()) {
  std::unique_ptr<message_store> st;
  REQUIRE(message_store::open(fs, o, st, report) == errc::ok);
  REQUIRE(st != nullptr);
  return st;
}

/// What a test appended, to compare recovery against.
struct sent {
  std::string topic;
  int32_t queue_id;
  uint64_t queue_offset;
  uint64_t commit_log_offset;
  uint64_t end; // commit-log offset just past the record
  std::string body;
};

/// Appends `n` messages round robin over the queues of `topics`, as batches of up to 7.
void send_many(message_store& st, const std::vector<std::string>& topics, size_t n,
               std::vector<sent>& log) {
  size_t done = 0;
  while (done < n) {
    std::vector<message> batch;
    for (size_t k = 0; k < 7 && done + k < n; ++k) {
      auto i = log.size() + k;
      batch.push_back(make(topics[i % topics.size()], -1,
                           "body " + std::to_string(i) + " " + std::string(i % 97, 'x')));
    }
    std::vector<send_result> res;
    uint64_t end = 0;
    REQUIRE(st.append(batch, now_ms, res, end) == errc::ok);
    REQUIRE(res.size() == batch.size());
    for (size_t k = 0; k < batch.size(); ++k) {
      auto rec_end = k + 1 < res.size() ? res[k + 1].commit_log_offset : end;
      log.push_back({batch[k].topic, res[k].queue_id, res[k].queue_offset,
                     res[k].commit_log_offset, rec_end, body_text(batch[k].body)});
    }
    done += batch.size();
  }
}

/// Reads a whole queue, in pages, up to what the log holds.
std::vector<stored_message> read_queue(message_store& st, const std::string& topic, int32_t q) {
  std::vector<stored_message> all, page;
  uint64_t from = 0, next = 0;
  for (;;) {
    REQUIRE(st.read(topic, q, from, 50, st.log()->write_offset(), page, next) == errc::ok);
    if (page.empty())
      break;
    REQUIRE(next == from + page.size());
    all.insert(all.end(), page.begin(), page.end());
    from = next;
  }
  return all;
}

/// Every queue's messages as `expected` says, in order, with intact bodies.
void check_queues(message_store& st, const std::vector<sent>& expected) {
  std::map<std::pair<std::string, int32_t>, std::vector<const sent*>> by_queue;
  for (auto& s : expected)
    by_queue[{s.topic, s.queue_id}].push_back(&s);
  for (auto& [key, msgs] : by_queue) {
    CAPTURE(key.first, key.second);
    auto got = read_queue(st, key.first, key.second);
    CHECK(st.queue_end(key.first, key.second) == msgs.size());
    REQUIRE(got.size() == msgs.size());
    for (size_t i = 0; i < got.size(); ++i) {
      CAPTURE(i);
      CHECK(got[i].queue_offset == i);
      CHECK(got[i].queue_offset == msgs[i]->queue_offset);
      CHECK(got[i].commit_log_offset == msgs[i]->commit_log_offset);
      CHECK(got[i].topic == key.first);
      CHECK(got[i].queue_id == key.second);
      CHECK(body_text(got[i].body) == msgs[i]->body);
    }
  }
}

} // namespace

TEST_CASE("a batch gets dense queue offsets per queue and round robin queue ids", "[store]") {
  temp_dir tmp;
  recovery_report report;
  auto st = open_store(options_for(tmp), report);
  std::vector<message> batch;
  for (int i = 0; i < 10; ++i)
    batch.push_back(make("A", -1, "a" + std::to_string(i)));
  batch.insert(batch.begin() + 3, make("B", 2, "b0", "my-id"));
  batch.push_back(make("B", 2, "b1"));
  std::vector<send_result> res;
  uint64_t end = 0;
  REQUIRE(st->append(batch, now_ms, res, end) == errc::ok);
  REQUIRE(res.size() == 12);

  std::vector<int32_t> a_queues;
  std::vector<uint64_t> a_offsets;
  for (size_t i = 0; i < res.size(); ++i) {
    if (batch[i].topic == "A") {
      a_queues.push_back(res[i].queue_id);
      a_offsets.push_back(res[i].queue_offset);
    }
  }
  CHECK(a_queues == std::vector<int32_t>{0, 1, 2, 3, 0, 1, 2, 3, 0, 1});
  CHECK(a_offsets == std::vector<uint64_t>{0, 0, 0, 0, 1, 1, 1, 1, 2, 2});
  CHECK(res[3].queue_id == 2);
  CHECK(res[3].queue_offset == 0);
  CHECK(res[11].queue_offset == 1);
  // A given id is kept; missing ones are generated, all distinct.
  CHECK(res[3].msg_id == "my-id");
  std::set<std::string> ids;
  for (auto& r : res) {
    CHECK_FALSE(r.msg_id.empty());
    ids.insert(r.msg_id);
  }
  CHECK(ids.size() == res.size());
  // The batch is one contiguous run of records in the log.
  CHECK(res[0].commit_log_offset == 0);
  for (size_t i = 1; i < res.size(); ++i)
    CHECK(res[i].commit_log_offset
          == res[i - 1].commit_log_offset + record::encoded_size(batch[i - 1]));
  CHECK(end == res.back().commit_log_offset + record::encoded_size(batch.back()));
  CHECK(end == st->log()->write_offset());
  CHECK(st->queue_end("A", 0) == 3);
  CHECK(st->queue_end("A", 3) == 2);
  CHECK(st->queue_end("B", 2) == 2);
  CHECK(st->queue_end("B", 0) == 0);
  CHECK(st->queue_end("C", 0) == 0);

  // Round robin and queue offsets carry on in the next batch.
  std::vector<message> more{make("A", -1, "x"), make("A", -1, "y"), make("A", 0, "z")};
  REQUIRE(st->append(more, now_ms, res, end) == errc::ok);
  CHECK(res[0].queue_id == 2); // ten round-robin picks so far: the eleventh is queue 2
  CHECK(res[0].queue_offset == 2);
  CHECK(res[1].queue_id == 3);
  CHECK(res[1].queue_offset == 2);
  CHECK(res[2].queue_id == 0);
  CHECK(res[2].queue_offset == 3);
  auto topics = st->topics();
  REQUIRE(topics.size() == 2);
  CHECK(topics[0].name == "A");
  CHECK(topics[0].queue_ends == std::vector<uint64_t>{4, 3, 3, 3});
  CHECK(topics[1].name == "B");
  CHECK(topics[1].queue_ends == std::vector<uint64_t>{0, 0, 2, 0});
}

TEST_CASE("a read returns only messages whose record ends at or below the confirmed offset",
          "[store]") {
  temp_dir tmp;
  recovery_report report;
  auto st = open_store(options_for(tmp), report);
  std::vector<message> batch;
  for (int i = 0; i < 5; ++i)
    batch.push_back(make("T", 1, "payload-" + std::to_string(i), "id" + std::to_string(i)));
  std::vector<send_result> res;
  uint64_t end = 0;
  REQUIRE(st->append(batch, now_ms, res, end) == errc::ok);

  auto confirmed_records = GENERATE(0, 1, 3, 5);
  CAPTURE(confirmed_records);
  // Just short of the end of a record does not confirm it.
  auto confirmed = confirmed_records == 0 ? 0 : res[confirmed_records - 1].commit_log_offset
                                                  + record::encoded_size(batch[confirmed_records - 1]);
  std::vector<stored_message> out;
  uint64_t next = 99;
  if (confirmed > 0) {
    REQUIRE(st->read("T", 1, 0, 10, confirmed - 1, out, next) == errc::ok);
    CHECK(out.size() == static_cast<size_t>(confirmed_records - 1));
  }
  REQUIRE(st->read("T", 1, 0, 10, confirmed, out, next) == errc::ok);
  REQUIRE(out.size() == static_cast<size_t>(confirmed_records));
  CHECK(next == static_cast<uint64_t>(confirmed_records));
  for (size_t i = 0; i < out.size(); ++i) {
    CHECK(body_text(out[i].body) == "payload-" + std::to_string(i));
    CHECK(out[i].msg_id == "id" + std::to_string(i));
    CHECK(out[i].properties == batch[i].properties);
    CHECK(out[i].store_timestamp_ms == now_ms);
    CHECK(out[i].queue_id == 1);
    CHECK(out[i].queue_offset == i);
  }
}

TEST_CASE("a read starts at the given queue offset and returns at most max messages",
          "[store]") {
  temp_dir tmp;
  recovery_report report;
  auto st = open_store(options_for(tmp), report);
  std::vector<message> batch;
  for (int i = 0; i < 5; ++i)
    batch.push_back(make("T", 0, "m" + std::to_string(i)));
  std::vector<send_result> res;
  uint64_t end = 0;
  REQUIRE(st->append(batch, now_ms, res, end) == errc::ok);
  std::vector<stored_message> out;
  uint64_t next = 0;
  REQUIRE(st->read("T", 0, 3, 10, end, out, next) == errc::ok);
  REQUIRE(out.size() == 2);
  CHECK(body_text(out[0].body) == "m3");
  CHECK(next == 5);
  REQUIRE(st->read("T", 0, 1, 2, end, out, next) == errc::ok);
  REQUIRE(out.size() == 2);
  CHECK(body_text(out[1].body) == "m2");
  CHECK(next == 3);
  REQUIRE(st->read("T", 0, 5, 10, end, out, next) == errc::ok);
  CHECK(out.empty());
  CHECK(next == 5);
  REQUIRE(st->read("nope", 0, 0, 10, end, out, next) == errc::ok);
  CHECK(out.empty());
  REQUIRE(st->read("T", 7, 0, 10, end, out, next) == errc::ok);
  CHECK(out.empty());
}

TEST_CASE("check rejects bad topic names", "[store]") {
  temp_dir tmp;
  recovery_report report;
  auto st = open_store(options_for(tmp), report);
  auto topic = GENERATE(std::string(""), std::string("../x"), std::string("a/b"),
                        std::string(300, 'a'), std::string(128, 'a'), std::string("a.b"),
                        std::string("with space"));
  CAPTURE(topic);
  auto m = make(topic, -1, "x");
  CHECK(st->check(m) == message_check::bad_topic);
  // And nothing is written for a batch that holds such a message.
  std::vector<message> batch{make("good", -1, "ok"), m};
  std::vector<send_result> res;
  uint64_t end = 0;
  CHECK(st->append(batch, now_ms, res, end) == errc::invalid_argument);
  CHECK(res.empty());
  CHECK(st->log()->write_offset() == 0);
  CHECK(st->queue_end("good", 0) == 0);
  CHECK_FALSE(std::filesystem::exists(tmp / "store/consumequeue/x"));
}

TEST_CASE("check accepts the topic names RocketMQ allows", "[store]") {
  temp_dir tmp;
  recovery_report report;
  auto st = open_store(options_for(tmp), report);
  auto topic = GENERATE(std::string("a"), std::string("%RETRY%group-1"), std::string("DLQ_x"),
                        std::string(127, 'z'));
  CAPTURE(topic);
  CHECK(st->check(make(topic, -1, "x")) == message_check::ok);
}

TEST_CASE("check rejects a body above the maximum message size", "[store]") {
  temp_dir tmp;
  recovery_report report;
  auto opts = options_for(tmp);
  auto st = open_store(opts, report);
  CHECK(st->check(make("T", 0, std::string(opts.max_message_size, 'b')))
        == message_check::ok);
  auto m = make("T", 0, std::string(opts.max_message_size + 1, 'b'));
  CHECK(st->check(m) == message_check::too_large);
  std::vector<message> batch{m};
  std::vector<send_result> res;
  uint64_t end = 0;
  CHECK(st->append(batch, now_ms, res, end) == errc::invalid_argument);
  CHECK(st->log()->write_offset() == 0);
}

TEST_CASE("check rejects a queue id outside the topic's queues", "[store]") {
  temp_dir tmp;
  recovery_report report;
  auto st = open_store(options_for(tmp), report);
  struct variant {
    int32_t queue_id;
    message_check expect;
  };
  auto var = GENERATE(variant{-1, message_check::ok}, variant{0, message_check::ok},
                      variant{3, message_check::ok}, variant{4, message_check::bad_queue},
                      variant{100, message_check::bad_queue},
                      variant{-2, message_check::bad_queue},
                      variant{INT32_MIN, message_check::bad_queue});
  CAPTURE(var.queue_id);
  CHECK(st->check(make("T", var.queue_id, "x")) == var.expect);
}

TEST_CASE("check rejects over-long message ids and malformed properties", "[store]") {
  temp_dir tmp;
  recovery_report report;
  auto st = open_store(options_for(tmp), report);
  auto m = make("T", 0, "x", std::string(128, 'i'));
  CHECK(st->check(m) == message_check::ok);
  m.msg_id.push_back('i');
  CHECK(st->check(m) == message_check::bad_msg_id);
  m = make("T", 0, "x");
  m.properties[""] = "v";
  CHECK(st->check(m) == message_check::bad_property);
  m = make("T", 0, "x");
  m.properties[std::string(256, 'k')] = "v";
  CHECK(st->check(m) == message_check::bad_property);
}

TEST_CASE("a clean restart keeps every message and skips the scan", "[store][recovery]") {
  temp_dir tmp;
  auto opts = options_for(tmp);
  std::vector<sent> log;
  {
    recovery_report report;
    auto st = open_store(opts, report);
    send_many(*st, {"A", "B", "C"}, 600, log);
    REQUIRE(st->close() == errc::ok);
    std::vector<message> late{make("A", -1, "too late")};
    std::vector<send_result> res;
    uint64_t end = 0;
    CHECK(st->append(late, now_ms, res, end) == errc::closed);
    CHECK(std::filesystem::exists(opts.root + "/clean_shutdown"));
  }
  recovery_report report;
  auto st = open_store(opts, report);
  CHECK(report.clean);
  CHECK(report.scanned_records == 0);
  CHECK(report.truncated_bytes == 0);
  CHECK(report.end_offset == log.back().end);
  // The marker is gone at once: a crash from here on is unclean.
  CHECK_FALSE(std::filesystem::exists(opts.root + "/clean_shutdown"));
  check_queues(*st, log);
  // Appends carry on with the next queue offsets.
  std::vector<message> more{make("A", 0, "after restart")};
  std::vector<send_result> res;
  uint64_t end = 0;
  REQUIRE(st->append(more, now_ms, res, end) == errc::ok);
  CHECK(res[0].queue_offset == st->queue_end("A", 0) - 1);
  CHECK(res[0].queue_offset == 50);
  CHECK(res[0].commit_log_offset == log.back().end);
}

TEST_CASE("an unclean restart after a power cut keeps every synced message",
          "[store][recovery][fault]") {
  auto mode = GENERATE(tear_mode::drop, tear_mode::random_prefix, tear_mode::zero_fill);
  auto checkpoint_midway = GENERATE(false, true);
  const char* mode_name = mode == tear_mode::drop ? "drop"
                          : mode == tear_mode::random_prefix ? "random_prefix"
                                                              : "zero_fill";
  CAPTURE(mode_name, checkpoint_midway);
  temp_dir tmp;
  auto opts = options_for(tmp);
  std::vector<sent> log;
  uint64_t synced_end = 0;
  {
    fault_fs fs(42);
    recovery_report report;
    auto st = open_store(opts, report, fs);
    // 300 messages per queue: every index has written (unsynced) blocks.
    send_many(*st, {"A", "B"}, 2400, log);
    REQUIRE(st->log()->sync() == errc::ok);
    if (checkpoint_midway)
      REQUIRE(st->checkpoint() == errc::ok);
    send_many(*st, {"A", "B"}, 2400, log);
    REQUIRE(st->log()->sync() == errc::ok);
    synced_end = st->log()->flushed_offset();
    REQUIRE(synced_end == log.back().end);
    send_many(*st, {"A", "B"}, 30, log); // never synced
    fs.power_cut(mode);
  }
  recovery_report report;
  auto st = open_store(opts, report);
  CHECK_FALSE(report.clean);
  CHECK(report.end_offset >= synced_end);
  // What survived is every synced message plus, for a torn write, possibly a few whole records
  // of the unsynced tail: always a prefix of the log.
  std::vector<sent> expected;
  for (auto& s : log)
    if (s.end <= report.end_offset)
      expected.push_back(s);
  CHECK(expected.size() >= log.size() - 30);
  if (mode != tear_mode::random_prefix)
    CHECK(expected.size() == log.size() - 30);
  check_queues(*st, expected);

  // The store goes on from there.
  std::vector<message> more{make("A", 0, "after the crash")};
  std::vector<send_result> res;
  uint64_t end = 0;
  REQUIRE(st->append(more, now_ms, res, end) == errc::ok);
  CHECK(res[0].commit_log_offset == report.end_offset);
  CHECK(res[0].queue_offset + 1 == st->queue_end("A", 0));
}

TEST_CASE("an index file deleted while the checkpoint exists is rebuilt from the log",
          "[store][recovery]") {
  auto clean = GENERATE(false, true);
  auto messages_after_checkpoint = GENERATE(as<size_t>{}, 0, 40);
  auto victim = GENERATE(std::string("0"), std::string("3"));
  CAPTURE(clean, messages_after_checkpoint, victim);
  temp_dir tmp;
  auto opts = options_for(tmp);
  std::vector<sent> log;
  {
    recovery_report report;
    auto st = open_store(opts, report);
    send_many(*st, {"A", "B"}, 400, log);
    REQUIRE(st->log()->sync() == errc::ok);
    REQUIRE(st->checkpoint() == errc::ok);
    send_many(*st, {"A", "B"}, messages_after_checkpoint, log);
    REQUIRE(st->log()->sync() == errc::ok);
    if (clean)
      REQUIRE(st->close() == errc::ok);
  }
  REQUIRE(std::filesystem::exists(opts.root + "/checkpoint"));
  REQUIRE(std::filesystem::remove(opts.root + "/consumequeue/A/" + victim));

  recovery_report report;
  auto st = open_store(opts, report);
  // Neither the clean-shutdown marker nor the checkpoint may be trusted any more.
  CHECK_FALSE(report.clean);
  CHECK(report.scanned_from == 0);
  CHECK(report.scanned_records == log.size());
  check_queues(*st, log);
  // And the rebuilt index is durable: a clean restart afterwards keeps it.
  REQUIRE(st->close() == errc::ok);
  st = open_store(opts, report);
  CHECK(report.clean);
  check_queues(*st, log);
}

TEST_CASE("an unreadable checkpoint makes recovery scan the whole commit log",
          "[store][recovery]") {
  auto damage = GENERATE(std::string("flipped byte"), std::string("cut short"));
  CAPTURE(damage);
  temp_dir tmp;
  auto opts = options_for(tmp);
  std::vector<sent> log;
  {
    recovery_report report;
    auto st = open_store(opts, report);
    send_many(*st, {"A", "B"}, 200, log);
    REQUIRE(st->close() == errc::ok);
  }
  auto cp = test::slurp(opts.root + "/checkpoint");
  REQUIRE(cp.size() == 20);
  if (damage == "flipped byte")
    cp[9] = static_cast<char>(cp[9] ^ 0x01);
  else
    cp.resize(12);
  test::spit(opts.root + "/checkpoint", cp);

  recovery_report report;
  auto st = open_store(opts, report);
  // Even the clean-shutdown marker is not trusted without a checkpoint to back it.
  CHECK_FALSE(report.clean);
  CHECK(report.scanned_from == 0);
  CHECK(report.scanned_records == log.size());
  check_queues(*st, log);
}

TEST_CASE("a checkpoint past the end of the commit log makes recovery rebuild every index",
          "[store][recovery]") {
  temp_dir tmp;
  auto opts = options_for(tmp);
  opts.segment_size = 1 << 20; // one segment
  std::vector<sent> log;
  {
    recovery_report report;
    auto st = open_store(opts, report);
    send_many(*st, {"A", "B"}, 100, log);
    REQUIRE(st->log()->sync() == errc::ok);
    REQUIRE(st->checkpoint() == errc::ok);
  }
  // The log loses its last ten records behind the store's back (a disk that lied about fsync).
  auto keep = log.size() - 10;
  std::filesystem::resize_file(opts.root + "/commitlog/" + segment_name(0),
                               log[keep].commit_log_offset);
  log.resize(keep);

  recovery_report report;
  auto st = open_store(opts, report);
  CHECK_FALSE(report.clean);
  CHECK(report.end_offset == log.back().end);
  CHECK(report.scanned_records == log.size());
  check_queues(*st, log);
}

// ---- idempotent producers (issue #5) --------------------------------------------------------

namespace {

message sequenced(uint64_t producer, uint64_t seq, std::string body, int32_t queue = -1) {
  auto m = make("idem", queue, std::move(body), "id-" + std::to_string(producer) + "-"
                                                   + std::to_string(seq));
  m.producer_id = producer;
  m.sequence = seq;
  return m;
}

status append_one(message_store& st, message m, send_result& out, uint64_t& end) {
  std::vector<message> batch{std::move(m)};
  std::vector<send_result> res;
  auto s = st.append(batch, now_ms, res, end);
  if (s.ok())
    out = res.at(0);
  return s;
}

} // namespace

TEST_CASE("a retried send of an idempotent producer is answered with its original result",
          "[store][idempotence]") {
  temp_dir tmp;
  auto opts = options_for(tmp);
  recovery_report report;
  auto st = open_store(opts, report);
  uint64_t pid = 0;
  REQUIRE(st->new_producer_id(pid) == errc::ok);
  CHECK(pid >> 32 == 1); // first epoch
  send_result first, again;
  uint64_t end1 = 0, end2 = 0;
  REQUIRE(append_one(*st, sequenced(pid, 0, "zero"), first, end1) == errc::ok);
  auto written = st->log()->write_offset();
  REQUIRE(append_one(*st, sequenced(pid, 0, "zero"), again, end2) == errc::ok);
  CHECK(st->log()->write_offset() == written); // nothing stored the second time
  CHECK(again.queue_id == first.queue_id);
  CHECK(again.queue_offset == first.queue_offset);
  CHECK(again.commit_log_offset == first.commit_log_offset);
  CHECK(end2 == end1); // a duplicate waits for the original's durability
  CHECK(st->duplicates() == 1);

  SECTION("a batch mixing retries and new sends stores only the new ones") {
    std::vector<message> batch{sequenced(pid, 0, "zero"), sequenced(pid, 1, "one"),
                               sequenced(pid, 2, "two")};
    std::vector<send_result> res;
    uint64_t end = 0;
    REQUIRE(st->append(batch, now_ms, res, end) == errc::ok);
    CHECK(res[0].commit_log_offset == first.commit_log_offset);
    CHECK(res[1].commit_log_offset == written);
    CHECK(res[2].commit_log_offset > written);
    CHECK(end == st->log()->write_offset());
  }
  SECTION("a gap is refused with a clear reason and nothing is stored") {
    send_result r;
    uint64_t end = 0;
    auto gap = append_one(*st, sequenced(pid, 5, "five"), r, end);
    CHECK(gap == errc::out_of_sequence);
    CHECK(gap.context().find("producer " + std::to_string(pid)) != std::string::npos);
    CHECK(st->log()->write_offset() == written);
    // A sequence number twice in one batch: the second is not a known result.
    std::vector<message> twice{sequenced(pid, 1, "a"), sequenced(pid, 1, "a")};
    std::vector<send_result> res;
    CHECK(st->append(twice, now_ms, res, end) != errc::ok);
    CHECK(st->log()->write_offset() == written);
  }
  SECTION("streams are per producer, topic and requested queue") {
    send_result r;
    uint64_t end = 0;
    CHECK(append_one(*st, sequenced(pid, 0, "q2", 2), r, end) == errc::ok);
    CHECK(r.queue_id == 2);
    CHECK(append_one(*st, sequenced(pid + 1, 0, "other"), r, end) == errc::ok);
    CHECK(st->log()->write_offset() > written);
  }
}

TEST_CASE("idempotent producer state survives restarts, power cuts and truncation",
          "[store][idempotence][recovery]") {
  temp_dir tmp;
  auto opts = options_for(tmp);
  opts.producer_snapshot_bytes = 4096; // snapshots at checkpoints as well, not only at close
  uint64_t pid = 0;
  std::vector<send_result> originals;
  uint64_t synced = 0;
  {
    fault_fs fs(7);
    recovery_report report;
    auto st = open_store(opts, report, fs);
    REQUIRE(st->new_producer_id(pid) == errc::ok);
    for (uint64_t s = 0; s < 200; ++s) {
      send_result r;
      uint64_t end = 0;
      REQUIRE(append_one(*st, sequenced(pid, s, std::string(40, 'x')), r, end) == errc::ok);
      originals.push_back(r);
      if (s == 120) {
        REQUIRE(st->log()->sync() == errc::ok);
        REQUIRE(st->checkpoint() == errc::ok); // snapshot covers 0..120
      }
      if (s == 160) {
        REQUIRE(st->log()->sync() == errc::ok);
        synced = st->log()->flushed_offset();
      }
    }
    fs.power_cut(tear_mode::drop); // 161..199 were never synced
  }
  recovery_report report;
  auto st = open_store(opts, report);
  CHECK(report.end_offset == synced);
  // Every synced send is known with its original result (snapshot + replay of the log after it).
  for (uint64_t s : {0u, 100u, 120u, 121u, 160u}) {
    INFO("sequence " << s);
    send_result r;
    uint64_t end = 0;
    REQUIRE(append_one(*st, sequenced(pid, s, std::string(40, 'x')), r, end) == errc::ok);
    CHECK(r.commit_log_offset == originals[s].commit_log_offset);
    CHECK(r.queue_offset == originals[s].queue_offset);
  }
  CHECK(st->log()->write_offset() == synced);
  // What the power cut took is stored anew, under its old sequence number, once.
  send_result r;
  uint64_t end = 0;
  REQUIRE(append_one(*st, sequenced(pid, 161, std::string(40, 'x')), r, end) == errc::ok);
  CHECK(r.commit_log_offset == synced);
  // New ids never repeat one handed out before the restart.
  uint64_t pid2 = 0;
  REQUIRE(st->new_producer_id(pid2) == errc::ok);
  CHECK(pid2 >> 32 > pid >> 32);

  SECTION("a slave's copy of the log knows the same producers") {
    temp_dir tmp2;
    auto o2 = options_for(tmp2);
    recovery_report r2;
    auto slave = open_store(o2, r2);
    std::string bytes;
    bool new_segment = false;
    uint64_t pos = 0;
    while (pos < st->log()->write_offset()) {
      REQUIRE(st->read_raw(pos, 1 << 16, bytes, new_segment) == errc::ok);
      REQUIRE(slave->append_raw(bytes, new_segment && pos > 0) == errc::ok);
      pos += bytes.size();
    }
    send_result s;
    uint64_t e2 = 0;
    REQUIRE(append_one(*slave, sequenced(pid, 50, std::string(40, 'x')), s, e2) == errc::ok);
    CHECK(s.commit_log_offset == originals[50].commit_log_offset);
    // A slave cutting its log back forgets the producers' sends past the cut.
    uint64_t dropped = 0;
    REQUIRE(slave->truncate_to(originals[100].commit_log_offset, dropped) == errc::ok);
    CHECK(append_one(*slave, sequenced(pid, 101, "y"), s, e2) == errc::out_of_sequence);
    REQUIRE(append_one(*slave, sequenced(pid, 100, std::string(40, 'x')), s, e2) == errc::ok);
    CHECK(s.commit_log_offset == originals[100].commit_log_offset); // stored again, same place
  }
}

TEST_CASE("producer state is rebuilt from the whole log when its snapshot is gone",
          "[store][idempotence][recovery]") {
  temp_dir tmp;
  auto opts = options_for(tmp);
  uint64_t pid = 0;
  std::vector<send_result> originals;
  {
    recovery_report report;
    auto st = open_store(opts, report);
    REQUIRE(st->new_producer_id(pid) == errc::ok);
    for (uint64_t s = 0; s < 300; ++s) {
      send_result r;
      uint64_t end = 0;
      // Varied sizes: record boundaries fall everywhere relative to the replay's reads.
      REQUIRE(append_one(*st, sequenced(pid, s, std::string(1 + s * 7 % 97, 'x')), r, end)
              == errc::ok);
      originals.push_back(r);
    }
    REQUIRE(st->close() == errc::ok);
  }
  std::filesystem::remove(opts.root + "/producer_state");
  // Every read size, down to one that cuts each length field.
  auto chunk = GENERATE(size_t{8}, size_t{13}, size_t{100}, size_t{333}, size_t{1} << 20);
  INFO("chunk " << chunk);
  opts.scan_chunk_bytes = chunk;
  recovery_report report;
  auto st = open_store(opts, report);
  for (uint64_t s : {0u, 1u, 150u, 299u}) {
    send_result r;
    uint64_t end = 0;
    REQUIRE(append_one(*st, sequenced(pid, s, std::string(1 + s * 7 % 97, 'x')), r, end)
            == errc::ok);
    CHECK(r.commit_log_offset == originals[s].commit_log_offset);
  }
  CHECK(st->duplicates() == 4);
}

TEST_CASE("retry, dead-letter and delay topics get their own queue counts, also after restart",
          "[store]") {
  temp_dir tmp;
  auto o = options_for(tmp);
  o.delay_levels = 5;
  recovery_report report;
  {
    auto st = open_store(o, report);
    CHECK(st->queue_count("orders") == 4);
    CHECK(st->queue_count("%RETRY%g") == 1);
    CHECK(st->queue_count("%DLQ%g") == 1);
    CHECK(st->queue_count("SCHEDULE_TOPIC_XXXX") == 5);
    CHECK(st->check(make("%RETRY%g", 1, "x")) == message_check::bad_queue);
    CHECK(st->check(make("SCHEDULE_TOPIC_XXXX", 5, "x")) == message_check::bad_queue);
    std::vector<message> batch{make("%RETRY%g", 0, "r"), make("%DLQ%g", -1, "d"),
                               make("SCHEDULE_TOPIC_XXXX", 4, "s")};
    std::vector<send_result> out;
    uint64_t end = 0;
    REQUIRE(st->append(batch, now_ms, out, end) == errc::ok);
    CHECK(out[1].queue_id == 0);
    REQUIRE(st->close() == errc::ok);
  }
  auto st = open_store(o, report);
  CHECK(st->queue_count("%RETRY%g") == 1);
  CHECK(st->queue_count("%DLQ%g") == 1);
  CHECK(st->queue_count("SCHEDULE_TOPIC_XXXX") == 5);
  CHECK(st->queue_end("SCHEDULE_TOPIC_XXXX", 4) == 1);
}

TEST_CASE("a full disk refuses appends with no_space, keeps every stored message, and is not "
          "sticky",
          "[store][hostile]") {
  // A write that failed for lack of space was undone (the log is unchanged), so unlike a failed
  // fsync it proves nothing lost: the store takes writes again once there is space.
  temp_dir tmp;
  fault_fs fs(11);
  auto o = options_for(tmp);
  recovery_report report;
  auto st = open_store(o, report, fs);
  std::vector<send_result> res;
  uint64_t end = 0;
  std::vector<message> batch{make("T", 0, "before-1"), make("T", 0, "before-2")};
  REQUIRE(st->append(batch, now_ms, res, end) == errc::ok);
  REQUIRE(st->log()->sync() == errc::ok);
  auto written = st->log()->write_offset();

  fs.set_disk_full(true);
  for (int i = 0; i < 3; ++i) {
    std::vector<message> b{make("T", 0, "refused"), make("U", 1, "refused too")};
    CHECK(st->append(b, now_ms, res, end) == errc::no_space);
    CHECK(res.empty());
  }
  CHECK(to_string(errc::no_space) == "no space left on device");
  CHECK(st->log()->write_offset() == written);
  CHECK(st->log()->sync() == errc::ok);
  CHECK_FALSE(st->log()->failed());
  CHECK(st->queue_end("T", 0) == 2);
  CHECK(st->checkpoint() == errc::no_space); // the index and checkpoint writes hit it too

  fs.set_disk_full(false);
  std::vector<message> after{make("T", 0, "after")};
  REQUIRE(st->append(after, now_ms, res, end) == errc::ok);
  CHECK(res.at(0).queue_offset == 2);
  REQUIRE(st->close() == errc::ok);
  st.reset();

  auto again = open_store(o, report);
  std::vector<stored_message> msgs;
  uint64_t next = 0;
  REQUIRE(again->read("T", 0, 0, 10, again->log()->write_offset(), msgs, next) == errc::ok);
  REQUIRE(msgs.size() == 3);
  CHECK(body_text(msgs[0].body) == "before-1");
  CHECK(body_text(msgs[1].body) == "before-2");
  CHECK(body_text(msgs[2].body) == "after");
  CHECK(again->queue_end("U", 1) == 0);
}

TEST_CASE("store timestamps that jump backwards reorder and lose nothing", "[store][hostile]") {
  // The broker stamps records with the system clock (informational, like RocketMQ's
  // storeTimestamp); order is the commit-log offset. A wall clock stepped back must not matter.
  temp_dir tmp;
  auto o = options_for(tmp);
  recovery_report report;
  auto st = open_store(o, report);
  std::vector<send_result> res;
  uint64_t end = 0;
  const int64_t stamps[] = {now_ms, now_ms - 3600 * 1000, 0, -5, now_ms + 86400 * 1000, 1};
  for (size_t i = 0; i < std::size(stamps); ++i) {
    std::vector<message> b{make("T", 0, "m" + std::to_string(i))};
    REQUIRE(st->append(b, stamps[i], res, end) == errc::ok);
    CHECK(res.at(0).queue_offset == i);
  }
  st.reset(); // a crash: recovery scans every record
  auto again = open_store(o, report);
  std::vector<stored_message> msgs;
  uint64_t next = 0;
  REQUIRE(again->read("T", 0, 0, 10, again->log()->write_offset(), msgs, next) == errc::ok);
  REQUIRE(msgs.size() == std::size(stamps));
  for (size_t i = 0; i < msgs.size(); ++i) {
    CHECK(body_text(msgs[i].body) == "m" + std::to_string(i));
    CHECK(msgs[i].store_timestamp_ms == stamps[i]);
    if (i > 0)
      CHECK(msgs[i].commit_log_offset > msgs[i - 1].commit_log_offset);
  }
}

TEST_CASE("a log cut back and given other bytes recovers them after a crash", "[store][recovery]") {
  // A slave cut back to its master's log, then copying the master's records, which have other
  // boundaries: the checkpoint and the producer snapshot of before the cut must not survive it.
  temp_dir tmp;
  auto o = options_for(tmp);
  recovery_report report;
  uint64_t cut = 0;
  {
    auto st = open_store(o, report);
    std::vector<send_result> out;
    uint64_t end = 0;
    for (int i = 0; i < 20; ++i) {
      std::vector<message> batch{make("t", 0, std::string(100, 'a'), "old" + std::to_string(i))};
      batch[0].producer_id = 7;
      batch[0].sequence = static_cast<uint64_t>(i);
      REQUIRE(st->append(batch, now_ms, out, end) == errc::ok);
      if (i == 9)
        cut = end;
    }
    REQUIRE(st->log()->sync() == errc::ok);
    REQUIRE(st->checkpoint() == errc::ok); // recovery would start at the end
    uint64_t dropped = 0;
    REQUIRE(st->truncate_to(cut, dropped) == errc::ok);
    for (int i = 0; i < 10; ++i) {
      std::vector<message> batch{make("t", 0, std::string(251, 'b'), "new" + std::to_string(i))};
      REQUIRE(st->append(batch, now_ms, out, end) == errc::ok);
    }
    REQUIRE(st->log()->sync() == errc::ok);
  } // a crash: no clean shutdown
  auto st = open_store(o, report);
  CHECK(report.truncated_bytes == 0);
  std::vector<stored_message> msgs;
  uint64_t next = 0;
  REQUIRE(st->read("t", 0, 0, 100, st->log()->write_offset(), msgs, next) == errc::ok);
  REQUIRE(msgs.size() == 20);
  CHECK(msgs[9].msg_id == "old9");
  CHECK(msgs[10].msg_id == "new0");
  CHECK(msgs[19].msg_id == "new9");
  // The producer's stream ends where the cut put it: sequence 10 is new again.
  CHECK(st->producers().next_sequence(stream_key{7, "t", 0}) == 10);
}

TEST_CASE("a checkpoint forgets idempotent producer streams idle longer than their expiry",
          "[store][idempotence]") {
  temp_dir tmp;
  auto o = options_for(tmp);
  o.producer_expiry_ms = 60000;
  recovery_report report;
  auto st = open_store(o, report);
  std::vector<send_result> out;
  uint64_t end = 0;
  for (uint64_t pid : {uint64_t{5}, uint64_t{6}}) {
    std::vector<message> batch{make("t", 0, "x", "p" + std::to_string(pid))};
    batch[0].producer_id = pid;
    // Producer 5 sends at t0, producer 6 two minutes later (the store's clock).
    REQUIRE(st->append(batch, now_ms + (pid == 6 ? 120000 : 0), out, end) == errc::ok);
  }
  REQUIRE(st->producers().streams() == 2);
  REQUIRE(st->checkpoint() == errc::ok);
  CHECK(st->producers().streams() == 1);
  CHECK(st->producers().next_sequence(stream_key{6, "t", 0}) == 1);
}

namespace {

/// Every write the store offers, each expected to be refused with a sticky failure.
void check_writes_refused(message_store& st) {
  std::vector<message> batch{make("A", 0, "refused")};
  std::vector<send_result> res;
  uint64_t end = 0;
  CHECK(st.append(batch, now_ms, res, end) == errc::sticky_failure);
  CHECK(res.empty());
  CHECK(st.append_raw(std::string("not even a record")) == errc::sticky_failure);
  uint64_t dropped = 0;
  CHECK(st.truncate_to(0, dropped) == errc::sticky_failure);
  CHECK(st.checkpoint() == errc::sticky_failure);
}

/// The messages of `log` whose records end at or below `end`.
std::vector<sent> up_to(const std::vector<sent>& log, uint64_t end) {
  std::vector<sent> out;
  for (auto& s : log)
    if (s.end <= end)
      out.push_back(s);
  return out;
}

} // namespace

TEST_CASE("a failed index fsync is sticky: a later checkpoint never moves past it",
          "[store][fsyncgate]") {
  temp_dir tmp;
  auto opts = options_for(tmp);
  std::vector<sent> log;
  uint64_t synced_end = 0;
  {
    fault_fs fs(5);
    recovery_report report;
    auto st = open_store(opts, report, fs);
    send_many(*st, {"A", "B"}, 2400, log);
    REQUIRE(st->log()->sync() == errc::ok);
    REQUIRE(st->checkpoint() == errc::ok);
    send_many(*st, {"A", "B"}, 2400, log);
    REQUIRE(st->log()->sync() == errc::ok);
    synced_end = st->log()->flushed_offset();
    fs.fail_nth_sync(1); // the first index file this checkpoint syncs
    CHECK(st->checkpoint() == errc::io_error);
    CHECK(st->failed());
    // Those index bytes may be gone although every later fdatasync would succeed: no later
    // checkpoint may claim them (the other refused writes: the next test).
    CHECK(st->checkpoint() == errc::sticky_failure);
    std::vector<message> batch{make("A", 0, "refused")};
    std::vector<send_result> res;
    uint64_t end = 0;
    CHECK(st->append(batch, now_ms, res, end) == errc::sticky_failure);
    fs.power_cut(tear_mode::drop);
  }
  recovery_report report;
  auto st = open_store(opts, report);
  CHECK_FALSE(report.clean);
  CHECK(report.end_offset == synced_end);
  check_queues(*st, up_to(log, synced_end));
}

TEST_CASE("a failed fsync of a checkpoint's files or directories is sticky",
          "[store][fsyncgate]") {
  // With a snapshot at every checkpoint and topics A and B (8 index files), a checkpoint syncs:
  // the 8 index files, then producer_state.tmp (9th), then checkpoint.tmp (10th); directories:
  // a new topic's directory and consumequeue/ (only after a topic was created), then the root
  // after each of the two renames.
  auto step = GENERATE(as<std::string>{}, "producer snapshot", "checkpoint file",
                       "new topic directory", "root directory after the snapshot",
                       "root directory after the checkpoint");
  CAPTURE(step);
  temp_dir tmp;
  auto opts = options_for(tmp);
  opts.producer_snapshot_bytes = 0;
  std::vector<sent> log;
  uint64_t synced_end = 0;
  {
    fault_fs fs(6);
    recovery_report report;
    auto st = open_store(opts, report, fs);
    send_many(*st, {"A", "B"}, 400, log);
    REQUIRE(st->log()->sync() == errc::ok);
    REQUIRE(st->checkpoint() == errc::ok);
    bool new_topic = step == "new topic directory";
    send_many(*st, new_topic ? std::vector<std::string>{"C"} : std::vector<std::string>{"A", "B"},
              100, log);
    REQUIRE(st->log()->sync() == errc::ok);
    synced_end = st->log()->flushed_offset();
    if (step == "producer snapshot")
      fs.fail_nth_sync(9);
    else if (step == "checkpoint file")
      fs.fail_nth_sync(10);
    else if (new_topic)
      fs.fail_nth_dir_sync(1);
    else if (step == "root directory after the snapshot")
      fs.fail_nth_dir_sync(1);
    else
      fs.fail_nth_dir_sync(2);
    CHECK(st->checkpoint() == errc::io_error);
    CHECK(st->failed());
    check_writes_refused(*st);
    CHECK(st->close() == errc::sticky_failure);
    fs.power_cut(tear_mode::drop);
  }
  CHECK_FALSE(std::filesystem::exists(opts.root + "/clean_shutdown"));
  recovery_report report;
  auto st = open_store(opts, report);
  CHECK_FALSE(report.clean);
  check_queues(*st, up_to(log, synced_end));
}

TEST_CASE("a failed fsync during a truncation of the store is sticky", "[store][fsyncgate]") {
  temp_dir tmp;
  auto opts = options_for(tmp);
  std::vector<sent> log;
  {
    fault_fs fs(8);
    recovery_report report;
    auto st = open_store(opts, report, fs);
    send_many(*st, {"A", "B"}, 300, log);
    REQUIRE(st->log()->sync() == errc::ok);
    fs.fail_nth_sync(1);
    uint64_t dropped = 0;
    CHECK(st->truncate_to(log[200].commit_log_offset, dropped) == errc::io_error);
    CHECK(st->failed());
    check_writes_refused(*st);
    fs.power_cut(tear_mode::drop);
  }
  // After a restart the store holds a prefix of what it had, at least what the cut kept.
  recovery_report report;
  auto st = open_store(opts, report);
  REQUIRE(report.end_offset >= log[200].commit_log_offset);
  check_queues(*st, up_to(log, report.end_offset));
}

TEST_CASE("a checkpoint job that meets another one waits for it", "[store]") {
  // A clean shutdown checkpoints on its own thread while a job handed to the checkpoint
  // service may not have started yet: the two must not interleave on the temporary files.
  temp_dir tmp;
  auto opts = options_for(tmp);
  opts.producer_snapshot_bytes = 0;
  std::vector<sent> log;
  fault_fs fs(12);
  recovery_report report;
  auto st = open_store(opts, report, fs);
  send_many(*st, {"A", "B"}, 200, log);
  REQUIRE(st->log()->sync() == errc::ok);
  auto job = st->begin_checkpoint();
  fs.set_sync_delay(std::chrono::milliseconds(20));
  std::thread service([&job] { (void) job->run(); });
  auto mine = st->checkpoint();
  service.join();
  fs.set_sync_delay(std::chrono::milliseconds(0));
  st->end_checkpoint(*job);
  CHECK(job->result == errc::ok);
  CHECK(mine == errc::ok);
  REQUIRE(st->close() == errc::ok);
  st.reset();
  auto again = open_store(opts, report);
  CHECK(report.clean);
  check_queues(*again, log);
}
