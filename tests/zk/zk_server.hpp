#pragma once

// A real standalone ZooKeeper server for tests: Debian's `zookeeper` package (scripts/install-deps)
// started with java on a free 127.0.0.1 port, its data in a directory the test owns, stopped by
// PID. Restartable on the same port and data directory, so a test can take ZooKeeper away and
// bring it back ("ZooKeeper restarted" in docs/failover.md). Nothing here leaves loopback.
//
// A machine without java or the server jar cannot run these tests: zk_server::unavailable()
// says why, and the test reports itself skipped (tests/skip.hpp), never passed.

#include "tests/e2e/process.hpp"

#include <arpa/inet.h>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

namespace holdfast::test {

class zk_server {
public:
  /// Debian's paths: the server jar names its dependencies in its manifest's Class-Path.
  static constexpr const char* server_jar = "/usr/share/java/zookeeper.jar";
  /// slf4j's simple binding (libslf4j-java, a dependency of zookeeper): the server's log lines
  /// in its stderr file instead of nowhere. Optional.
  static constexpr const char* log_binding = "/usr/share/java/slf4j-simple.jar";
  /// One tick is the unit of the server's session bookkeeping: sessions are checked for
  /// expiry every tick and may time out after 2 ticks at the least. 200 ms lets tests use
  /// session timeouts of about a second (the broker's default is 6 s).
  static constexpr int tick_ms = 200;

  /// Why no server can be started here (no java, no server jar), or empty.
  static std::string unavailable() {
    if (java().empty())
      return "no java runtime (scripts/install-deps installs zookeeper, which brings one)";
    if (!std::filesystem::exists(server_jar))
      return std::string("no ") + server_jar + " (scripts/install-deps installs zookeeper)";
    return {};
  }

  /// A server whose files live in `dir` (zoo.cfg, data/, logs); not started yet. The port is
  /// chosen now and kept for restarts.
  explicit zk_server(std::string dir) : dir_(std::move(dir)), port_(e2e::free_port()) {}
  zk_server(const zk_server&) = delete;
  zk_server& operator=(const zk_server&) = delete;
  ~zk_server() {
    kill();
  }

  /// Starts the server and waits until it answers a client handshake (`within`). False, with
  /// the reason and the tail of its log in `why`, when it did not.
  bool start(std::string& why, std::chrono::seconds within = std::chrono::seconds(60)) {
    if (proc_ && proc_->running()) {
      why = "already running";
      return false;
    }
    write_config();
    auto began = std::chrono::steady_clock::now();
    std::string cp = server_jar;
    if (std::filesystem::exists(log_binding))
      cp += std::string(":") + log_binding;
    // A small heap and the serial collector: a test server holds a few nodes, and on a shared
    // 2-core machine a JVM that sizes itself for the machine starts slower and takes more.
    std::vector<std::string> argv{java(),
                                  "-Xmx128m",
                                  "-XX:+UseSerialGC",
                                  "-XX:TieredStopAtLevel=1",
                                  "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
                                  "-Dzookeeper.jmx.log4j.disable=true",
                                  "-cp",
                                  cp,
                                  "org.apache.zookeeper.server.ZooKeeperServerMain",
                                  dir_ + "/zoo.cfg"};
    ++starts_;
    auto base = dir_ + "/zookeeper" + std::to_string(starts_);
    proc_ = std::make_unique<e2e::child>(argv, base + ".out", base + ".err");
    auto until = began + within;
    for (;;) {
      if (answers()) {
        start_time_ = std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - began);
        return true;
      }
      if (!proc_->running() || std::chrono::steady_clock::now() > until) {
        why = "zookeeper did not answer on " + connect_string() + " within "
              + std::to_string(within.count()) + " s (exit "
              + std::to_string(proc_->running() ? -1 : proc_->wait()) + "): "
              + tail(proc_->err(), 1500);
        kill();
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  /// SIGTERM, and SIGKILL if it has not exited within 10 s. Its data stays for a restart.
  void stop() {
    if (!proc_)
      return;
    proc_->signal(SIGCONT); // a paused server cannot act on SIGTERM
    proc_->signal(SIGTERM);
    if (proc_->wait(std::chrono::seconds(10)) == -1)
      kill();
    proc_.reset();
  }
  /// SIGKILL: a crash. What it acknowledged is on disk (it fsyncs its transaction log).
  void kill() {
    if (!proc_)
      return;
    proc_->signal(SIGKILL);
    proc_->wait(std::chrono::seconds(30));
    proc_.reset();
  }
  /// SIGSTOP / SIGCONT: a server that is there but answers nothing (a frozen JVM).
  void pause() {
    if (proc_)
      proc_->signal(SIGSTOP);
  }
  void resume() {
    if (proc_)
      proc_->signal(SIGCONT);
  }

  [[nodiscard]] std::string connect_string() const {
    return "127.0.0.1:" + std::to_string(port_);
  }
  [[nodiscard]] uint16_t port() const {
    return port_;
  }
  /// From exec to the first answered handshake, of the last start().
  [[nodiscard]] std::chrono::milliseconds start_time() const {
    return start_time_;
  }

  /// Whether the server completes a client handshake now: a ConnectRequest answered by a
  /// ConnectResponse. An open port alone is not enough: the server accepts connections
  /// before it has loaded its data, and closes them until it has. The session the handshake
  /// opens is closed right away.
  [[nodiscard]] bool answers() const {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
      return false;
    timeval tv{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port_);
    bool ok = false;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) {
      // ZooKeeper's jute encoding, big-endian: protocolVersion, lastZxidSeen, timeOut,
      // sessionId, passwd (length + 16 bytes), readOnly; framed by a 4-byte length.
      std::string req;
      put32(req, 45);
      put32(req, 0);
      put64(req, 0);
      put32(req, 2 * tick_ms);
      put64(req, 0);
      put32(req, 16);
      req.append(16, '\0');
      req.push_back('\0');
      std::string resp;
      if (send_all(fd, req) && recv_n(fd, resp, 4)) {
        uint32_t len = get32(resp, 0);
        // protocolVersion, timeOut, sessionId, passwd: at least 36 bytes.
        if (len >= 36 && len < 4096 && recv_n(fd, resp, len)) {
          ok = true;
          std::string close_req; // RequestHeader{xid 1, type closeSession (-11)}
          put32(close_req, 8);
          put32(close_req, 1);
          put32(close_req, static_cast<uint32_t>(-11));
          if (send_all(fd, close_req))
            recv_n(fd, resp, 4); // its answer, or the server closing: either is fine
        }
      }
    }
    ::close(fd);
    return ok;
  }

private:
  static std::string java() {
    if (auto* home = std::getenv("JAVA_HOME"); home != nullptr && *home != '\0') {
      auto p = std::string(home) + "/bin/java";
      if (::access(p.c_str(), X_OK) == 0)
        return p;
    }
    for (const char* p : {"/usr/bin/java", "/usr/local/bin/java"})
      if (::access(p, X_OK) == 0)
        return p;
    return {};
  }

  void write_config() const {
    std::filesystem::create_directories(dir_ + "/data");
    std::ofstream cfg(dir_ + "/zoo.cfg", std::ios::trunc);
    cfg << "tickTime=" << tick_ms << "\n"
        << "dataDir=" << dir_ << "/data\n"
        << "clientPort=" << port_ << "\n"
        << "clientPortAddress=127.0.0.1\n"
        // A test may ask for the broker's 6 s default: the default maximum is 20 ticks.
        << "maxSessionTimeout=60000\n"
        // Nothing but the client port: no AdminServer (an HTTP port of its own, 8080 by
        // default) and no four-letter-word commands.
        << "admin.enableServer=false\n"
        << "4lw.commands.whitelist=\n"
        // 4 MiB instead of 64 MiB preallocated per transaction log file.
        << "preAllocSize=4096\n";
  }

  static void put32(std::string& s, uint32_t v) {
    v = htonl(v);
    s.append(reinterpret_cast<const char*>(&v), 4);
  }
  static void put64(std::string& s, uint64_t v) {
    put32(s, static_cast<uint32_t>(v >> 32));
    put32(s, static_cast<uint32_t>(v));
  }
  static uint32_t get32(const std::string& s, size_t at) {
    uint32_t v;
    std::memcpy(&v, s.data() + at, 4);
    return ntohl(v);
  }
  static bool send_all(int fd, const std::string& s) {
    size_t done = 0;
    while (done < s.size()) {
      auto n = ::send(fd, s.data() + done, s.size() - done, MSG_NOSIGNAL);
      if (n <= 0)
        return false;
      done += static_cast<size_t>(n);
    }
    return true;
  }
  static bool recv_n(int fd, std::string& out, size_t n) {
    out.resize(n);
    size_t done = 0;
    while (done < n) {
      auto r = ::recv(fd, out.data() + done, n - done, 0);
      if (r <= 0)
        return false;
      done += static_cast<size_t>(r);
    }
    return true;
  }
  static std::string tail(const std::string& s, size_t n) {
    return s.size() <= n ? s : s.substr(s.size() - n);
  }

  std::string dir_;
  uint16_t port_;
  int starts_ = 0;
  std::unique_ptr<e2e::child> proc_;
  std::chrono::milliseconds start_time_{0};
};

} // namespace holdfast::test
