#include "runtime/epoch_history.hpp"

#include "runtime/store.hpp"

#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <random>

using namespace holdfast;
using holdfast::test::temp_dir;

namespace {

std::unique_ptr<epoch_history> open_history(const std::string& path) {
  std::unique_ptr<epoch_history> h;
  REQUIRE(epoch_history::open(posix_fs(), path, h) == errc::ok);
  return h;
}

} // namespace

TEST_CASE("terms survive a reopen, and a term with no records gives way to the next one",
          "[epochs]") {
  temp_dir tmp;
  auto path = tmp / "epochs";
  {
    auto h = open_history(path);
    CHECK_FALSE(h->last());
    REQUIRE(h->append({1, 11, 0}) == errc::ok);
    REQUIRE(h->append({2, 22, 100}) == errc::ok);
    // A master restarted without writing: its term 3 replaces the empty term 2.
    REQUIRE(h->append({3, 33, 100}) == errc::ok);
  }
  auto h = open_history(path);
  REQUIRE(h->entries().size() == 2);
  CHECK(h->entries()[1] == leader_epoch{3, 33, 100});
  CHECK(h->append({3, 44, 200}) == errc::invalid_argument); // epochs only increase
  REQUIRE(h->truncate_to(100) == errc::ok);
  CHECK(h->entries().size() == 1);
}

TEST_CASE("a damaged epoch history is an error, not a guess", "[epochs]") {
  temp_dir tmp;
  auto path = tmp / "epochs";
  {
    auto h = open_history(path);
    REQUIRE(h->append({1, 11, 0}) == errc::ok);
  }
  auto bytes = test::slurp(path);
  bytes[20] ^= 1;
  test::spit(path, bytes);
  std::unique_ptr<epoch_history> h;
  CHECK(epoch_history::open(posix_fs(), path, h) == errc::corrupt);
}

TEST_CASE("the master tells a slave where their logs stop agreeing", "[epochs]") {
  temp_dir tmp;
  auto h = open_history(tmp / "epochs");
  REQUIRE(h->append({1, 11, 0}) == errc::ok);
  REQUIRE(h->append({2, 22, 500}) == errc::ok);
  const uint64_t end = 800;
  // A slave in term 1 up to 400: a prefix. Up to 600: past where term 1 ended here.
  CHECK_FALSE(h->divergence(1, 11, 400, end).diverged);
  auto past = h->divergence(1, 11, 600, end);
  CHECK(past.diverged);
  CHECK(past.truncate_to == 500);
  // The newest term: agrees up to our end.
  CHECK_FALSE(h->divergence(2, 22, 800, end).diverged);
  CHECK(h->divergence(2, 22, 900, end).truncate_to == 800);
  // Term 2 with another id (a master restarted on an older copy picked the same number):
  // unknown here, the slave drops it whatever its offsets say.
  auto other = h->divergence(2, 99, 700, end);
  CHECK(other.diverged);
  CHECK(other.drop_last_term);
  // A slave that knows no term holds only records older than every term.
  CHECK_FALSE(h->divergence(0, 0, 0, end).diverged);
  CHECK(h->divergence(0, 0, 10, end).truncate_to == 0);
  CHECK(h->starting_in(0, 500) == std::vector<leader_epoch>{{1, 11, 0}});
  CHECK(h->starting_in(1, 501) == std::vector<leader_epoch>{{2, 22, 500}});
}

namespace {

// Two stores and the replication protocol between them, without actors: the master's
// partition answers with divergence(), the slave cuts back (the newest term or to the given
// offset) and asks again; otherwise it records the terms that start in the bytes and appends.
struct pair_of_stores {
  temp_dir tmp;
  store_options mo, so;
  std::unique_ptr<message_store> master, slave;
  std::vector<std::string> snapshots; ///< older copies of the master's store
  uint64_t seq = 0;

  pair_of_stores() {
    mo.root = tmp / "master";
    mo.segment_size = 16 * 1024;
    mo.max_message_size = 4096;
    so = mo;
    so.root = tmp / "slave";
    so.master = false;
    open_master();
    open_slave();
  }
  void open_master() {
    master.reset();
    recovery_report r;
    REQUIRE(message_store::open(posix_fs(), mo, master, r) == errc::ok);
  }
  void open_slave() {
    slave.reset();
    recovery_report r;
    REQUIRE(message_store::open(posix_fs(), so, slave, r) == errc::ok);
  }
  void produce(int n, size_t size) {
    std::vector<message> batch;
    for (int i = 0; i < n; ++i) {
      message m;
      m.topic = "t";
      m.queue_id = -1;
      m.msg_id = "m" + std::to_string(++seq);
      m.body.assign(size, static_cast<char>('a' + seq % 26));
      batch.push_back(std::move(m));
    }
    std::vector<send_result> out;
    uint64_t end = 0;
    REQUIRE(master->append(batch, 1700000000000, out, end) == errc::ok);
  }
  // Copies up to `chunks` fetches' worth; all of it when chunks < 0.
  void replicate(int chunks = -1) {
    for (int guard = 0; guard < 100000 && chunks != 0; ++guard) {
      auto last = slave->epochs().last();
      auto end = slave->log()->write_offset();
      auto v = master->epochs().divergence(last ? last->epoch : 0, last ? last->term : 0, end,
                                           master->log()->write_offset());
      if (v.diverged) {
        auto to = v.drop_last_term ? (last ? std::min(end, last->start_offset) : 0)
                                   : std::min(end, v.truncate_to);
        uint64_t dropped = 0;
        REQUIRE(slave->truncate_to(to, dropped) == errc::ok);
        continue;
      }
      if (end == master->log()->write_offset())
        return;
      std::string bytes;
      bool new_segment = false;
      REQUIRE(master->read_raw(end, 3000, bytes, new_segment) == errc::ok);
      REQUIRE_FALSE(bytes.empty());
      REQUIRE(slave->record_terms(master->epochs().starting_in(end, end + bytes.size()))
              == errc::ok);
      REQUIRE(slave->append_raw(std::span<const char>(bytes.data(), bytes.size()), new_segment)
              == errc::ok);
      --chunks;
    }
    REQUIRE(chunks == 0);
  }
  void snapshot() {
    auto to = tmp / ("snap" + std::to_string(snapshots.size()));
    std::filesystem::copy(mo.root, to, std::filesystem::copy_options::recursive);
    snapshots.push_back(to);
  }
  // The master's machine comes back with an older copy of its disk.
  void restore(size_t i) {
    master.reset();
    std::filesystem::remove_all(mo.root);
    std::filesystem::copy(snapshots.at(i), mo.root, std::filesystem::copy_options::recursive);
    open_master();
  }
  std::string log_bytes(message_store& s) {
    std::string out, part;
    auto end = s.log()->write_offset();
    for (uint64_t pos = 0; pos < end;) {
      uint64_t base = 0;
      auto limit = std::min(end, s.log()->segment_limit(pos, base));
      REQUIRE(s.log()->read(pos, limit - pos, part) == errc::ok);
      out += part;
      pos = limit;
    }
    return out;
  }
};

} // namespace

TEST_CASE("a slave of a master restarted on an older disk that took new writes ends "
          "byte-identical to it",
          "[epochs][replication][divergence]") {
  auto same_sizes = GENERATE(true, false);
  INFO((same_sizes ? "new records of the same size" : "new records of other sizes"));
  pair_of_stores p;
  p.produce(10, 300);
  p.replicate();
  p.snapshot();
  p.produce(10, 300);
  p.replicate();
  auto slave_end = p.slave->log()->write_offset();
  // The master loses its tail and, before the slave asks again, takes as many bytes anew:
  // the slave's offset is a record boundary of the new data, and `written` matches.
  p.restore(0);
  p.produce(10, same_sizes ? 300 : 517);
  if (same_sizes)
    REQUIRE(p.master->log()->write_offset() == slave_end);
  p.replicate();
  CHECK(p.log_bytes(*p.slave) == p.log_bytes(*p.master));
}

TEST_CASE("over random histories of writes, restarts on older disks and partial copies, a "
          "slave always ends byte-identical to its master",
          "[epochs][replication][divergence][property]") {
  auto seed = GENERATE(range(1u, 41u));
  INFO("seed " << seed);
  std::mt19937 rng(seed);
  pair_of_stores p;
  for (int step = 0; step < 25; ++step) {
    switch (rng() % 6) {
      case 0:
      case 1:
        p.produce(1 + static_cast<int>(rng() % 8), 50 + rng() % 600);
        break;
      case 2:
        p.replicate(static_cast<int>(rng() % 3));
        break;
      case 3:
        p.snapshot();
        break;
      case 4:
        if (!p.snapshots.empty())
          p.restore(rng() % p.snapshots.size());
        else
          p.open_master(); // a plain restart: a new term at the same end
        break;
      case 5:
        p.open_slave();
        break;
    }
  }
  p.replicate();
  REQUIRE(p.slave->log()->write_offset() == p.master->log()->write_offset());
  CHECK(p.log_bytes(*p.slave) == p.log_bytes(*p.master));
  // The slave knows every term that wrote records; a master's newest term may have none yet.
  auto terms = p.master->epochs().entries();
  while (!terms.empty() && terms.back().start_offset == p.master->log()->write_offset())
    terms.pop_back();
  auto slave_terms = p.slave->epochs().entries();
  while (!slave_terms.empty() && slave_terms.back().start_offset == p.slave->log()->write_offset())
    slave_terms.pop_back();
  CHECK(slave_terms == terms);
}
