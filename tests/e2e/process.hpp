#pragma once

// Multi-process test support: start the real binaries on 127.0.0.1, find free ports, stop
// processes by PID. Nothing here leaves loopback.

#include <algorithm>
#include <arpa/inet.h>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <map>
#include <netinet/in.h>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace holdfast::e2e {

inline std::string bin(const std::string& name) {
  return std::string(HOLDFAST_BIN_DIR) + "/" + name;
}

inline std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// A port nobody listens on right now, whose next port is free too: a broker's replication
/// door listens on listenPort + 1 unless told otherwise (bind both, read, close).
/// Two consecutive free loopback ports (a broker's listenPort and its replication door at
/// listenPort + 1); returns the first. Picked below the kernel's ephemeral range: a port the
/// kernel hands out as the source of some test's outgoing connection (ip_local_port_range)
/// could otherwise be taken between this check and the broker's bind.
inline uint16_t free_port() {
  unsigned low = 32768, high = 60999;
  if (std::ifstream range{"/proc/sys/net/ipv4/ip_local_port_range"}; range)
    range >> low >> high;
  unsigned first = 10000, last = low > first + 1000 ? low - 2 : 0;
  if (last == 0) { // an unusual range: above it instead
    first = high + 1;
    last = 65533;
  }
  static std::mt19937 rng{std::random_device{}()};
  auto try_bind = [](int fd, uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    return ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  };
  for (int attempt = 0; attempt < 1000; ++attempt) {
    auto port = static_cast<uint16_t>(first + rng() % (last - first + 1));
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    int next = ::socket(AF_INET, SOCK_STREAM, 0);
    bool both = try_bind(fd, port) && try_bind(next, static_cast<uint16_t>(port + 1));
    ::close(next);
    ::close(fd);
    if (both)
      return port;
  }
  throw std::runtime_error("no two consecutive free ports");
}


/// Waits until each of the `acked` files (holdfast produce --acked) holds an answer: the
/// producers are connected and under load. Crash tests inject their fault after this, so that a
/// slow start (an AddressSanitizer build) does not turn "a crash mid-load" into "a crash before
/// anyone connected". False when `within` passed first.
inline bool wait_answered(const std::vector<std::string>& acked, std::chrono::seconds within) {
  auto until = std::chrono::steady_clock::now() + within;
  for (;;) {
    bool all = true;
    for (auto& a : acked) {
      std::ifstream f(a);
      std::string line;
      all = all && static_cast<bool>(std::getline(f, line));
    }
    if (all)
      return true;
    if (std::chrono::steady_clock::now() > until)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

/// The shared secret of the master/slave pairs the tests start (replication needs one).
inline const char* ha_token_set = "haAuthToken=\"e2e-secret\"";

/// A child process with stdout and stderr in files. Killed (SIGKILL) on destruction if still
/// running, so a failing test leaves nothing behind.
class child {
public:
  /// `env`: "NAME=value" entries set in the child only (LD_PRELOAD of libfaketime, ...).
  child(std::vector<std::string> argv, const std::string& out, const std::string& err,
        const std::vector<std::string>& env = {})
    : out_(out), err_(err) {
    pid_ = ::fork();
    if (pid_ == 0) {
      int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(o, 1);
      ::dup2(e, 2);
      for (auto& kv : env)
        ::putenv(const_cast<char*>(kv.c_str())); // the child's own copy of `env`; exec follows
      std::vector<char*> args;
      for (auto& a : argv)
        args.push_back(a.data());
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    if (pid_ < 0)
      throw std::runtime_error("fork failed");
  }
  child(const child&) = delete;
  child& operator=(const child&) = delete;
  ~child() {
    if (running())
      signal(SIGKILL);
    wait();
  }

  bool running() {
    if (done_)
      return false;
    int status = 0;
    auto r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      done_ = true;
      code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return false;
    }
    return true;
  }

  void signal(int sig) {
    if (!done_)
      ::kill(pid_, sig);
  }

  /// Waits for the exit and returns the exit code (128 + signal when killed), or -1 when
  /// `timeout` passed first.
  int wait(std::chrono::milliseconds timeout = std::chrono::minutes(5)) {
    auto until = std::chrono::steady_clock::now() + timeout;
    while (running()) {
      if (std::chrono::steady_clock::now() >= until)
        return -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return code_;
  }

  std::string out() const {
    return slurp(out_);
  }
  std::string err() const {
    return slurp(err_);
  }
  pid_t pid() const {
    return pid_;
  }

private:
  pid_t pid_ = -1;
  bool done_ = false;
  int code_ = -1;
  std::string out_, err_;
};

/// Runs a command to completion; returns its exit code and fills `out`.
inline int run(std::vector<std::string> argv, const std::string& dir, std::string& out,
               std::string* err = nullptr,
               std::chrono::milliseconds timeout = std::chrono::minutes(3)) {
  static int n = 0;
  auto base = dir + "/run" + std::to_string(++n);
  child c(std::move(argv), base + ".out", base + ".err");
  int code = c.wait(timeout);
  out = c.out();
  if (err)
    *err = c.err();
  return code;
}

/// A holdfast-broker process on 127.0.0.1:port with its store in `store`.
class broker_process {
public:
  /// `args`: further command-line arguments (the --fault-... testing flags); `env`: variables
  /// for the broker's process only (see child); `prefix`: a command that execs the broker in
  /// the same process (e.g. {"/usr/bin/prlimit", "--nofile=256:256", "--"}), so the PID is
  /// still the broker's.
  broker_process(const std::string& dir, const std::string& store, uint16_t port,
                 std::vector<std::string> sets = {}, std::vector<std::string> args = {},
                 const std::vector<std::string>& env = {},
                 const std::vector<std::string>& prefix = {})
    : port_(port) {
    static int n = 0;
    std::vector<std::string> argv = prefix;
    for (auto a : {bin("holdfast-broker"), std::string("--set"),
                   "listenPort=" + std::to_string(port), std::string("--set"),
                   "storePathRootDir=\"" + store + "\""})
      argv.push_back(a);
    argv.insert(argv.end(), args.begin(), args.end());
    for (auto& s : sets) {
      argv.push_back("--set");
      argv.push_back(s);
    }
    auto base = dir + "/broker" + std::to_string(++n);
    proc_ = std::make_unique<child>(argv, base + ".out", base + ".err", env);
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (proc_->out().find("listening on") == std::string::npos) {
      if (!proc_->running() || std::chrono::steady_clock::now() > until)
        throw std::runtime_error("broker did not start: " + proc_->err());
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  std::string address() const {
    return "127.0.0.1:" + std::to_string(port_);
  }
  /// Where its slaves attach (the replication door: listenPort + 1).
  std::string ha_address() const {
    return "127.0.0.1:" + std::to_string(port_ + 1);
  }
  child& proc() {
    return *proc_;
  }
  /// SIGTERM and wait: a clean stop.
  int stop() {
    proc_->signal(SIGTERM);
    return proc_->wait(std::chrono::seconds(30));
  }
  /// SIGKILL: a crash.
  void crash() {
    proc_->signal(SIGKILL);
    proc_->wait(std::chrono::seconds(30));
  }

private:
  uint16_t port_;
  std::unique_ptr<child> proc_;
};

/// One master and its slave: the one place that says how they find and trust each other, so the
/// --set lists of both come from here (a replication port or a shared token is added here, once).
/// Each pair has its own brokerName, random too because ports are reused by tests running in
/// parallel: a slave left over from another test, retrying an old port, never attaches here.
struct ha_pair {
  uint16_t master_port = free_port();
  std::string name =
    "b" + std::to_string(master_port) + "-" + std::to_string(std::random_device{}());

  /// What the slave replicates from: the master's replication door (listenPort + 1).
  std::string replication_address() const {
    return "127.0.0.1:" + std::to_string(master_port + 1);
  }
  /// The master's --set list: its role ("ASYNC_MASTER", "SYNC_MASTER"), then `extra`.
  std::vector<std::string> master_sets(const std::string& role,
                                       std::vector<std::string> extra = {}) const {
    std::vector<std::string> s{"brokerRole=\"" + role + "\"", "brokerName=\"" + name + "\"",
                               ha_token_set};
    s.insert(s.end(), extra.begin(), extra.end());
    return s;
  }
  /// The slave's --set list with its flushDiskType, then `extra` (a later --set of a key wins).
  std::vector<std::string> slave_sets(const std::string& flush,
                                      std::vector<std::string> extra = {}) const {
    std::vector<std::string> s{"brokerRole=\"SLAVE\"", "brokerName=\"" + name + "\"",
                               "haMasterAddress=\"" + replication_address() + "\"",
                               "flushDiskType=\"" + flush + "\"", "haSendHeartbeatInterval=500",
                               ha_token_set};
    s.insert(s.end(), extra.begin(), extra.end());
    return s;
  }
};

/// A fresh directory under /tmp, removed afterwards.
class temp_dir {
public:
  temp_dir() {
    char tmpl[] = "/tmp/holdfast-e2e.XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~temp_dir() {
    // HOLDFAST_KEEP_TMP=1 keeps the stores and logs of a failing run to look at.
    if (std::getenv("HOLDFAST_KEEP_TMP") != nullptr)
      return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const {
    return path_;
  }

private:
  std::string path_;
};

/// How often `needle` occurs in `s` (result lines of an --acked file, ...).
inline size_t count(const std::string& s, const std::string& needle) {
  size_t n = 0;
  for (size_t pos = 0; (pos = s.find(needle, pos)) != std::string::npos; pos += needle.size())
    ++n;
  return n;
}

/// One numeric field of `holdfast status` ("written", "flushed", ...); -1 when unavailable.
inline long long status_field(const std::string& dir, const std::string& addr,
                              const std::string& key, const std::string& token = "") {
  std::string out;
  std::vector<std::string> argv{bin("holdfast"), "status", "--broker", addr};
  if (!token.empty()) {
    argv.push_back("--auth-token");
    argv.push_back(token);
  }
  if (run(argv, dir, out) != 0)
    return -1;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key + " ", 0) == 0)
      return std::stoll(line.substr(key.size()));
  return -1;
}

/// A broker of a pair as the checks see it: where it answers and where its store lies.
struct replica {
  std::string address;
  std::string store;
};

// The commit log of `store` below `end`, by segment (base offset -> bytes).
inline std::map<uint64_t, std::string> log_below(const std::string& store, uint64_t end) {
  std::map<uint64_t, std::string> out;
  std::error_code ec;
  for (auto& e : std::filesystem::directory_iterator(store + "/commitlog", ec)) {
    auto name = e.path().filename().string();
    if (name.size() != 20 || name.find_first_not_of("0123456789") != std::string::npos)
      continue;
    auto base = std::stoull(name);
    if (base < end)
      out[base] = slurp(e.path().string()).substr(0, end - base);
  }
  return out;
}

// Where two commit logs differ below `end`; empty when they are byte-identical there.
inline std::string log_difference(const std::string& a_store, const std::string& b_store,
                                  uint64_t end) {
  auto a = log_below(a_store, end), b = log_below(b_store, end);
  std::ostringstream why;
  for (auto& [base, bytes] : a) {
    auto it = b.find(base);
    if (it == b.end()) {
      why << "segment " << base << " missing on the slave";
      return why.str();
    }
    auto& other = it->second;
    auto n = std::min(bytes.size(), other.size());
    auto diff = std::mismatch(bytes.begin(), bytes.begin() + static_cast<ptrdiff_t>(n),
                              other.begin());
    if (diff.first != bytes.begin() + static_cast<ptrdiff_t>(n)) {
      why << "bytes differ from commit-log offset " << base + (diff.first - bytes.begin());
      return why.str();
    }
    if (bytes.size() != other.size()) {
      why << "segment " << base << " holds " << bytes.size() << " bytes below " << end
          << " on the master, " << other.size() << " on the slave";
      return why.str();
    }
  }
  if (a.size() != b.size())
    why << a.size() << " segments below " << end << " on the master, " << b.size()
        << " on the slave";
  return why.str();
}

// Waits until the slave holds exactly the master's commit log: as many bytes written, and the
// same bytes (equal offsets alone also match when the slave kept a tail the master never had
// and then copied on after it). Empty when it does within `within`; else what still differed.
inline std::string wait_identical(const std::string& dir, const replica& master,
                                  const replica& slave,
                                  std::chrono::seconds within = std::chrono::seconds(30),
                                  const std::string& token = "") {
  auto until = std::chrono::steady_clock::now() + within;
  std::string why = "no status answer";
  for (;;) {
    auto m = status_field(dir, master.address, "written", token);
    auto s = status_field(dir, slave.address, "written", token);
    if (m >= 0 && m == s) {
      why = log_difference(master.store, slave.store, static_cast<uint64_t>(m));
      if (why.empty())
        return {};
    } else if (m >= 0 && s >= 0) {
      why = "written " + std::to_string(m) + " on the master, " + std::to_string(s)
            + " on the slave";
    }
    if (std::chrono::steady_clock::now() >= until)
      return "not identical after " + std::to_string(within.count()) + " s: " + why;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

/// The last line of `holdfast verify`'s output.
inline std::string last_line(const std::string& s) {
  auto t = s;
  while (!t.empty() && t.back() == '\n')
    t.pop_back();
  auto pos = t.rfind('\n');
  return pos == std::string::npos ? t : t.substr(pos + 1);
}

} // namespace holdfast::e2e
