// zk_client against a real standalone ZooKeeper (tests/zk/zk_server.hpp): no mock stands in for
// the server whose semantics controller mode relies on. Each test case starts its own server
// (about 1-2 s) in its own directory; a machine without java or the server reports them skipped.

#include "runtime/zk_client.hpp"

#include "skip.hpp"
#include "temp_dir.hpp"
#include "tests/zk/zk_server.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

using namespace holdfast;
using namespace std::chrono_literals;

namespace Catch {
template <>
struct StringMaker<zk_status> {
  static std::string convert(const zk_status& s) {
    return s.message();
  }
};
template <>
struct StringMaker<zk_errc> {
  static std::string convert(zk_errc e) {
    return std::string(to_string(e));
  }
};
template <>
struct StringMaker<zk_session_state> {
  static std::string convert(zk_session_state s) {
    return std::string(to_string(s));
  }
};
} // namespace Catch

namespace {

// A started server in a fresh directory, or the reason the test must skip.
struct zk_fixture {
  test::temp_dir dir;
  std::unique_ptr<test::zk_server> server;
  std::string skip_reason;

  zk_fixture() {
    skip_reason = test::zk_server::unavailable();
    if (!skip_reason.empty())
      return;
    server = std::make_unique<test::zk_server>(dir.path());
    std::string why;
    if (!server->start(why)) {
      skip_reason = "cannot start zookeeper: " + why;
      return;
    }
    std::fprintf(stderr, "zookeeper answered %lld ms after exec\n",
                 static_cast<long long>(server->start_time().count()));
  }
};

// Every event a client's callback saw, with the thread it ran on.
struct event_log {
  std::mutex m;
  std::vector<zk_event> events;
  std::vector<std::thread::id> threads;

  std::function<void(const zk_event&)> callback() {
    return [this](const zk_event& e) {
      std::lock_guard lk(m);
      events.push_back(e);
      threads.push_back(std::this_thread::get_id());
    };
  }
  // Waits until an event of kind `k` (for `path`, when given) arrived.
  bool wait(zk_event::kind k, const std::string& path = "",
            std::chrono::milliseconds within = 5000ms) {
    auto until = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < until) {
      {
        std::lock_guard lk(m);
        for (auto& e : events)
          if (e.what == k && (path.empty() || e.path == path))
            return true;
      }
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }
  std::vector<zk_session_state> session_states() {
    std::lock_guard lk(m);
    std::vector<zk_session_state> out;
    for (auto& e : events)
      if (e.what == zk_event::kind::session)
        out.push_back(e.state);
    return out;
  }
};

zk_options options(const test::zk_server& s, std::chrono::milliseconds session = 4000ms) {
  zk_options o;
  o.connect = s.connect_string();
  o.session_timeout = session;
  o.connect_timeout = 10s;
  o.op_timeout = 2s;
  return o;
}

std::unique_ptr<zk_client> connect(zk_options o) {
  std::unique_ptr<zk_client> c;
  auto s = zk_client::connect(std::move(o), c);
  INFO(s.message());
  REQUIRE(s.ok());
  REQUIRE(c->state() == zk_session_state::connected);
  return c;
}

long long ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now()
                                                               - t)
    .count();
}

} // namespace

TEST_CASE("a node changes only by compare-and-set on the version it was read at", "[zk]") {
  zk_fixture f;
  if (!f.skip_reason.empty())
    return test::skip(f.skip_reason);
  auto zk = connect(options(*f.server));

  REQUIRE(zk->create("/set", "epoch 1", zk_create_mode::persistent).ok());
  zk_node n;
  REQUIRE(zk->get("/set", n).ok());
  CHECK(n.data == "epoch 1");
  CHECK(n.stat.version == 0);
  CHECK(n.stat.ephemeral_owner == 0);

  zk_stat after;
  REQUIRE(zk->set("/set", "epoch 2", 0, &after).ok());
  CHECK(after.version == 1);

  // A second writer that read version 0 loses: bad_version, and the node keeps epoch 2.
  auto stale = zk->set("/set", "epoch 2 (stale writer)", 0);
  CHECK(stale == zk_errc::bad_version);
  CHECK(stale.context().find("expected version 0") != std::string::npos);
  REQUIRE(zk->get("/set", n).ok());
  CHECK(n.data == "epoch 2");
  CHECK(n.stat.version == 1);

  // No unconditional write exists.
  CHECK(zk->set("/set", "x", -1) == zk_errc::invalid_argument);
  CHECK(zk->remove("/set", -1) == zk_errc::invalid_argument);

  CHECK(zk->remove("/set", 0) == zk_errc::bad_version);
  CHECK(zk->exists("/set").ok());
  CHECK(zk->remove("/set", 1).ok());
  CHECK(zk->exists("/set") == zk_errc::no_node);
  CHECK(zk->get("/set", n) == zk_errc::no_node);
  CHECK(zk->set("/set", "x", 1) == zk_errc::no_node);

  zk->close();
  CHECK(zk->state() == zk_session_state::closed);
  CHECK(zk->get("/set", n) == zk_errc::closed);
}

TEST_CASE("creates report existing and missing nodes, and sequential names increase", "[zk]") {
  zk_fixture f;
  if (!f.skip_reason.empty())
    return test::skip(f.skip_reason);
  auto zk = connect(options(*f.server));

  REQUIRE(zk->create("/holdfast", "", zk_create_mode::persistent).ok());
  CHECK(zk->create("/holdfast", "", zk_create_mode::persistent) == zk_errc::node_exists);
  CHECK(zk->create("/missing/child", "", zk_create_mode::persistent) == zk_errc::no_node);

  std::string first, second;
  REQUIRE(zk->create("/holdfast/n-", "a", zk_create_mode::persistent_sequential, &first).ok());
  REQUIRE(zk->create("/holdfast/n-", "b", zk_create_mode::ephemeral_sequential, &second).ok());
  CHECK(first == "/holdfast/n-0000000000");
  CHECK(second == "/holdfast/n-0000000001");

  std::vector<std::string> names;
  REQUIRE(zk->children("/holdfast", names).ok());
  CHECK(names == std::vector<std::string>{"n-0000000000", "n-0000000001"});
  CHECK(zk->remove("/holdfast", 0) == zk_errc::not_empty);

  REQUIRE(zk->create("/eph", "", zk_create_mode::ephemeral).ok());
  CHECK(zk->create("/eph/child", "", zk_create_mode::persistent)
        == zk_errc::no_children_for_ephemerals);
}

TEST_CASE("bad arguments are refused before anything is sent", "[zk]") {
  zk_fixture f;
  if (!f.skip_reason.empty())
    return test::skip(f.skip_reason);
  auto zk = connect(options(*f.server));

  zk_node n;
  for (std::string path :
       {std::string(), std::string("relative"), std::string("/trailing/"), std::string("//double"),
        std::string("/a\0b", 4)}) {
    INFO("path '" << path << "'");
    CHECK(zk->create(path, "", zk_create_mode::persistent) == zk_errc::invalid_argument);
    CHECK(zk->get(path, n) == zk_errc::invalid_argument);
  }
  CHECK(zk->create("/big", std::string(zk_client::max_data_bytes + 1, 'x'),
                   zk_create_mode::persistent)
        == zk_errc::invalid_argument);
  CHECK(zk->exists("/big") == zk_errc::no_node);

  std::unique_ptr<zk_client> other;
  auto o = options(*f.server);
  o.connect = "";
  CHECK(zk_client::connect(o, other) == zk_errc::invalid_argument);
  o = options(*f.server);
  o.op_timeout = 0ms;
  CHECK(zk_client::connect(o, other) == zk_errc::invalid_argument);
  CHECK(other == nullptr);
}

TEST_CASE("connecting where no server listens fails at the connect timeout", "[zk]") {
  // No server needed: a free port nobody listens on.
  auto o = zk_options{};
  o.connect = "127.0.0.1:" + std::to_string(e2e::free_port());
  o.connect_timeout = 1500ms;
  std::unique_ptr<zk_client> c;
  auto began = std::chrono::steady_clock::now();
  auto s = zk_client::connect(o, c);
  auto took = ms_since(began);
  CHECK(s == zk_errc::timeout);
  CHECK(c == nullptr);
  CHECK(took >= 1400);
  CHECK(took < 6000); // the handle's close is bounded too
}

TEST_CASE("an ephemeral node disappears when its session closes", "[zk]") {
  zk_fixture f;
  if (!f.skip_reason.empty())
    return test::skip(f.skip_reason);
  event_log seen;
  auto o = options(*f.server);
  o.on_event = seen.callback();
  auto watcher = connect(o);
  auto owner = connect(options(*f.server));

  REQUIRE(owner->create("/member", "127.0.0.1:10911", zk_create_mode::ephemeral).ok());
  zk_stat st;
  REQUIRE(watcher->exists("/member", &st, /*watch=*/true).ok());
  CHECK(st.ephemeral_owner == owner->session_id());
  CHECK(owner->session_id() != watcher->session_id());

  owner.reset(); // closes the session: the server deletes its ephemeral nodes at once
  CHECK(seen.wait(zk_event::kind::deleted, "/member", 3000ms));
  CHECK(watcher->exists("/member") == zk_errc::no_node);
}

TEST_CASE("a watch fires once, on the client's event thread", "[zk]") {
  zk_fixture f;
  if (!f.skip_reason.empty())
    return test::skip(f.skip_reason);
  event_log seen;
  auto o = options(*f.server);
  o.on_event = seen.callback();
  auto watcher = connect(o);
  auto writer = connect(options(*f.server));

  REQUIRE(writer->create("/state", "v0", zk_create_mode::persistent).ok());
  zk_node n;
  REQUIRE(watcher->get("/state", n, /*watch=*/true).ok());
  std::vector<std::string> kids;
  REQUIRE(watcher->children("/state", kids, /*watch=*/true).ok());
  CHECK(kids.empty());
  REQUIRE(watcher->exists("/later", nullptr, /*watch=*/true) == zk_errc::no_node);

  REQUIRE(writer->set("/state", "v1", 0).ok());
  REQUIRE(writer->set("/state", "v2", 1).ok()); // no second event: the watch was one-shot
  REQUIRE(writer->create("/state/m", "", zk_create_mode::ephemeral).ok());
  REQUIRE(writer->create("/later", "", zk_create_mode::persistent).ok());

  CHECK(seen.wait(zk_event::kind::data_changed, "/state"));
  CHECK(seen.wait(zk_event::kind::children_changed, "/state"));
  CHECK(seen.wait(zk_event::kind::created, "/later"));
  std::this_thread::sleep_for(300ms);
  std::lock_guard lk(seen.m);
  size_t changed = 0;
  for (size_t i = 0; i < seen.events.size(); ++i) {
    if (seen.events[i].what == zk_event::kind::data_changed)
      ++changed;
    CHECK(seen.threads[i] != std::this_thread::get_id());
    CHECK(seen.threads[i] == seen.threads[0]); // one event thread, in order
  }
  CHECK(changed == 1);
  CHECK(seen.events.front().what == zk_event::kind::session);
  CHECK(seen.events.front().state == zk_session_state::connected);
}

TEST_CASE("a call to a frozen server returns timeout at its deadline", "[zk]") {
  zk_fixture f;
  if (!f.skip_reason.empty())
    return test::skip(f.skip_reason);
  auto o = options(*f.server, 10s);
  o.op_timeout = 500ms;
  auto zk = connect(o);
  REQUIRE(zk->create("/n", "", zk_create_mode::persistent).ok());

  f.server->pause();
  auto began = std::chrono::steady_clock::now();
  auto s = zk->set("/n", "x", 0);
  auto took = ms_since(began);
  f.server->resume();
  CHECK(s == zk_errc::timeout);
  CHECK(took >= 450);
  CHECK(took < 1500);

  // The outcome was unknown, and reading the version tells: the server, thawed, applied it.
  zk_node n;
  auto until = std::chrono::steady_clock::now() + 5s;
  zk_status r;
  while ((r = zk->get("/n", n)) != zk_errc::ok && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(50ms);
  REQUIRE(r.ok());
  CHECK(n.stat.version == 1);
  CHECK(n.data == "x");
}

TEST_CASE("a session is suspended when ZooKeeper goes away and expires after its timeout",
          "[zk]") {
  zk_fixture f;
  if (!f.skip_reason.empty())
    return test::skip(f.skip_reason);
  event_log seen;
  auto o = options(*f.server, 1200ms);
  o.on_event = seen.callback();
  auto zk = connect(o);
  CHECK(zk->session_timeout() == 1200ms);
  REQUIRE(zk->create("/member", "", zk_create_mode::ephemeral).ok());
  REQUIRE(zk->create("/state", "epoch 1", zk_create_mode::persistent).ok());

  auto began = std::chrono::steady_clock::now();
  f.server->stop();
  // The client hears of it at once (connection closed), or at 2/3 of the session timeout.
  REQUIRE(zk->wait_for(zk_session_state::suspended, 2000ms));
  auto suspended_after = ms_since(began);
  // While suspended, calls fail fast or at their deadline: never hang.
  zk_node n;
  auto call_began = std::chrono::steady_clock::now();
  auto s = zk->get("/member", n);
  CHECK((s == zk_errc::connection_loss || s == zk_errc::timeout
         || s == zk_errc::session_expired));
  CHECK(ms_since(call_began) < 2500);

  REQUIRE(zk->wait_for(zk_session_state::expired, 3000ms));
  auto expired_after = ms_since(began);
  INFO("suspended after " << suspended_after << " ms, expired after " << expired_after << " ms");
  CHECK(expired_after >= 1200);
  CHECK(seen.wait(zk_event::kind::session)); // events come too, in order:
  auto until = std::chrono::steady_clock::now() + 2s;
  while (seen.session_states().size() < 3 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(10ms);
  CHECK(seen.session_states()
        == std::vector<zk_session_state>{zk_session_state::connected,
                                         zk_session_state::suspended,
                                         zk_session_state::expired});
  CHECK(zk->get("/member", n) == zk_errc::session_expired);

  // Expired is final: ZooKeeper back does not revive it, and its ephemeral node goes once the
  // server has timed the session out.
  std::string why;
  REQUIRE(f.server->start(why));
  std::this_thread::sleep_for(500ms);
  CHECK(zk->state() == zk_session_state::expired);
  CHECK(zk->create("/x", "", zk_create_mode::persistent) == zk_errc::session_expired);
  auto other = connect(options(*f.server));
  until = std::chrono::steady_clock::now() + 5s;
  while (other->exists("/member") == zk_errc::ok && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(50ms);
  CHECK(other->exists("/member") == zk_errc::no_node);
  zk_node state;
  REQUIRE(other->get("/state", state).ok()); // persistent nodes outlive a SIGTERM restart
  CHECK(state.data == "epoch 1");
}

TEST_CASE("ZooKeeper killed and restarted on the same data keeps persistent nodes and a short "
          "outage keeps the session",
          "[zk]") {
  // SIGKILL rather than SIGTERM: what the server acknowledged must already be on its disk (it
  // fsyncs its transaction log). The expiry test above restarts after a SIGTERM.
  zk_fixture f;
  if (!f.skip_reason.empty())
    return test::skip(f.skip_reason);
  // Long enough to outlast a restart of the JVM on a loaded machine.
  auto zk = connect(options(*f.server, 15s));
  auto id = zk->session_id();
  std::string path = "/after-kill";
  REQUIRE(zk->create(path, "v0", zk_create_mode::persistent).ok());
  REQUIRE(zk->set(path, "v1", 0).ok());
  REQUIRE(zk->create(path + "-member", "", zk_create_mode::ephemeral).ok());

  f.server->kill();
  REQUIRE(zk->wait_for(zk_session_state::suspended, 10s));
  std::string why;
  REQUIRE(f.server->start(why));
  REQUIRE(zk->wait_for(zk_session_state::connected, 10s));
  CHECK(zk->session_id() == id);

  zk_node n;
  REQUIRE(zk->get(path, n).ok());
  CHECK(n.data == "v1");
  CHECK(n.stat.version == 1);
  CHECK(zk->set(path, "v2", 0) == zk_errc::bad_version);
  zk_stat st;
  REQUIRE(zk->exists(path + "-member", &st).ok()); // the session, and its ephemeral, survived
  CHECK(st.ephemeral_owner == id);
}

TEST_CASE("a full event queue drops watch events for one events_lost, keeping its bound",
          "[zk]") {
  zk_fixture f;
  if (!f.skip_reason.empty())
    return test::skip(f.skip_reason);
  std::mutex m;
  std::condition_variable cv;
  bool gate_open = true;
  std::vector<zk_event> seen;
  auto o = options(*f.server);
  o.max_queued_events = 4;
  o.on_event = [&](const zk_event& e) {
    std::unique_lock lk(m);
    seen.push_back(e);
    cv.notify_all();
    cv.wait(lk, [&] { return gate_open; }); // a slow consumer, held by the test
  };
  auto watcher = connect(o);
  auto writer = connect(options(*f.server));
  constexpr int nodes = 12;
  zk_node n;
  for (int i = 0; i < nodes; ++i) {
    auto path = "/n" + std::to_string(i);
    REQUIRE(writer->create(path, "", zk_create_mode::persistent).ok());
    REQUIRE(watcher->get(path, n, /*watch=*/true).ok());
  }
  {
    std::lock_guard lk(m);
    gate_open = false;
  }
  for (int i = 0; i < nodes; ++i)
    REQUIRE(writer->set("/n" + std::to_string(i), "x", 0).ok());
  // The 12 notifications arrive in order: the first holds the event thread in the callback,
  // the other 11 meet a queue of 4.
  std::this_thread::sleep_for(500ms);
  {
    std::lock_guard lk(m);
    gate_open = true;
  }
  cv.notify_all();
  std::this_thread::sleep_for(300ms);
  std::lock_guard lk(m);
  size_t changed = 0, lost = 0;
  for (auto& e : seen) {
    changed += e.what == zk_event::kind::data_changed;
    lost += e.what == zk_event::kind::events_lost;
  }
  INFO(changed << " data_changed, " << lost << " events_lost of " << seen.size());
  CHECK(lost >= 1);
  CHECK(changed < static_cast<size_t>(nodes));
  // The connect event, the one held in the callback, then at most the queue's bound.
  CHECK(seen.size() <= 2 + o.max_queued_events);
}
