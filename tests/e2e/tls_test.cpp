// TLS on both doors (docs/security.md): real brokers, real clients, real certificates made by
// scripts/gen-certs into each test's own directory.

#include "process.hpp"
#include "recording_proxy.hpp"

#include <catch2/catch.hpp>

#include <array>

using namespace holdfast::e2e;
using namespace std::chrono_literals;

namespace {

// scripts/gen-certs into DIR/certs: ca, server, client, other-host, foreign-ca, foreign.
struct certs {
  std::string dir;
  explicit certs(const std::string& parent) : dir(parent + "/certs") {
    std::string out, err;
    int code = run({"/bin/bash", std::string(HOLDFAST_SOURCE_DIR) + "/scripts/gen-certs", dir},
                   parent, out, &err);
    if (code != 0)
      throw std::runtime_error("scripts/gen-certs failed: " + err);
  }
  std::string pem(const std::string& name) const {
    return dir + "/" + name + ".pem";
  }
  std::string key(const std::string& name) const {
    return dir + "/" + name + ".key";
  }
  /// The broker's --set list for `mode` with certificate `server` ("server", "foreign", ...).
  std::vector<std::string> broker(const std::string& mode, const std::string& server = "server",
                                  bool trust = true) const {
    std::vector<std::string> s{"tlsMode=\"" + mode + "\"",
                               "tlsServerCertPath=\"" + pem(server) + "\"",
                               "tlsServerKeyPath=\"" + key(server) + "\""};
    if (trust)
      s.push_back("tlsServerTrustCertPath=\"" + pem("ca") + "\"");
    return s;
  }
  /// The client flags of the `holdfast` commands with certificate `who`.
  std::vector<std::string> client(const std::string& who = "client") const {
    return {"--tls", "--tls-ca", pem("ca"), "--tls-cert", pem(who), "--tls-key", key(who)};
  }
};

using args = std::vector<std::string>;

std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::vector<std::string> produce(const std::string& addr, const std::string& topic, int count,
                                 const std::string& acked) {
  return {bin("holdfast"), "produce", "--broker", addr, "--topic", topic,
          "--count", std::to_string(count), "--inflight", "8", "--acked", acked, "--size", "300"};
}

std::vector<std::string> verify(const std::string& addr, const std::string& topic,
                                const std::string& acked) {
  return {bin("holdfast"), "verify", "--broker", addr, "--topic", topic, "--acked", acked};
}

// The BASP headers that crash a bare CAF 0.17.6 (a kind that needs a payload, announcing none):
// the guard's frame check refuses them when it gets to parse them (docs/hostile-input.md).
std::string crashing_headers() {
  std::string out;
  for (unsigned char kind = 0; kind <= 3; ++kind) {
    std::array<char, 32> h{};
    h[0] = static_cast<char>(kind);
    out.append(h.data(), h.size());
  }
  return out;
}

// Sends `bytes` on a fresh connection and waits until the broker closes it (or 10 s pass).
void send_and_wait_close(uint16_t port, const std::string& bytes) {
  int fd = connect_loopback(port);
  REQUIRE(fd >= 0);
  (void) ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char buf[512];
  while (::recv(fd, buf, sizeof buf, 0) > 0) {
  }
  ::close(fd);
}

} // namespace

TEST_CASE("under enforcing, producers and consumers work over TLS and lose no SEND_OK",
          "[tls]") {
  temp_dir dir;
  certs c(dir.path());
  broker_process b(dir.path(), dir.path() + "/store", free_port(),
                   c.broker("enforcing") + std::vector<std::string>{"flushDiskType=\"SYNC_FLUSH\""});
  auto acked = dir.path() + "/acked";
  std::string out, err;
  REQUIRE(run(produce(b.address(), "tls", 200, acked) + c.client(), dir.path(), out, &err) == 0);
  CHECK(count(slurp(acked), " SEND_OK ") == 200);
  INFO(err);
  CHECK(run(verify(b.address(), "tls", acked) + c.client(), dir.path(), out) == 0);
  CHECK(last_line(out).rfind("missing=0 duplicated=0 ", 0) == 0);
  CHECK(run(args{bin("holdfast"), "consume", "--broker", b.address(), "--topic", "tls",
             "--from-beginning", "--max", "200", "--print", "none", "--idle-exit-ms", "5000"}
              + c.client(),
            dir.path(), out)
        == 0);
  CHECK(run(args{bin("holdfast"), "status", "--broker", b.address()} + c.client(), dir.path(), out)
        == 0);
  CHECK(out.find("written") != std::string::npos);
  CHECK(run(args{bin("holdfast"), "admin", "updateTopic", "--broker", b.address(), "--topic",
                 "made", "--queues", "2"}
              + c.client(),
            dir.path(), out)
        == 0);
  CHECK(out.find("topic made queues 2") != std::string::npos);
  CHECK(b.stop() == 0);
}

TEST_CASE("under enforcing, a plaintext peer is refused before any BASP byte is parsed",
          "[tls][hostile]") {
  temp_dir dir;
  certs c(dir.path());
  auto port = free_port();
  broker_process b(dir.path(), dir.path() + "/store", port, c.broker("enforcing"));
  std::string out, err;
  // A plaintext CAF client: its BASP handshake never reaches the middleman.
  CHECK(run(produce(b.address(), "plain", 3, dir.path() + "/a0"), dir.path(), out, &err) == 1);
  CHECK(err.find("cannot connect") != std::string::npos);
  // Headers that the BASP frame check refuses ("dropped the connection ...") when it parses
  // them: here the TLS check refuses the connection first, on both doors.
  send_and_wait_close(port, crashing_headers());
  send_and_wait_close(static_cast<uint16_t>(port + 1), crashing_headers());
  // A silent peer (a plaintext client that waits for the broker to speak) is refused too.
  send_and_wait_close(port, "");
  auto log = b.proc().err();
  INFO(log);
  CHECK(count(log, "before BASP: plain text (first byte 0x01") == 1); // the CAF client
  CHECK(count(log, "before BASP: plain text (first byte 0x00") == 2); // the raw headers
  CHECK(count(log, "before BASP: sent nothing within") == 1);
  CHECK(count(log, "dropped the connection") == 0); // the BASP parser saw nothing
  // The broker still serves TLS clients.
  REQUIRE(run(produce(b.address(), "plain", 3, dir.path() + "/a1") + c.client(), dir.path(), out)
          == 0);
  CHECK(count(slurp(dir.path() + "/a1"), " SEND_OK ") == 3);
  CHECK(b.stop() == 0);
}

TEST_CASE("a client whose certificate another CA signed is refused when client auth is required",
          "[tls][hostile]") {
  temp_dir dir;
  certs c(dir.path());
  auto sets = GENERATE(std::vector<std::string>{"enforcing"},
                       std::vector<std::string>{"permissive", "tlsServerNeedClientAuth=true"});
  INFO("tlsMode " << sets[0]);
  auto extra = std::vector<std::string>(sets.begin() + 1, sets.end());
  broker_process b(dir.path(), dir.path() + "/store", free_port(), c.broker(sets[0]) + extra);
  std::string out, err;
  CHECK(run(produce(b.address(), "auth", 3, dir.path() + "/a0") + c.client("foreign"), dir.path(),
            out, &err)
        == 1);
  CHECK(slurp(dir.path() + "/a0").empty());
  auto log = b.proc().err();
  INFO(log);
  CHECK(count(log, "before BASP: TLS handshake failed") == 1);
  CHECK(log.find("certificate verify failed") != std::string::npos);
  // The client of the trusted CA gets in.
  CHECK(run(produce(b.address(), "auth", 3, dir.path() + "/a1") + c.client(), dir.path(), out)
        == 0);
  CHECK(count(slurp(dir.path() + "/a1"), " SEND_OK ") == 3);
  CHECK(b.stop() == 0);
}

TEST_CASE("without client auth a permissive broker takes any client certificate",
          "[tls]") {
  // The control of the test above: there, the refusal comes from the client-auth setting.
  temp_dir dir;
  certs c(dir.path());
  broker_process b(dir.path(), dir.path() + "/store", free_port(),
                   c.broker("permissive", "server", false));
  std::string out;
  CHECK(run(produce(b.address(), "any", 3, dir.path() + "/a0") + c.client("foreign"), dir.path(),
            out)
        == 0);
  CHECK(count(slurp(dir.path() + "/a0"), " SEND_OK ") == 3);
  CHECK(b.stop() == 0);
}

TEST_CASE("permissive accepts TLS and plaintext clients on the same port", "[tls]") {
  temp_dir dir;
  certs c(dir.path());
  auto port = free_port();
  broker_process b(dir.path(), dir.path() + "/store", port, c.broker("permissive"));
  std::string out;
  auto t0 = std::chrono::steady_clock::now();
  REQUIRE(run(produce(b.address(), "mixed", 50, dir.path() + "/plain"), dir.path(), out) == 0);
  // A plaintext CAF client speaks first (its BASP handshake), so it is not kept waiting for
  // the permissive window.
  CHECK(std::chrono::steady_clock::now() - t0 < 5s);
  REQUIRE(run(produce(b.address(), "mixed", 50, dir.path() + "/tls") + c.client(), dir.path(),
              out)
          == 0);
  CHECK(count(slurp(dir.path() + "/plain"), " SEND_OK ") == 50);
  CHECK(count(slurp(dir.path() + "/tls"), " SEND_OK ") == 50);
  for (auto acked : {"/plain", "/tls"}) {
    CHECK(run(verify(b.address(), "mixed", dir.path() + acked), dir.path(), out) == 0);
    CHECK(last_line(out).rfind("missing=0 ", 0) == 0);
  }
  // The BASP guard still checks the decrypted and the plaintext streams alike.
  send_and_wait_close(port, crashing_headers());
  CHECK(count(b.proc().err(), "dropped the connection") == 1);
  CHECK(b.stop() == 0);
}

TEST_CASE("a SYNC_MASTER and its SLAVE replicate over TLS: SEND_OK means the slave has it",
          "[tls][replication]") {
  temp_dir dir;
  certs c(dir.path());
  ha_pair ha;
  auto master = std::make_unique<broker_process>(
    dir.path(), dir.path() + "/m", ha.master_port,
    ha.master_sets("SYNC_MASTER", c.broker("enforcing") + std::vector<std::string>{
                                                             "flushDiskType=\"SYNC_FLUSH\""}));
  broker_process slave(dir.path(), dir.path() + "/s", free_port(),
                       ha.slave_sets("SYNC_FLUSH", c.broker("enforcing")));
  std::string out;
  auto attached = [&] {
    for (int i = 0; i < 200; ++i) {
      if (run(args{bin("holdfast"), "status", "--broker", master->address()} + c.client(),
              dir.path(), out)
            == 0
          && out.find("\nslave ") != std::string::npos)
        return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  };
  REQUIRE(attached());
  auto acked = dir.path() + "/acked";
  REQUIRE(run(produce(master->address(), "ha", 300, acked) + c.client(), dir.path(), out) == 0);
  CHECK(count(slurp(acked), " SEND_OK ") == 300);
  master->crash(); // whatever the slave has now, it had when the sends were answered
  CHECK(run(verify(slave.address(), "ha", acked) + c.client(), dir.path(), out) == 0);
  CHECK(last_line(out).rfind("missing=0 ", 0) == 0);
  CHECK(slave.stop() == 0);
}

TEST_CASE("a slave whose certificate another CA signed cannot attach to an enforcing master",
          "[tls][replication][hostile]") {
  temp_dir dir;
  certs c(dir.path());
  ha_pair ha;
  broker_process master(dir.path(), dir.path() + "/m", ha.master_port,
                        ha.master_sets("SYNC_MASTER", c.broker("enforcing")));
  broker_process slave(dir.path(), dir.path() + "/s", free_port(),
                       ha.slave_sets("ASYNC_FLUSH", c.broker("enforcing", "foreign")));
  std::this_thread::sleep_for(2s); // the slave tries (and retries) meanwhile
  std::string out;
  REQUIRE(run(produce(master.address(), "ha", 1, dir.path() + "/a") + c.client(), dir.path(), out)
          == 0);
  CHECK(count(slurp(dir.path() + "/a"), " SLAVE_NOT_AVAILABLE ") == 1);
  auto log = master.proc().err();
  INFO(log);
  CHECK(log.find("before BASP: TLS handshake failed") != std::string::npos);
  CHECK(log.find("authenticated") == std::string::npos);
}

TEST_CASE("CAF's TLS client checks the broker's certificate against its CA but not its host name",
          "[tls]") {
  temp_dir dir;
  certs c(dir.path());
  std::string out, err;
  {
    broker_process b(dir.path(), dir.path() + "/s1", free_port(),
                     c.broker("enforcing", "foreign"));
    CHECK(run(produce(b.address(), "id", 1, dir.path() + "/a0") + c.client(), dir.path(), out,
              &err)
          == 1);
    // The client hung up on the broker's certificate: OpenSSL's alert reaches the guard.
    CHECK(b.proc().err().find("unknown ca") != std::string::npos);
  }
  {
    // Signed by the trusted CA for elsewhere.invalid only, reached as 127.0.0.1: accepted.
    broker_process b(dir.path(), dir.path() + "/s2", free_port(),
                     c.broker("enforcing", "other-host"));
    CHECK(run(produce(b.address(), "id", 1, dir.path() + "/a1") + c.client(), dir.path(), out)
          == 0);
    CHECK(count(slurp(dir.path() + "/a1"), " SEND_OK ") == 1);
  }
}

TEST_CASE("TLS with a missing, unreadable or mismatched file is a clear error, never a crash",
          "[tls][config]") {
  temp_dir dir;
  certs c(dir.path());
  auto garbage = dir.path() + "/garbage.pem";
  std::ofstream(garbage) << "not a certificate\n";
  // By index: each case runs in a fresh directory, so the paths are made inside the case.
  auto which = GENERATE(range(0, 6));
  auto encrypted = dir.path() + "/encrypted.key"; // a daemon must not prompt for a passphrase
  {
    std::string o;
    REQUIRE(run({"/usr/bin/openssl", "pkey", "-in", c.key("server"), "-aes256", "-passout",
                 "pass:secret", "-out", encrypted},
                dir.path(), o)
            == 0);
  }
  auto files = [&](const std::string& cert, const std::string& key) {
    return args{"tlsServerCertPath=\"" + cert + "\"", "tlsServerKeyPath=\"" + key + "\""};
  };
  std::vector<std::pair<args, std::string>> cases{
    {{"tlsMode=\"enforcing\""}, "needs tlsServerCertPath and tlsServerKeyPath"},
    {args{"tlsMode=\"enforcing\"", "tlsServerTrustCertPath=\"/nonexistent\""}
       + files("/nonexistent/server.pem", "/nonexistent/server.key"),
     "tlsServerCertPath '/nonexistent/server.pem' cannot be read"},
    {args{"tlsMode=\"permissive\""} + files(garbage, c.key("server")), "is no PEM certificate"},
    {args{"tlsMode=\"permissive\""} + files(c.pem("server"), c.key("client")),
     "is not the key of"},
    {args{"tlsMode=\"enforcing\"", "tlsServerTrustCertPath=\"" + garbage + "\""}
       + files(c.pem("server"), c.key("server")),
     "holds no PEM CA certificate"},
    {args{"tlsMode=\"permissive\""} + files(c.pem("server"), encrypted),
     "is no unencrypted PEM key"},
  };
  auto& [sets, expected] = cases[static_cast<size_t>(which)];
  INFO(expected);
  std::vector<std::string> argv{bin("holdfast-broker"), "--set", "listenPort=0", "--set",
                                "storePathRootDir=\"" + dir.path() + "/store\""};
  for (auto& s : sets) {
    argv.push_back("--set");
    argv.push_back(s);
  }
  std::string out, err;
  CHECK(run(argv, dir.path(), out, &err, 30s) == 2);
  INFO(err);
  CHECK(err.find(expected) != std::string::npos);
  CHECK(out.find("listening") == std::string::npos);

  // The client side: the same checks before CAF sees a file.
  auto client_err = [&](std::vector<std::string> flags) {
    std::string o, e;
    int code = run(std::vector<std::string>{bin("holdfast"), "status", "--broker", "127.0.0.1:1"}
                     + flags,
                   dir.path(), o, &e, 30s);
    CHECK(code == 2);
    return e;
  };
  CHECK(client_err({"--tls"}).find("needs a client certificate, its key and the CA") != std::string::npos);
  CHECK(client_err({"--tls-ca", c.pem("ca"), "--tls-cert", "/nonexistent", "--tls-key",
                    c.key("client")})
          .find("'/nonexistent' cannot be read")
        != std::string::npos);
  CHECK(client_err({"--tls-ca", garbage, "--tls-cert", c.pem("client"), "--tls-key",
                    c.key("client")})
          .find("holds no PEM CA certificate")
        != std::string::npos);
  CHECK(client_err({"--tls-ca", c.pem("ca"), "--tls-cert", c.pem("client"), "--tls-key",
                    c.key("server")})
          .find("is not the key of")
        != std::string::npos);
}

TEST_CASE("a garbled or stalled TLS handshake is dropped and the broker keeps serving",
          "[tls][hostile]") {
  temp_dir dir;
  certs c(dir.path());
  auto port = free_port();
  // authTimeout (10 s from accept by default) would end the stalled handshake first.
  broker_process b(dir.path(), dir.path() + "/store", port,
                   c.broker("enforcing") + args{"authTimeout=60000"});
  // A handshake record header followed by noise.
  std::mt19937 rng(8);
  std::string noise("\x16\x03\x01\x00\xc8", 5);
  for (int i = 0; i < 200; ++i)
    noise.push_back(static_cast<char>(rng()));
  auto t0 = std::chrono::steady_clock::now();
  send_and_wait_close(port, noise);
  CHECK(std::chrono::steady_clock::now() - t0 < 5s);
  // A record header announcing a ClientHello that never comes: held until the handshake
  // timeout, while TLS clients are served.
  int stalled = connect_loopback(port);
  REQUIRE(stalled >= 0);
  (void) ::send(stalled, "\x16\x03\x01\x02\x00", 5, MSG_NOSIGNAL);
  std::string out;
  REQUIRE(run(produce(b.address(), "still", 20, dir.path() + "/a") + c.client(), dir.path(), out)
          == 0);
  CHECK(count(slurp(dir.path() + "/a"), " SEND_OK ") == 20);
  auto until = std::chrono::steady_clock::now() + 20s;
  while (b.proc().err().find("TLS handshake not finished within 10 s") == std::string::npos
         && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(100ms);
  ::close(stalled);
  auto log = b.proc().err();
  INFO(log);
  CHECK(count(log, "before BASP: TLS handshake failed") == 1);
  CHECK(count(log, "before BASP: TLS handshake not finished within 10 s") == 1);
  CHECK(count(log, "dropped the connection") == 0);
  CHECK(b.stop() == 0);
}
