#include "runtime/index_file_cache.hpp"
#include "runtime/store.hpp"

#include "runtime/fault_fs.hpp"

#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

using namespace holdfast;
using holdfast::test::temp_dir;

namespace {

constexpr int64_t now_ms = 1700000000000;

/// A file system over another that counts the files open right now (and the most ever) whose
/// path contains `/consumequeue/`: the index files. Every call goes to the real thing.
class counting_fs final : public file_system {
public:
  explicit counting_fs(file_system& base) : base_(base) {
  }

  errc open(const std::string& path, open_mode mode, std::unique_ptr<file>& out) override {
    std::unique_ptr<file> f;
    if (auto e = base_.open(path, mode, f); e != errc::ok)
      return e;
    bool index = path.find("/consumequeue/") != std::string::npos;
    if (index) {
      ++open_;
      ++opens_;
      peak_ = std::max(peak_, open_);
    }
    out = std::make_unique<counted>(std::move(f), index ? &open_ : nullptr);
    return errc::ok;
  }
  errc rename(const std::string& from, const std::string& to) override {
    return base_.rename(from, to);
  }
  errc remove(const std::string& path) override {
    return base_.remove(path);
  }
  errc create_dirs(const std::string& path) override {
    return base_.create_dirs(path);
  }
  errc sync_dir(const std::string& path) override {
    return base_.sync_dir(path);
  }
  errc list(const std::string& path, std::vector<std::string>& out) override {
    return base_.list(path, out);
  }
  bool exists(const std::string& path) override {
    return base_.exists(path);
  }

  size_t open_now() const {
    return open_;
  }
  size_t peak() const {
    return peak_;
  }
  size_t opens() const {
    return opens_;
  }
  void reset_peak() {
    peak_ = open_;
  }

private:
  class counted final : public file {
  public:
    counted(std::unique_ptr<file> f, size_t* n) : f_(std::move(f)), n_(n) {
    }
    ~counted() override {
      if (n_ != nullptr)
        --*n_;
    }
    errc append(std::span<const char> d) override {
      return f_->append(d);
    }
    errc write_at(uint64_t pos, std::span<const char> d) override {
      return f_->write_at(pos, d);
    }
    errc read_at(uint64_t pos, std::span<char> out, size_t& n) const override {
      return f_->read_at(pos, out, n);
    }
    errc flush() override {
      return f_->flush();
    }
    errc sync() override {
      return f_->sync();
    }
    errc truncate(uint64_t size) override {
      return f_->truncate(size);
    }
    uint64_t size() const override {
      return f_->size();
    }

  private:
    std::unique_ptr<file> f_;
    size_t* n_;
  };

  file_system& base_;
  size_t open_ = 0;
  size_t peak_ = 0;
  size_t opens_ = 0;
};

message make(const std::string& topic, const std::string& body) {
  message m;
  m.topic = topic;
  m.queue_id = -1;
  m.body.assign(body.begin(), body.end());
  return m;
}

std::string topic_name(int i) {
  return "T" + std::to_string(i);
}

store_options small_cache(const temp_dir& tmp, size_t bound) {
  store_options o;
  o.root = tmp / "store";
  o.segment_size = 1 << 20;
  o.max_message_size = 1024;
  o.default_queue_nums = 2;
  o.max_open_index_files = bound;
  return o;
}

/// Sends `rounds` messages to each of `topics` topics (round robin over their queues), one
/// batch per round; returns the body of every message by topic, in order.
void send_rounds(message_store& st, int topics, int rounds,
                 std::map<std::string, std::vector<std::string>>& sent) {
  for (int r = 0; r < rounds; ++r) {
    std::vector<message> batch;
    for (int t = 0; t < topics; ++t) {
      auto body = topic_name(t) + " round " + std::to_string(r) + " #"
                  + std::to_string(sent[topic_name(t)].size());
      batch.push_back(make(topic_name(t), body));
      sent[topic_name(t)].push_back(body);
    }
    std::vector<send_result> res;
    uint64_t end = 0;
    REQUIRE(st.append(batch, now_ms, res, end) == errc::ok);
  }
}

/// Every message of every topic, read back queue by queue, as bodies sorted per topic.
void check_topics(message_store& st, const std::map<std::string, std::vector<std::string>>& sent) {
  for (auto& [topic, bodies] : sent) {
    CAPTURE(topic);
    std::vector<std::string> got;
    for (int32_t q = 0; q < st.queue_count(topic); ++q) {
      std::vector<stored_message> page;
      uint64_t next = 0;
      REQUIRE(st.read(topic, q, 0, 1000, st.log()->write_offset(), page, next) == errc::ok);
      CHECK(next == st.queue_end(topic, q));
      for (auto& m : page)
        got.emplace_back(m.body.begin(), m.body.end());
    }
    auto want = bodies;
    std::sort(want.begin(), want.end());
    std::sort(got.begin(), got.end());
    CHECK(got == want);
  }
}

} // namespace

TEST_CASE("the index file cache closes the least recently used clean handle at its bound",
          "[store][index]") {
  temp_dir tmp;
  counting_fs fs(posix_fs());
  REQUIRE(fs.create_dirs(tmp / "consumequeue") == errc::ok);
  index_file_cache cache(fs, 3);
  auto path = [&](int i) { return tmp / ("consumequeue/" + std::to_string(i)); };
  std::shared_ptr<file> f;
  for (int i = 0; i < 3; ++i)
    REQUIRE(cache.get(path(i), index_file_cache::access::read, f) == errc::ok);
  f.reset();
  CHECK(fs.open_now() == 3);
  // 0 is used again: 1 is now the least recently used and goes first.
  REQUIRE(cache.get(path(0), index_file_cache::access::read, f) == errc::ok);
  REQUIRE(cache.get(path(3), index_file_cache::access::read, f) == errc::ok);
  f.reset();
  CHECK(fs.open_now() == 3);
  CHECK(cache.evictions() == 1);
  auto opens = fs.opens();
  REQUIRE(cache.get(path(0), index_file_cache::access::read, f) == errc::ok);
  CHECK(fs.opens() == opens); // still open
  REQUIRE(cache.get(path(1), index_file_cache::access::read, f) == errc::ok);
  CHECK(fs.opens() == opens + 1); // was closed
  CHECK(cache.eviction_syncs() == 0);
  f.reset();
  CHECK(fs.peak() == 3);
}

TEST_CASE("a dirty index handle is synced before it is closed, and clean ones go first",
          "[store][index][fsyncgate]") {
  temp_dir tmp;
  fault_fs faulty(7);
  counting_fs fs(faulty);
  REQUIRE(fs.create_dirs(tmp / "consumequeue") == errc::ok);
  REQUIRE(fs.sync_dir(tmp.path()) == errc::ok);
  index_file_cache cache(fs, 2);
  auto path = [&](int i) { return tmp / ("consumequeue/" + std::to_string(i)); };
  std::shared_ptr<file> f;
  REQUIRE(cache.get(path(0), index_file_cache::access::write, f) == errc::ok);
  REQUIRE(f->write_at(0, std::string(16, 'a')) == errc::ok);
  f.reset(); // the test's own reference would keep an evicted file open
  REQUIRE(cache.get(path(1), index_file_cache::access::read, f) == errc::ok);
  f.reset();
  // 0 is the least recently used but dirty: clean 1 goes instead, without a sync.
  REQUIRE(cache.get(path(2), index_file_cache::access::write, f) == errc::ok);
  REQUIRE(f->write_at(0, std::string(16, 'c')) == errc::ok);
  CHECK(cache.eviction_syncs() == 0);
  CHECK(faulty.sync_count() == 0);
  f.reset();
  // Both open handles are dirty now: the least recently used (0) is synced, then closed.
  REQUIRE(cache.get(path(3), index_file_cache::access::read, f) == errc::ok);
  f.reset();
  CHECK(cache.eviction_syncs() == 1);
  CHECK(faulty.sync_count() == 1);
  CHECK(fs.peak() == 2);
  uint64_t gen = 0;
  auto dirty = cache.dirty_files(gen);
  REQUIRE(dirty.size() == 1);
  CHECK(dirty[0].path == path(2));
  REQUIRE(faulty.sync_dir(tmp / "consumequeue") == errc::ok);
  faulty.power_cut(tear_mode::drop);
  // What was synced at its eviction survived; the dirty handle's bytes did not.
  CHECK(test::slurp(path(0)) == std::string(16, 'a'));
  CHECK(test::slurp(path(2)).empty());
}

TEST_CASE("a failed fsync of an evicted index handle is sticky and never retried",
          "[store][index][fsyncgate]") {
  temp_dir tmp;
  fault_fs faulty(8);
  REQUIRE(faulty.create_dirs(tmp / "consumequeue") == errc::ok);
  index_file_cache cache(faulty, 1);
  std::shared_ptr<file> f;
  REQUIRE(cache.get(tmp / "consumequeue/0", index_file_cache::access::write, f) == errc::ok);
  REQUIRE(f->write_at(0, std::string(16, 'a')) == errc::ok);
  faulty.fail_nth_sync(1);
  CHECK(cache.get(tmp / "consumequeue/1", index_file_cache::access::read, f) == errc::io_error);
  CHECK(cache.failed());
  CHECK(cache.get(tmp / "consumequeue/1", index_file_cache::access::write, f)
        == errc::sticky_failure);
  // Reads still work (consumers of what is stored), and nothing is synced again.
  CHECK(cache.get(tmp / "consumequeue/0", index_file_cache::access::read, f) == errc::ok);
  CHECK(faulty.sync_count() == 0);
}

TEST_CASE("a store with many more queues than maxOpenIndexFiles never exceeds the bound and "
          "loses nothing across restarts",
          "[store][index]") {
  temp_dir tmp;
  constexpr size_t bound = 8;
  constexpr int topics = 60; // 120 index files
  auto opts = small_cache(tmp, bound);
  counting_fs fs(posix_fs());
  std::map<std::string, std::vector<std::string>> sent;
  {
    recovery_report report;
    std::unique_ptr<message_store> st;
    REQUIRE(message_store::open(fs, opts, st, report) == errc::ok);
    for (int round = 0; round < 3; ++round) {
      send_rounds(*st, topics, 150, sent); // past one write block of some queues
      REQUIRE(st->log()->sync() == errc::ok);
      REQUIRE(st->checkpoint() == errc::ok);
      check_topics(*st, sent);
    }
    CHECK(st->index_files().evictions() > 0);
    CHECK(fs.peak() <= bound);
    REQUIRE(st->close() == errc::ok);
  }
  CHECK(fs.open_now() == 0);
  for (bool clean : {true, false}) {
    CAPTURE(clean);
    if (!clean)
      std::filesystem::remove(tmp / "store/clean_shutdown");
    fs.reset_peak();
    recovery_report report;
    std::unique_ptr<message_store> st;
    REQUIRE(message_store::open(fs, opts, st, report) == errc::ok);
    CHECK(report.clean == clean);
    check_topics(*st, sent);
    CHECK(fs.peak() <= bound);
    REQUIRE(st->close() == errc::ok);
  }
}

TEST_CASE("index entries written through evicted handles survive a power cut once a checkpoint "
          "covers them",
          "[store][index][recovery][fault]") {
  temp_dir tmp;
  auto opts = small_cache(tmp, 4);
  std::map<std::string, std::vector<std::string>> sent;
  uint64_t synced_end = 0;
  {
    fault_fs faulty(11);
    counting_fs fs(faulty);
    recovery_report report;
    std::unique_ptr<message_store> st;
    REQUIRE(message_store::open(fs, opts, st, report) == errc::ok);
    send_rounds(*st, 40, 300, sent); // every queue writes a block: far more dirty files than 4
    REQUIRE(st->log()->sync() == errc::ok);
    REQUIRE(st->checkpoint() == errc::ok);
    CHECK(st->index_files().eviction_syncs() > 0);
    CHECK(fs.peak() <= 4);
    synced_end = st->log()->flushed_offset();
    auto before = sent;
    send_rounds(*st, 40, 5, sent); // never synced
    sent = std::move(before);
    faulty.power_cut(tear_mode::drop);
  }
  // The checkpoint names synced_end: recovery trusts the indexes below it, including the
  // entries whose handles were evicted before the checkpoint ran.
  recovery_report report;
  std::unique_ptr<message_store> st;
  REQUIRE(message_store::open(posix_fs(), opts, st, report) == errc::ok);
  CHECK_FALSE(report.clean);
  CHECK(report.end_offset == synced_end);
  CHECK(report.scanned_from == synced_end);
  check_topics(*st, sent);
}

TEST_CASE("updateTopic creates and grows a topic, refuses to shrink it, and its queue count "
          "survives a restart",
          "[store][topics]") {
  temp_dir tmp;
  auto opts = small_cache(tmp, 16);
  opts.default_queue_nums = 4;
  opts.auto_create_topics = false;
  std::map<std::string, std::vector<std::string>> sent;
  {
    recovery_report report;
    std::unique_ptr<message_store> st;
    REQUIRE(message_store::open(posix_fs(), opts, st, report) == errc::ok);
    std::vector<message> batch{make("orders", "one")};
    std::vector<send_result> res;
    uint64_t end = 0;
    auto s = st->append(batch, now_ms, res, end);
    CHECK(s.code() == errc::not_found);
    CHECK(s.context().find("orders") != std::string::npos);
    CHECK(st->log()->write_offset() == 0); // nothing stored
    CHECK_FALSE(st->has_topic("orders"));
    CHECK_FALSE(std::filesystem::exists(tmp / "store/consumequeue/orders"));

    REQUIRE(st->create_topic("orders", 2) == errc::ok); // fewer than the default
    CHECK(st->queue_count("orders") == 2);
    batch = {make("orders", "one"), make("orders", "two")};
    REQUIRE(st->append(batch, now_ms, res, end) == errc::ok);
    sent["orders"] = {"one", "two"};
    REQUIRE(st->create_topic("orders", 5) == errc::ok); // grown: old queues keep their entries
    CHECK(st->queue_count("orders") == 5);
    CHECK(st->create_topic("orders", 3) == errc::invalid_argument);
    CHECK(st->create_topic("orders", 0) == errc::invalid_argument);
    CHECK(st->create_topic("bad/name", 1) == errc::invalid_argument);
    CHECK(st->create_topic("%RETRY%g", 1) == errc::invalid_argument);
    batch = {make("orders", "three")};
    batch[0].queue_id = 4;
    REQUIRE(st->append(batch, now_ms, res, end) == errc::ok);
    sent["orders"].push_back("three");
    // System topics are made by the broker itself, whatever autoCreateTopicEnable says.
    batch = {make("%RETRY%group", "retry")};
    REQUIRE(st->append(batch, now_ms, res, end) == errc::ok);
    sent["%RETRY%group"] = {"retry"};
    REQUIRE(st->close() == errc::ok);
  }
  for (bool clean : {true, false}) {
    CAPTURE(clean);
    if (!clean)
      std::filesystem::remove(tmp / "store/clean_shutdown");
    recovery_report report;
    std::unique_ptr<message_store> st;
    REQUIRE(message_store::open(posix_fs(), opts, st, report) == errc::ok);
    CHECK(st->queue_count("orders") == 5);
    CHECK(report.clean == clean);
    check_topics(*st, sent);
    REQUIRE(st->close() == errc::ok);
  }
  // A damaged topic table is not guessed around.
  test::spit(tmp / "store/topics", "orders 5\ncrc32c 1\n");
  recovery_report report;
  std::unique_ptr<message_store> st;
  CHECK(message_store::open(posix_fs(), opts, st, report) == errc::corrupt);
}
