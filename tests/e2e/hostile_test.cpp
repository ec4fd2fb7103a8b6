// Hostile input against broker processes: random and mutated bytes on the listening port while
// a well-behaved producer keeps sending, a full disk, garbage replication acks, consumers
// committing past the end. Everything on 127.0.0.1; every loop bounded in time and count.

#include "process.hpp"
#include "recording_proxy.hpp"
#include "skip.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <cstring>
#include <mutex>
#include <poll.h>
#include <random>
#include <sys/mount.h>

using namespace holdfast::e2e;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> produce(const std::string& addr, const std::string& topic, int count,
                                 int inflight, const std::string& mode, const std::string& acked) {
  return {bin("holdfast"), "produce", "--broker", addr, "--topic", topic,
          "--count", std::to_string(count), "--inflight", std::to_string(inflight),
          "--mode", mode, "--acked", acked, "--size", "200"};
}

std::string verify(const std::string& dir, const std::string& addr, const std::string& topic,
                   const std::string& acked) {
  std::string out;
  run({bin("holdfast"), "verify", "--broker", addr, "--topic", topic, "--acked", acked}, dir,
      out);
  return last_line(out);
}

int connect_to(uint16_t port) {
  return connect_loopback(port);
}

// One hostile connection's bytes: noise, a real session cut short, or a real session with
// corrupted fields (bit flips, overwritten integers such as BASP payload lengths, inserted and
// deleted bytes), most of them after an intact handshake prefix.
// `everything` false: only noise, cut-short sessions and corrupted first frames (the BASP
// handshake) followed by nothing; true: also whole mutated sessions, which still crash CAF
// 0.17.6 now and then without the guard.
std::string hostile_bytes(const std::vector<std::string>& real, std::mt19937& rng,
                          bool everything) {
  auto kind = rng() % 5;
  if (kind == 0 || real.empty()) {
    std::string junk(1 + rng() % 8192, '\0');
    for (auto& c : junk)
      c = static_cast<char>(rng());
    return junk;
  }
  auto s = real[rng() % real.size()];
  if (s.empty())
    return s;
  if (kind == 1)
    return s.substr(0, 1 + rng() % s.size()); // truncated: the peer waits for the rest
  if (!everything && kind != 1)
    s = s.substr(0, 64);
  int edits = 1 + static_cast<int>(rng() % 6);
  // Mostly in the first 256 bytes (the handshake and the first message headers).
  auto pos_of = [&] {
    return rng() % 3 == 0 ? rng() % s.size() : rng() % std::min<size_t>(s.size(), 256);
  };
  for (int i = 0; i < edits && !s.empty(); ++i) {
    auto pos = pos_of();
    switch (rng() % 5) {
      case 0:
        s[pos] = static_cast<char>(s[pos] ^ (1u << (rng() % 8)));
        break;
      case 1: {
        static const uint32_t interesting[] = {0, 1, 0x7fffffff, 0xffffffff, 0x80000000,
                                               0xffff, 0x10000, 1u << 30};
        auto v = interesting[rng() % std::size(interesting)];
        if (pos + 4 <= s.size())
          std::memcpy(s.data() + pos, &v, 4);
        break;
      }
      case 2:
        s.insert(pos, 1 + rng() % 16, static_cast<char>(rng()));
        break;
      case 3:
        s.erase(pos, 1 + rng() % 16);
        break;
      case 4:
        s[pos] = static_cast<char>(rng());
        break;
    }
  }
  if (kind == 3)
    s = s.substr(0, 1 + rng() % s.size());
  if (!everything)
    s = s.substr(0, 32 + 32); // the handshake frame (header and node id), corrupted
  return s;
}

// CAF 0.17.6 (Debian's libcaf-io) dereferences a null payload when a BASP header of a kind
// that must carry one (server_handshake 0, client_handshake 1, direct_message 2,
// routed_message 3) announces a payload length of 0: one 32-byte header kills any process that
// listens with the middleman (basp::instance::handle; see docs/hostile-input.md). baspGuard
// drops such streams before CAF parses them; the port attack sends them anyway and counts them,
// and the [caf-bug] test below reproduces the crash without the guard.
bool hits_caf_null_payload_bug(const std::string& s) {
  constexpr size_t header_size = 32; // op, 2 padding bytes, flags, u32 length, 3 x u64
  for (size_t pos = 0; pos + header_size <= s.size();) {
    auto op = static_cast<uint8_t>(s[pos]);
    uint32_t len = (uint32_t{static_cast<uint8_t>(s[pos + 4])} << 24)
                   | (uint32_t{static_cast<uint8_t>(s[pos + 5])} << 16)
                   | (uint32_t{static_cast<uint8_t>(s[pos + 6])} << 8)
                   | uint32_t{static_cast<uint8_t>(s[pos + 7])};
    if (op <= 3 && len == 0)
      return true;
    pos += header_size + len;
  }
  return false;
}

} // namespace

namespace {

void attack_while_producing(bool everything) {
  temp_dir dir;
  auto port = free_port();
  // A master: clients on its port, slaves on the next (the replication door); both attacked.
  broker_process broker(dir.path(), dir.path() + "/store", port,
                        {"brokerRole=\"ASYNC_MASTER\"", "flushDiskType=\"SYNC_FLUSH\"",
                         "brokerName=\"hostile-" + std::to_string(port) + "\"", ha_token_set});
  std::vector<std::string> real;
  {
    // Record what real peers send: a producer, a consumer, and a slave's replication link.
    recording_proxy proxy(port);
    recording_proxy ha_proxy(static_cast<uint16_t>(port + 1));
    auto via = "127.0.0.1:" + std::to_string(proxy.port());
    auto ha_via = "127.0.0.1:" + std::to_string(ha_proxy.port());
    std::string out;
    REQUIRE(run(produce(via, "rec", 3, 1, "sync", dir.path() + "/rec-acked"), dir.path(), out)
            == 0);
    run({bin("holdfast"), "consume", "--broker", via, "--topic", "rec", "--group", "g",
         "--max", "3"},
        dir.path(), out, nullptr, 10s); // only its bytes matter: it may keep polling
    {
      broker_process slave(dir.path(), dir.path() + "/slave", free_port(),
                           {"brokerRole=\"SLAVE\"", "haMasterAddress=\"" + ha_via + "\"",
                            "brokerName=\"hostile-" + std::to_string(port) + "\"", ha_token_set,
                            "haSendHeartbeatInterval=200"});
      std::this_thread::sleep_for(1500ms);
      slave.crash();
    }
    real = proxy.sessions();
    for (auto& session : ha_proxy.sessions())
      real.push_back(session);
  }
  REQUIRE(real.size() >= 3);
  for (auto& s : real)
    REQUIRE(s.size() > 16);

  // The well-behaved producer: one run after another until the attack is over.
  auto acked = dir.path() + "/acked";
  std::atomic<bool> attacking{true};
  std::atomic<int> producer_failures{0}, producer_runs{0}, connect_failures{0};
  std::thread producer([&] {
    while (attacking) {
      std::string out, err;
      auto before = count(slurp(acked), "\n");
      auto code = run(produce(broker.address(), "calm", 100, 4, "sync", acked), dir.path(), out,
                      &err, 60s);
      // Exit 1 before any answer: the middleman, busy with the flood (slowly so under ASan),
      // did not finish this client's connection in time. A clear error, nothing was sent.
      if (code == 1 && count(slurp(acked), "\n") == before)
        ++connect_failures;
      else if (code != 0)
        ++producer_failures;
      ++producer_runs;
    }
  });

  std::mt19937 rng(0xbad5eed);
  int connections = 0;
  bool refused = false;
  int skipped = 0;
  // 6 s and at most 1500 connections: after a storm of spoofed handshakes CAF's middleman needs
  // a while to settle (the verify below can take tens of seconds), and the suite must stay short.
  auto until = std::chrono::steady_clock::now() + 6s;
  while (std::chrono::steady_clock::now() < until && connections < 1500) {
    auto bytes = hostile_bytes(real, rng, everything);
    // Sent anyway: baspGuard must drop these before CAF 0.17.6 crashes on them.
    if (hits_caf_null_payload_bug(bytes))
      ++skipped;
    int fd = connect_to(static_cast<uint16_t>(port + rng() % 2));
    if (fd < 0) {
      refused = true; // the broker stopped accepting: checked below, after the producer ends
      break;
    }
    ++connections;
    if (auto* dump = std::getenv("HOLDFAST_HOSTILE_DUMP"))
      std::ofstream(std::string(dump) + "/" + std::to_string(connections), std::ios::binary)
        << bytes;
    (void) !::write(fd, bytes.data(), bytes.size());
    // Sometimes keep the connection open a moment (a peer stuck mid-message), usually not.
    if (rng() % 8 == 0)
      std::this_thread::sleep_for(20ms);
    ::close(fd);
    if (!broker.proc().running())
      break;
  }
  attacking = false;
  producer.join();
  INFO(connections << " hostile connections (" << skipped << " with a header that crashes CAF), "
                   << producer_runs << " producer runs");
  CHECK_FALSE(refused);
  CHECK(broker.proc().running());
  if (!broker.proc().running() || refused)
    FAIL_CHECK("broker stderr: " << broker.proc().err().substr(0, 4000));
  INFO(connect_failures << " producer runs could not connect during the flood");
  CHECK(producer_failures == 0);
  CHECK(connect_failures * 2 <= producer_runs); // served most of the time, not just at the end
  auto lines = slurp(acked);
  // Served throughout: every run ended well and got answers. An ERROR (a send timed out on the
  // loaded machine) is allowed: it means "unknown", and a retried send may then be stored twice
  // (duplicated/unacknowledged); what must never happen is a SEND_OK that is missing.
  CHECK(count(lines, " SEND_OK ") + count(lines, " FLUSH_DISK_TIMEOUT ") > 0);
  CHECK(count(lines, "\n") == static_cast<size_t>(producer_runs - connect_failures) * 100);
  CHECK(verify(dir.path(), broker.address(), "calm", acked).rfind("missing=0 ", 0) == 0);
  CHECK(broker.stop() == 0);
}

} // namespace

TEST_CASE("random bytes, cut-short sessions and corrupted BASP handshakes on the broker port "
          "while a producer keeps sending lose nothing",
          "[e2e][hostile]") {
  attack_while_producing(false);
}

TEST_CASE("whole mutated BASP sessions on the broker port while a producer keeps sending lose "
          "nothing",
          "[e2e][hostile]") {
  // Spoofed node ids and corrupted messages after the handshake: without baspGuard CAF 0.17.6
  // crashed on these now and then (too rarely to assert as a crash, see docs/hostile-input.md).
  attack_while_producing(true);
}

namespace {

/// A small tmpfs mounted for one test (we run as root in CI), unmounted afterwards.
class tmpfs_mount {
public:
  tmpfs_mount(const std::string& path, const std::string& size) : path_(path) {
    std::filesystem::create_directories(path);
    if (::mount("tmpfs", path.c_str(), "tmpfs", 0, ("size=" + size).c_str()) == 0)
      mounted_ = true;
    else
      error_ = std::strerror(errno);
  }
  ~tmpfs_mount() {
    if (mounted_)
      ::umount2(path_.c_str(), MNT_DETACH);
  }
  bool mounted() const {
    return mounted_;
  }
  const std::string& error() const {
    return error_;
  }

private:
  std::string path_;
  bool mounted_ = false;
  std::string error_;
};

// Fills the file system holding `dir` up to all but `leave` bytes with one file; returns its path.
std::string fill_up(const std::string& dir, size_t leave) {
  auto path = dir + "/filler";
  auto free_bytes = std::filesystem::space(dir).available;
  std::ofstream out(path, std::ios::binary);
  std::string chunk(4096, 'x');
  for (size_t n = 0; n + leave + chunk.size() <= free_bytes; n += chunk.size())
    out.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
  return path;
}

} // namespace

TEST_CASE("a full disk gives sends a clear no-space error, loses nothing acknowledged, and the "
          "broker recovers when space returns",
          "[e2e][hostile]") {
  temp_dir dir;
  auto disk = dir.path() + "/disk";
  tmpfs_mount mnt(disk, "2m");
  // Unprivileged: the in-process fault_fs test ("a full disk refuses appends with no_space..."
  // in tests/runtime/store_test.cpp) still covers the path, but this test checked nothing.
  if (!mnt.mounted())
    return holdfast::test::skip("cannot mount a tmpfs (" + mnt.error() + ")");
  INFO("using a real 2 MiB tmpfs");
  auto store = disk + "/store";
  auto port = free_port();
  std::string out;
  auto acked = dir.path() + "/acked";
  {
    broker_process broker(dir.path(), store, port, {"flushDiskType=\"SYNC_FLUSH\""});
    REQUIRE(run(produce(broker.address(), "full", 50, 2, "sync", acked), dir.path(), out) == 0);
    REQUIRE(count(slurp(acked), " SEND_OK ") == 50);

    auto filler = fill_up(disk, 48 * 1024);
    // ~400 bytes a record: the disk fills within the first few hundred.
    REQUIRE(run(produce(broker.address(), "full", 600, 2, "sync", acked), dir.path(), out) == 0);
    auto lines = slurp(acked);
    auto errors = count(lines, " ERROR ");
    CHECK(errors > 0);
    INFO(lines.substr(0, 4000));
    CHECK(count(lines, "storage_failure: append failed: no space left on device") == errors);
    CHECK(broker.proc().running());

    // Space returns: the broker takes sends again without a restart.
    std::filesystem::remove(filler);
    auto after = dir.path() + "/acked-after";
    REQUIRE(run(produce(broker.address(), "full", 100, 2, "sync", after), dir.path(), out) == 0);
    CHECK(count(slurp(after), " SEND_OK ") == 100);
    std::ofstream(acked, std::ios::app) << slurp(after);
    CHECK(verify(dir.path(), broker.address(), "full", acked)
          == "missing=0 duplicated=0 unacknowledged=0");
    CHECK(broker.stop() == 0);
  }
  // And after a restart from that disk.
  broker_process again(dir.path(), store, port, {"flushDiskType=\"SYNC_FLUSH\""});
  CHECK(verify(dir.path(), again.address(), "full", acked)
        == "missing=0 duplicated=0 unacknowledged=0");
  CHECK(again.stop() == 0);
}

TEST_CASE("the BASP guard drops a handshake with an empty payload that would crash CAF 0.17.6",
          "[e2e][hostile]") {
  // libcaf-io 0.17.6 dereferences a null payload on this 32-byte header (docs/hostile-input.md).
  // With baspGuard (the default) the connection is dropped before CAF sees it; the control case
  // without the guard is the [caf-bug] test below.
  temp_dir dir;
  auto port = free_port();
  broker_process broker(dir.path(), dir.path() + "/store", port);
  for (uint8_t kind : {0, 1, 2, 3}) {
    int fd = connect_to(port);
    REQUIRE(fd >= 0);
    std::string header(32, '\0');
    header[0] = static_cast<char>(kind); // payload length 0, no payload
    (void) !::write(fd, header.data(), header.size());
    std::this_thread::sleep_for(200ms);
    ::close(fd);
  }
  std::this_thread::sleep_for(300ms);
  REQUIRE(broker.proc().running());
  CHECK(broker.proc().err().find("basp guard: dropped the connection") != std::string::npos);
  // And it still serves.
  std::string out;
  CHECK(run(produce(broker.address(), "after", 20, 2, "sync", dir.path() + "/acked"), dir.path(),
            out) == 0);
  CHECK(verify(dir.path(), broker.address(), "after", dir.path() + "/acked")
        == "missing=0 duplicated=0 unacknowledged=0");
}

TEST_CASE("without the BASP guard, a handshake with an empty payload still kills a CAF 0.17.6 "
          "listener",
          "[e2e][hostile][caf-bug]") {
  // An expected failure: the control case for baspGuard, against a broker with the guard off
  // (CAF listens on the port itself) in its own process. It passes while libcaf-io crashes on
  // the 32-byte header (docs/hostile-input.md) and fails once it does not: then revisit whether
  // baspGuard is still needed.
  temp_dir dir;
  auto port = free_port();
  broker_process broker(dir.path(), dir.path() + "/store", port, {"baspGuard=false"});
  int fd = connect_to(port);
  REQUIRE(fd >= 0);
  std::string header(32, '\0');
  header[0] = 1; // client_handshake, payload length 0, no payload
  (void) !::write(fd, header.data(), header.size());
  auto code = broker.proc().wait(5s);
  ::close(fd);
  auto err = broker.proc().err();
  INFO("exit " << code << ", stderr: " << err.substr(0, 3000));
  if (code == -1)
    FAIL("the unguarded broker survived the empty-payload handshake: CAF no longer has the bug "
         "baspGuard works around; revisit the guard and this test");
  // A null dereference: SIGSEGV, or AddressSanitizer's report of it (exit 1) in the ASan build.
  CHECK((code == 128 + SIGSEGV || err.find("AddressSanitizer: SEGV") != std::string::npos));
}

namespace {

// Resident memory of a process, from /proc (KiB).
long rss_kib(pid_t pid) {
  auto status = slurp("/proc/" + std::to_string(pid) + "/status");
  auto at = status.find("VmRSS:");
  return at == std::string::npos ? -1 : std::stol(status.substr(at + 6));
}

// Whether the broker closes `fd` within `wait` (a read returns 0 or fails).
bool closed_by_peer(int fd, std::chrono::milliseconds wait) {
  pollfd p{fd, POLLIN, 0};
  auto until = std::chrono::steady_clock::now() + wait;
  while (std::chrono::steady_clock::now() < until) {
    if (::poll(&p, 1, 50) > 0) {
      char buf[4096];
      auto n = ::read(fd, buf, sizeof buf);
      if (n <= 0)
        return true;
    }
  }
  return false;
}

} // namespace

TEST_CASE("a peer that has not said hello cannot make the broker allocate what a header "
          "announces",
          "[e2e][hostile]") {
  // Three connections each send one 32-byte BASP handshake header announcing 16 MiB (less than
  // an authenticated peer may send) and nothing else. CAF sizes its receive buffer from the
  // header and fills it with zeros: without the pre-authentication bound the broker grew by
  // 200 MiB for headers announcing 200 MiB, and the connections stayed open.
  temp_dir dir;
  auto port = free_port();
  broker_process broker(dir.path(), dir.path() + "/store", port);
  auto before = rss_kib(broker.proc().pid());
  REQUIRE(before > 0);
  std::vector<int> fds;
  for (int i = 0; i < 3; ++i) {
    int fd = connect_to(port);
    REQUIRE(fd >= 0);
    unsigned char header[32] = {};
    header[0] = 1; // client_handshake: what a connecting node sends first
    uint32_t len = 16u << 20;
    header[4] = static_cast<unsigned char>(len >> 24);
    header[5] = static_cast<unsigned char>(len >> 16);
    header[6] = static_cast<unsigned char>(len >> 8);
    header[7] = static_cast<unsigned char>(len);
    REQUIRE(::write(fd, header, sizeof header) == 32);
    fds.push_back(fd);
  }
  for (auto fd : fds) {
    CHECK(closed_by_peer(fd, 3s));
    ::close(fd);
  }
  auto after = rss_kib(broker.proc().pid());
  INFO("RSS " << before << " KiB before, " << after << " KiB after");
  CHECK(after - before < 8 * 1024);
  CHECK(broker.proc().err().find("before the peer authenticated") != std::string::npos);
  // A producer that said hello still sends messages far larger than that bound.
  std::string out;
  CHECK(run({bin("holdfast"), "produce", "--broker", broker.address(), "--topic", "big",
             "--count", "3", "--size", std::to_string(1 << 20), "--acked",
             dir.path() + "/acked"},
            dir.path(), out)
        == 0);
  CHECK(verify(dir.path(), broker.address(), "big", dir.path() + "/acked")
        == "missing=0 duplicated=0 unacknowledged=0");
  CHECK(broker.stop() == 0);
}

TEST_CASE("connections past maxConnections are closed at once, and silent ones after "
          "authTimeout",
          "[e2e][hostile]") {
  temp_dir dir;
  auto port = free_port();
  broker_process broker(dir.path(), dir.path() + "/store", port,
                        {"maxConnections=8", "authTimeout=1500"});
  std::vector<int> silent;
  for (int i = 0; i < 8; ++i) {
    int fd = connect_to(port);
    REQUIRE(fd >= 0);
    silent.push_back(fd);
  }
  std::this_thread::sleep_for(200ms);
  // The ninth: accepted by the kernel, closed by the door.
  int extra = connect_to(port);
  REQUIRE(extra >= 0);
  CHECK(closed_by_peer(extra, 1s));
  ::close(extra);
  CHECK(broker.proc().err().find("(maxConnections)") != std::string::npos);
  // The silent eight are dropped once authTimeout is over; then a producer gets in.
  for (auto fd : silent) {
    CHECK(closed_by_peer(fd, 5s));
    ::close(fd);
  }
  CHECK(broker.proc().err().find("not authenticated within 1500 ms") != std::string::npos);
  std::string out;
  CHECK(run(produce(broker.address(), "after", 20, 2, "sync", dir.path() + "/acked"), dir.path(),
            out)
        == 0);
  CHECK(verify(dir.path(), broker.address(), "after", dir.path() + "/acked")
        == "missing=0 duplicated=0 unacknowledged=0");
  CHECK(broker.stop() == 0);
}

TEST_CASE("a client sending without waiting gets busy past maxRequestsPerClient instead of "
          "growing the broker's queues",
          "[e2e][hostile]") {
  // CAF queues whatever a connection delivers: 20 appends sent at once to a broker whose disk
  // takes 2 s per fsync all waited in its mailboxes. Now the door forwards 8 and refuses the
  // rest, retriably, before they are queued.
  temp_dir dir;
  broker_process broker(dir.path(), dir.path() + "/store", free_port(),
                        {"flushDiskType=\"SYNC_FLUSH\"", "maxRequestsPerClient=8"},
                        {"--fault-fs-sync-delay-ms", "2000"});
  std::string out;
  REQUIRE(run({std::string(HOLDFAST_BIN_DIR) + "/../tests/rogue_client", broker.address(),
               "flood", "flood", "20"},
              dir.path(), out)
          == 0);
  INFO(out);
  CHECK(out.find("busy 12 answered 20") != std::string::npos);
  // And the connection's budget comes back once its answers went out.
  CHECK(run(produce(broker.address(), "after", 5, 1, "sync", dir.path() + "/acked"), dir.path(),
            out)
        == 0);
  broker.crash(); // a clean stop syncs a dozen files at 2 s each, past shutdownTimeout
}
