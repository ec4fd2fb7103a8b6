// Wall-clock jumps under a running broker: flush deadlines (syncFlushTimeout), replication
// deadlines (slaveTimeout) and long polls must run on the monotonic clock. An NTP step or an
// operator's `date -s` must neither keep a send waiting for an hour nor expire it at once.
//
// The broker runs under libfaketime (Debian's `faketime` package, LD_PRELOAD) with only
// CLOCK_REALTIME faked; the test moves that clock by rewriting libfaketime's timestamp file
// while a deadline is pending. Without libfaketime (scripts/install-deps installs it) and in the
// AddressSanitizer build the tests skip.

#include "process.hpp"
#include "skip.hpp"

#include "client/client.hpp"

#include <catch2/catch.hpp>

#include <future>

using namespace holdfast;
using namespace holdfast::e2e;
using namespace std::chrono_literals;

namespace {

// libfaketime.so.1 from the faketime package; empty when it is not installed.
std::string find_libfaketime() {
  std::vector<std::string> dirs{"/usr/lib/faketime", "/usr/local/lib/faketime"};
  std::error_code ec;
  for (auto& e : std::filesystem::directory_iterator("/usr/lib", ec))
    dirs.push_back(e.path().string() + "/faketime"); // multiarch: /usr/lib/x86_64-linux-gnu
  for (auto& d : dirs)
    if (std::filesystem::exists(d + "/libfaketime.so.1", ec))
      return d + "/libfaketime.so.1";
  return {};
}

// Why these tests cannot run here; empty when they can. Under AddressSanitizer (the second CI
// pass) the broker would have libfaketime preloaded ahead of the ASan runtime, a combination
// nobody has checked; the plain build covers the property.
std::string missing_environment() {
#if defined(__SANITIZE_ADDRESS__)
  return "AddressSanitizer build: libfaketime is not preloaded into ASan binaries";
#else
  if (find_libfaketime().empty())
    return "libfaketime not installed (Debian package faketime)";
  return {};
#endif
}

/// The wall clock of the processes started with env(): an offset from the real time, changed
/// at any moment with jump().
class fake_wall_clock {
public:
  fake_wall_clock(const std::string& dir, std::string lib)
    : lib_(std::move(lib)), file_(dir + "/faketime.rc") {
    set("+0");
  }
  /// Environment for a process on this clock. The monotonic clock stays real; the file is read
  /// on every call, so a jump takes effect at once.
  std::vector<std::string> env() const {
    return {"LD_PRELOAD=" + lib_, "FAKETIME_TIMESTAMP_FILE=" + file_, "FAKETIME_NO_CACHE=1",
            "FAKETIME_DONT_FAKE_MONOTONIC=1"};
  }
  /// Moves the wall clock to real time + `offset` ("-1h", "+1h").
  void jump(const std::string& offset) {
    set(offset);
  }

private:
  void set(const std::string& offset) {
    // Written aside and renamed: a reader never sees a half-written file.
    std::ofstream(file_ + ".new") << offset << "\n";
    std::filesystem::rename(file_ + ".new", file_);
  }
  std::string lib_, file_;
};

std::vector<std::string> produce_one(const std::string& addr, const std::string& topic,
                                     const std::string& acked) {
  return {bin("holdfast"), "produce", "--broker", addr, "--topic", topic, "--count", "1",
          "--mode", "sync", "--acked", acked};
}

// Waits until the broker has written more than `before` bytes: the send has arrived and its
// deadline runs.
bool wait_written_beyond(const std::string& dir, const std::string& addr, long long before) {
  auto until = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < until) {
    if (status_field(dir, addr, "written") > before)
      return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

// Runs one sync send of a single message against the broker at `addr`, moves the broker's wall
// clock by `jump` once the send is waiting, and returns the result line and how long it took.
std::pair<std::string, std::chrono::milliseconds>
send_across_a_jump(const std::string& dir, const std::string& addr, fake_wall_clock& clock,
                   const std::string& jump) {
  auto before = status_field(dir, addr, "written");
  REQUIRE(before >= 0);
  auto acked = dir + "/acked";
  auto t0 = std::chrono::steady_clock::now();
  child producer(produce_one(addr, "clock", acked), dir + "/p.out", dir + "/p.err");
  REQUIRE(wait_written_beyond(dir, addr, before));
  clock.jump(jump);
  // The client gives up after sendMsgTimeout (3 s) and reports ERROR: a deadline stuck on
  // the wall clock shows as that, or as this wait running out.
  REQUIRE(producer.wait(20s) == 0);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
    std::chrono::steady_clock::now() - t0);
  return {slurp(acked), took};
}

} // namespace

TEST_CASE("a flush deadline runs on the monotonic clock across a wall-clock jump",
          "[e2e][hostile][clock]") {
  if (auto why = missing_environment(); !why.empty())
    return holdfast::test::skip(why);
  auto lib = find_libfaketime();
  auto jump = GENERATE(std::string("-1h"), std::string("+1h"));
  INFO("wall clock jumps " << jump);
  temp_dir dir;
  fake_wall_clock clock(dir.path(), lib);
  // Every fsync takes 2.5 s, so each send waits out its syncFlushTimeout of 1.5 s.
  broker_process broker(dir.path(), dir.path() + "/store", free_port(),
                        {"flushDiskType=\"SYNC_FLUSH\"", "syncFlushTimeout=1500"},
                        {"--fault-fs-sync-delay-ms", "2500"}, clock.env());
  auto [result, took] = send_across_a_jump(dir.path(), broker.address(), clock, jump);
  INFO(result << "took " << took.count() << " ms");
  CHECK(count(result, " FLUSH_DISK_TIMEOUT ") == 1);
  CHECK(took >= 1500ms);
  CHECK(took < 4s); // the timeout, process starts, a loaded machine; a wall-clock deadline hangs
}

TEST_CASE("slaveTimeout runs on the monotonic clock across a wall-clock jump",
          "[e2e][hostile][clock][replication]") {
  if (auto why = missing_environment(); !why.empty())
    return holdfast::test::skip(why);
  auto lib = find_libfaketime();
  auto jump = GENERATE(std::string("-1h"), std::string("+1h"));
  INFO("wall clock jumps " << jump);
  temp_dir dir;
  fake_wall_clock clock(dir.path(), lib);
  ha_pair ha;
  broker_process master(dir.path(), dir.path() + "/m", ha.master_port,
                        ha.master_sets("SYNC_MASTER", {"slaveTimeout=1500"}), {}, clock.env());
  broker_process slave(dir.path(), dir.path() + "/s", free_port(), ha.slave_sets("ASYNC_FLUSH"));
  auto until = std::chrono::steady_clock::now() + 10s;
  std::string out;
  while (out.find("\nslave ") == std::string::npos && std::chrono::steady_clock::now() < until) {
    run({bin("holdfast"), "status", "--broker", master.address()}, dir.path(), out);
    std::this_thread::sleep_for(50ms);
  }
  REQUIRE(out.find("\nslave ") != std::string::npos);
  // Stopped, the slave stays attached but acknowledges nothing: the send waits slaveTimeout.
  slave.proc().signal(SIGSTOP);
  auto [result, took] = send_across_a_jump(dir.path(), master.address(), clock, jump);
  slave.proc().signal(SIGCONT);
  INFO(result << "took " << took.count() << " ms");
  CHECK(count(result, " FLUSH_SLAVE_TIMEOUT ") == 1);
  CHECK(took >= 1500ms);
  CHECK(took < 4s);
}

TEST_CASE("a long poll's wait runs on the monotonic clock across a wall-clock jump",
          "[e2e][hostile][clock][consumer]") {
  if (auto why = missing_environment(); !why.empty())
    return holdfast::test::skip(why);
  auto lib = find_libfaketime();
  auto jump = GENERATE(std::string("-1h"), std::string("+1h"));
  INFO("wall clock jumps " << jump);
  temp_dir dir;
  fake_wall_clock clock(dir.path(), lib);
  broker_process broker(dir.path(), dir.path() + "/store", free_port(), {}, {}, clock.env());
  std::string out;
  REQUIRE(run(produce_one(broker.address(), "clock", dir.path() + "/a"), dir.path(), out) == 0);
  client::consumer_config cfg;
  cfg.broker = broker.address();
  cfg.topic = "clock";
  cfg.group = "";         // no group: every queue from its beginning
  cfg.poll_wait = 1500ms; // the broker answers an empty long poll after this
  client::consumer c{cfg};
  c.start();
  REQUIRE(c.poll().size() == 1); // the one message, from a quick pull: now nothing is left
  auto t0 = std::chrono::steady_clock::now();
  auto polled = std::async(std::launch::async, [&] { return c.poll(); });
  std::this_thread::sleep_for(500ms); // parked by now
  clock.jump(jump);
  // The client waits poll_wait + 5 s before it gives up on an answer and returns empty too:
  // only the time tells the broker's answer from that.
  REQUIRE(polled.wait_for(20s) == std::future_status::ready);
  auto took = std::chrono::steady_clock::now() - t0;
  CHECK(polled.get().empty());
  INFO("took " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
  CHECK(took >= 1400ms);
  CHECK(took < 4s); // a wall-clock deadline: the client's poll_wait + 5 s
}
