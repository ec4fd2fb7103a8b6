// Forged messages against a master/slave pair: recorded real sessions replayed with every
// message type the broker handles swapped in for the hello, addressed to each door, to the
// internal actors' ids and to CAF's named actors (tests/e2e/door_prober.cpp forges them).
// Nothing may have an effect without the right credentials; a positive control with the hello
// kept shows that the same forging does reach the broker.

#include "process.hpp"
#include "recording_proxy.hpp"

#include <catch2/catch.hpp>

#include <regex>
#include <set>

using namespace holdfast::e2e;
using namespace std::chrono_literals;

namespace {

const std::string token = "doors-secret";

std::string prober() {
  return std::string(HOLDFAST_BIN_DIR) + "/../tests/door_prober";
}

std::string status(const std::string& dir, const std::string& addr) {
  std::string out;
  if (run({bin("holdfast"), "status", "--broker", addr, "--auth-token", token}, dir, out) != 0)
    return "";
  return out;
}

/// The topic names a `holdfast status` lists.
std::set<std::string> topics(const std::string& status_text) {
  std::set<std::string> out;
  std::istringstream in(status_text);
  for (std::string line; std::getline(in, line);)
    if (line.rfind("topic ", 0) == 0)
      out.insert(line.substr(6, line.find(':') - 6));
  return out;
}

bool wait_slaves(const std::string& dir, const std::string& master, size_t n) {
  for (int i = 0; i < 300; ++i) {
    if (count(status(dir, master), "\nslave ") == n)
      return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

void save(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

/// The recorded client session that carried `needle` (a type name in its hello).
std::string session_with(const std::vector<std::string>& sessions, const std::string& needle) {
  for (auto& s : sessions)
    if (s.find(needle) != std::string::npos)
      return s;
  return {};
}

std::vector<std::string> produce(const std::string& addr, const std::string& topic, int n,
                                 const std::string& acked) {
  return {bin("holdfast"), "produce", "--broker", addr, "--topic", topic,
          "--count", std::to_string(n), "--mode", "sync", "--acked", acked,
          "--auth-token", token};
}

} // namespace

TEST_CASE("forged messages of every type to every actor of a master and its slave have no "
          "effect without credentials",
          "[e2e][doors]") {
  temp_dir dir;
  auto d = dir.path();
  ha_pair ha;
  auto auth = "authToken=\"" + token + "\"";
  auto mstore = d + "/master", sstore = d + "/slave";
  broker_process master(d, mstore, ha.master_port,
                        ha.master_sets("SYNC_MASTER", {"flushDiskType=\"SYNC_FLUSH\"", auth}));

  // Record a real slave link's session through a proxy in front of the replication door; that
  // slave goes away before the real one attaches.
  std::string ha_session;
  {
    recording_proxy ha_proxy(static_cast<uint16_t>(ha.master_port + 1));
    broker_process recorder(
      d, d + "/recorder", free_port(),
      ha.slave_sets("SYNC_FLUSH",
                    {"haMasterAddress=\"127.0.0.1:" + std::to_string(ha_proxy.port()) + "\"",
                     auth}));
    REQUIRE(wait_slaves(d, master.address(), 1));
    recorder.crash();
    ha_session = session_with(ha_proxy.sessions(), "holdfast::ha_hello_req");
  }
  REQUIRE_FALSE(ha_session.empty());
  REQUIRE(wait_slaves(d, master.address(), 0));

  auto slave_port = free_port();
  broker_process slave(d, sstore, slave_port, ha.slave_sets("SYNC_FLUSH", {auth}));
  REQUIRE(wait_slaves(d, master.address(), 1));

  // Record a real `holdfast status` session (hello with the token, then the status request).
  std::string client_session;
  {
    recording_proxy proxy(ha.master_port);
    std::string out;
    REQUIRE(run({bin("holdfast"), "status", "--broker",
                 "127.0.0.1:" + std::to_string(proxy.port()), "--auth-token", token},
                d, out) == 0);
    client_session = session_with(proxy.sessions(), "holdfast::hello_req");
  }
  REQUIRE_FALSE(client_session.empty());
  save(d + "/client.session", client_session);
  save(d + "/ha.session", ha_session);

  // What legitimate clients do: 20 messages, a group that consumes and commits them.
  std::string out;
  REQUIRE(run(produce(master.address(), "legit", 20, d + "/acked"), d, out) == 0);
  REQUIRE(count(slurp(d + "/acked"), "SEND_OK") == 20);
  REQUIRE(run({bin("holdfast"), "consume", "--broker", master.address(), "--topic", "legit",
               "--group", "g", "--from-beginning", "--max", "20", "--auth-token", token},
              d, out, nullptr, 30s)
          == 0);

  auto control = [&](const std::string& session, uint16_t port, std::vector<std::string> what) {
    std::vector<std::string> argv{prober(), "control", d + "/" + session, std::to_string(port)};
    argv.insert(argv.end(), what.begin(), what.end());
    std::string o;
    run(argv, d, o, nullptr, 60s);
    return o;
  };

  // The positive control: the same codec, with the recorded hello kept, is obeyed.
  auto stored = control("client.session", ha.master_port, {"append", "control"});
  INFO("control append: " << stored);
  CHECK(stored.find("append_reply SEND_OK") != std::string::npos);
  auto st = control("client.session", ha.master_port, {"status"});
  INFO("control status: " << st);
  CHECK(st.find("status written=") != std::string::npos);
  auto ha_offsets = control("ha.session", static_cast<uint16_t>(ha.master_port + 1),
                            {"ha-offsets"});
  INFO("control ha-offsets: " << ha_offsets);
  CHECK(ha_offsets.find("ha_offsets_reply offsets=") != std::string::npos);
  REQUIRE(topics(status(d, master.address())) == std::set<std::string>{"control", "legit"});

  auto offsets_before = control("client.session", ha.master_port, {"fetch-offset", "g", "legit"});
  REQUIRE(count(offsets_before, "found=1") == 4);
  auto written_before = status_field(d, master.address(), "written", token);
  REQUIRE(written_before > 0);
  const replica m{master.address(), mstore}, s{"127.0.0.1:" + std::to_string(slave_port), sstore};
  REQUIRE(wait_identical(d, m, s, 30s, token) == "");
  auto slave_written_before = status_field(d, s.address, "written", token);

  // The attack: both doors of both brokers.
  struct target {
    const char* what;
    std::string session;
    uint16_t port;
    uint16_t broker_port;
  };
  const target targets[] = {
    {"master client door", "client.session", ha.master_port, ha.master_port},
    {"master replication door", "ha.session", static_cast<uint16_t>(ha.master_port + 1),
     ha.master_port},
    {"slave client door", "client.session", slave_port, slave_port},
    {"slave replication door", "ha.session", static_cast<uint16_t>(slave_port + 1), slave_port},
  };
  for (auto& t : targets) {
    std::string report;
    auto code = run({prober(), "attack", d + "/" + t.session, std::to_string(t.port),
                     std::to_string(t.broker_port), std::to_string(t.broker_port + 1)},
                    d, report, nullptr, 120s);
    INFO(t.what << ":\n" << report.substr(0, 6000));
    CHECK(code == 0);
    CHECK(report.find("VALUE") == std::string::npos);
    CHECK(report.find("LOST") == std::string::npos);
    CHECK(report.find(" values 0 lost 0") != std::string::npos);
    // The attack reached both lines: the guard closed connections, the door refused requests.
    std::smatch m;
    REQUIRE(std::regex_search(report, m, std::regex("closed ([0-9]+) answered ([0-9]+)")));
    CHECK(std::stoull(m[1].str()) > 0);
    CHECK(std::stoull(m[2].str()) > 0);
    REQUIRE(master.proc().running());
    REQUIRE(slave.proc().running());
  }

  // No effect: nothing stored, no topic, no slave, no cut, no moved offset, no shutdown.
  CHECK(status_field(d, master.address(), "written", token) == written_before);
  // A truncation would be copied back over, so the slave's end is checked before any send.
  CHECK(status_field(d, s.address, "written", token) == slave_written_before);
  auto after = status(d, master.address());
  CHECK(topics(after) == std::set<std::string>{"control", "legit"});
  CHECK(count(after, "\nslave ") == 1);
  CHECK(control("client.session", ha.master_port, {"fetch-offset", "g", "legit"})
        == offsets_before);
  REQUIRE(run(produce(master.address(), "legit", 10, d + "/acked2"), d, out) == 0);
  CHECK(count(slurp(d + "/acked2"), "SEND_OK") == 10);
  CHECK(wait_identical(d, m, s, 30s, token) == "");
  CHECK(slave.stop() == 0);
  CHECK(master.stop() == 0);
}
