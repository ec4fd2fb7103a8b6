#include "runtime/zk_client.hpp"

#include "runtime/assert.hpp"
#include "runtime/log.hpp"

#include <zookeeper/zookeeper.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>

namespace holdfast {

std::string_view to_string(zk_errc x) noexcept {
  switch (x) {
    case zk_errc::ok: return "ok";
    case zk_errc::no_node: return "no_node";
    case zk_errc::node_exists: return "node_exists";
    case zk_errc::bad_version: return "bad_version";
    case zk_errc::not_empty: return "not_empty";
    case zk_errc::no_children_for_ephemerals: return "no_children_for_ephemerals";
    case zk_errc::connection_loss: return "connection_loss";
    case zk_errc::timeout: return "timeout";
    case zk_errc::session_expired: return "session_expired";
    case zk_errc::closed: return "closed";
    case zk_errc::invalid_argument: return "invalid_argument";
    case zk_errc::other: return "other";
  }
  return "unknown";
}

std::string zk_status::message() const {
  std::string s(to_string(code_));
  if (!context_.empty())
    s += ": " + context_;
  return s;
}

std::string_view to_string(zk_session_state x) noexcept {
  switch (x) {
    case zk_session_state::connecting: return "connecting";
    case zk_session_state::connected: return "connected";
    case zk_session_state::suspended: return "suspended";
    case zk_session_state::expired: return "expired";
    case zk_session_state::closed: return "closed";
  }
  return "unknown";
}

std::string_view to_string(zk_event::kind x) noexcept {
  switch (x) {
    case zk_event::kind::session: return "session";
    case zk_event::kind::created: return "created";
    case zk_event::kind::deleted: return "deleted";
    case zk_event::kind::data_changed: return "data_changed";
    case zk_event::kind::children_changed: return "children_changed";
    case zk_event::kind::events_lost: return "events_lost";
  }
  return "unknown";
}

namespace {

zhandle_t* handle(void* p) {
  return static_cast<zhandle_t*>(p);
}

zk_stat to_stat(const Stat* s) {
  zk_stat out;
  if (s == nullptr)
    return out;
  out.version = s->version;
  out.cversion = s->cversion;
  out.czxid = s->czxid;
  out.mzxid = s->mzxid;
  out.ephemeral_owner = s->ephemeralOwner;
  out.num_children = s->numChildren;
  return out;
}

// A path ZooKeeper's C client would read differently from the std::string: it stops at the
// first NUL. Everything else (leading '/', no "//", no trailing '/') the C client checks and
// answers with ZBADARGUMENTS before sending anything.
bool has_nul(std::string_view s) {
  return s.find('\0') != std::string_view::npos;
}

// The C client logs through one process-wide level; warnings and errors (a refused connection,
// an expired session) are worth an operator's attention, its INFO lines (every connect, every
// session id) are not. While no server answers it retries every 1/60 of the session timeout
// and logs two lines per try (100 ms apart at the 6 s default): at most a few lines a second
// reach the log, and the next one that does says how many were dropped.
void forward_log(const char* message) {
  constexpr int max_lines_per_second = 4;
  static std::mutex m;
  static std::chrono::steady_clock::time_point window;
  static int in_window = 0;
  static long long dropped = 0;
  std::unique_lock lk(m);
  auto now = std::chrono::steady_clock::now();
  if (now - window >= std::chrono::seconds(1)) {
    window = now;
    in_window = 0;
  }
  if (++in_window > max_lines_per_second) {
    ++dropped;
    return;
  }
  auto before = dropped;
  dropped = 0;
  lk.unlock();
  if (before > 0)
    log_warning("zookeeper: ({} lines dropped) {}", before, message == nullptr ? "" : message);
  else
    log_warning("zookeeper: {}", message == nullptr ? "" : message);
}

void quiet_client_log() {
  static std::once_flag once;
  std::call_once(once, [] { zoo_set_debug_level(ZOO_LOG_LEVEL_WARN); });
}

} // namespace

/// One request in flight. The C client's completion owns a heap shared_ptr to it (its `data`
/// argument) and drops it after filling the result, so a caller that gave up at its deadline
/// leaves nothing dangling: the late completion writes into a call nobody reads.
struct zk_client::call {
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  int rc = ZOK;
  std::string data;
  zk_stat stat;
  std::vector<std::string> children;
  std::string path;
};

/// The C callbacks, which need zk_client's private members.
struct zk_client::access {
  using ctx = std::shared_ptr<call>;

  template <class Fill>
  static void complete(const void* data, int rc, Fill&& fill) {
    auto* owner = static_cast<ctx*>(const_cast<void*>(data));
    {
      auto& c = **owner;
      std::lock_guard lk(c.m);
      c.rc = rc;
      if (rc == ZOK)
        fill(c);
      c.done = true;
      c.cv.notify_all();
    }
    delete owner;
  }

  static void on_string(int rc, const char* value, const void* data) {
    complete(data, rc, [&](call& c) { c.path = value == nullptr ? "" : value; });
  }
  static void on_data(int rc, const char* value, int len, const Stat* stat, const void* data) {
    complete(data, rc, [&](call& c) {
      if (value != nullptr && len > 0)
        c.data.assign(value, static_cast<size_t>(len));
      c.stat = to_stat(stat);
    });
  }
  static void on_stat(int rc, const Stat* stat, const void* data) {
    complete(data, rc, [&](call& c) { c.stat = to_stat(stat); });
  }
  static void on_void(int rc, const void* data) {
    complete(data, rc, [](call&) {});
  }
  static void on_strings(int rc, const String_vector* v, const Stat* stat, const void* data) {
    complete(data, rc, [&](call& c) {
      if (v != nullptr)
        for (int32_t i = 0; i < v->count; ++i)
          c.children.emplace_back(v->data[i]);
      c.stat = to_stat(stat);
    });
  }

  // Runs on ZooKeeper's completion thread for every session change and every fired watch
  // (the default watcher: every watch this client sets uses it).
  static void watcher(zhandle_t* zh, int type, int state, const char* path, void* context) {
    auto* self = static_cast<zk_client*>(context);
    if (type == ZOO_SESSION_EVENT) {
      self->on_session(zh, state);
      return;
    }
    zk_event::kind k;
    if (type == ZOO_CREATED_EVENT)
      k = zk_event::kind::created;
    else if (type == ZOO_DELETED_EVENT)
      k = zk_event::kind::deleted;
    else if (type == ZOO_CHANGED_EVENT)
      k = zk_event::kind::data_changed;
    else if (type == ZOO_CHILD_EVENT)
      k = zk_event::kind::children_changed;
    else
      return; // ZOO_NOTWATCHING_EVENT: only after removing watches, which this API never does
    self->on_watch(k, path == nullptr ? "" : path);
  }
};

zk_client::zk_client(zk_options opts) : opts_(std::move(opts)) {}

zk_status zk_client::connect(zk_options opts, std::unique_ptr<zk_client>& out) {
  if (opts.connect.empty() || has_nul(opts.connect))
    return {zk_errc::invalid_argument, "empty connect string"};
  if (opts.session_timeout.count() <= 0 || opts.session_timeout.count() > INT32_MAX
      || opts.op_timeout.count() <= 0 || opts.connect_timeout.count() <= 0
      || opts.max_queued_events < 2)
    return {zk_errc::invalid_argument, "timeouts must be positive, the event queue at least 2"};
  quiet_client_log();
  std::unique_ptr<zk_client> self(new zk_client(std::move(opts)));
  auto& o = self->opts_;
  errno = 0;
  auto* zh = zookeeper_init2(o.connect.c_str(), &access::watcher,
                             static_cast<int>(o.session_timeout.count()), nullptr, self.get(), 0,
                             &forward_log);
  if (zh == nullptr) {
    int e = errno;
    return {e == EINVAL ? zk_errc::invalid_argument : zk_errc::other,
            "connect to '" + o.connect + "': " + std::strerror(e)};
  }
  {
    std::unique_lock lk(self->zh_mu_);
    self->zh_ = zh;
  }
  self->event_thread_ = std::thread([s = self.get()] { s->event_loop(); });
  auto until = std::chrono::steady_clock::now() + o.connect_timeout;
  {
    std::unique_lock lk(self->mu_);
    self->cv_.wait_until(lk, until, [&] {
      return self->state_ != zk_session_state::connecting;
    });
    if (self->state_ != zk_session_state::connected) {
      auto st = self->state_;
      lk.unlock();
      // The destructor closes the handle and joins the thread.
      auto code = st == zk_session_state::connecting  ? zk_errc::timeout
                  : st == zk_session_state::suspended ? zk_errc::connection_loss
                                                      : zk_errc::session_expired;
      return {code, "no session with '" + o.connect + "' within "
                + std::to_string(o.connect_timeout.count()) + " ms (state "
                + std::string(to_string(st)) + ")"};
    }
  }
  out = std::move(self);
  return {};
}

zk_client::~zk_client() {
  HF_ASSERT(!event_thread_.joinable() || event_thread_.get_id() != std::this_thread::get_id(),
            "a zk_client destroyed by its own on_event callback");
  close();
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (event_thread_.joinable())
    event_thread_.join();
}

void zk_client::close_handle() {
  std::unique_lock lk(zh_mu_);
  if (zh_ == nullptr)
    return;
  // Joins ZooKeeper's threads and completes every request still pending with ZCLOSING. When
  // connected it first asks the server to end the session (its ephemeral nodes go at once),
  // waiting at most a few seconds for that.
  zookeeper_close(handle(zh_));
  zh_ = nullptr;
}

void zk_client::close() {
  {
    std::lock_guard lk(mu_);
    if (state_ != zk_session_state::expired && state_ != zk_session_state::closed) {
      state_ = zk_session_state::closed;
      push_event({zk_event::kind::session, {}, state_});
    }
  }
  cv_.notify_all();
  close_handle();
}

zk_session_state zk_client::state_locked(std::chrono::steady_clock::time_point now) const {
  // A suspended session whose timeout has run out is expired from this moment on, whether or
  // not the event thread has closed it yet: no caller may act on it in between.
  if (state_ == zk_session_state::suspended && negotiated_timeout_.count() > 0
      && now >= suspended_since_ + negotiated_timeout_)
    return zk_session_state::expired;
  return state_;
}

zk_session_state zk_client::state() const {
  std::lock_guard lk(mu_);
  return state_locked(std::chrono::steady_clock::now());
}

bool zk_client::wait_for(zk_session_state s, std::chrono::milliseconds within) const {
  auto until = std::chrono::steady_clock::now() + within;
  std::unique_lock lk(mu_);
  for (;;) {
    auto now = std::chrono::steady_clock::now();
    if (state_locked(now) == s)
      return true;
    if (now >= until)
      return false;
    // Wake at the local expiry too, which no event announces to this waiter.
    auto wake = until;
    if (state_ == zk_session_state::suspended && suspended_since_ + negotiated_timeout_ < wake)
      wake = suspended_since_ + negotiated_timeout_;
    cv_.wait_until(lk, wake);
  }
}

int64_t zk_client::session_id() const {
  std::lock_guard lk(mu_);
  return session_id_;
}

std::chrono::milliseconds zk_client::session_timeout() const {
  std::lock_guard lk(mu_);
  return negotiated_timeout_;
}

void zk_client::on_session(void* zh_ptr, int zk_state) {
  // On ZooKeeper's completion thread, with the handle it was called for (zh_ may not be set
  // yet: the first event can beat connect()'s assignment). The handle is open while this
  // thread runs: closing joins it first.
  std::lock_guard lk(mu_);
  auto now = std::chrono::steady_clock::now();
  auto current = state_locked(now);
  if (current == zk_session_state::expired || current == zk_session_state::closed)
    return; // final: a late reconnect must not revive a session the owner was told is gone
  zk_session_state next = current;
  if (zk_state == ZOO_CONNECTED_STATE) {
    next = zk_session_state::connected;
    auto* zh = handle(zh_ptr);
    negotiated_timeout_ = std::chrono::milliseconds(zoo_recv_timeout(zh));
    if (auto* id = zoo_client_id(zh))
      session_id_ = id->client_id;
  } else if (zk_state == ZOO_EXPIRED_SESSION_STATE || zk_state == ZOO_AUTH_FAILED_STATE) {
    next = zk_session_state::expired;
  } else if (current == zk_session_state::connected) {
    // ZOO_CONNECTING_STATE / ZOO_ASSOCIATING_STATE / ZOO_NOTCONNECTED_STATE: lost the server.
    next = zk_session_state::suspended;
    suspended_since_ = now;
  }
  if (next == current)
    return;
  state_ = next;
  push_event({zk_event::kind::session, {}, next});
  cv_.notify_all();
}

void zk_client::on_watch(zk_event::kind k, std::string path) {
  std::lock_guard lk(mu_);
  if (state_ == zk_session_state::expired || state_ == zk_session_state::closed)
    return;
  push_event({k, std::move(path), state_});
  cv_.notify_all();
}

void zk_client::push_event(zk_event e) {
  if (events_.size() >= opts_.max_queued_events) {
    // Drop the watch events (each one-shot watch fired; the reader re-reads everything on
    // events_lost and sets its watches again) but keep the session changes, in order.
    std::deque<zk_event> kept;
    for (auto& q : events_)
      if (q.what == zk_event::kind::session && kept.size() + 2 < opts_.max_queued_events)
        kept.push_back(std::move(q));
    kept.push_back({zk_event::kind::events_lost, {}, e.state});
    events_ = std::move(kept);
    if (e.what != zk_event::kind::session)
      return;
  }
  events_.push_back(std::move(e));
}

void zk_client::event_loop() {
  std::unique_lock lk(mu_);
  for (;;) {
    auto now = std::chrono::steady_clock::now();
    if (state_ == zk_session_state::suspended
        && state_locked(now) == zk_session_state::expired) {
      state_ = zk_session_state::expired;
      log_warning("zookeeper: session {} out of contact for its timeout ({} ms): expired",
                  session_id_, negotiated_timeout_.count());
      push_event({zk_event::kind::session, {}, state_});
      cv_.notify_all();
      lk.unlock();
      close_handle(); // no reconnect may revive it now
      lk.lock();
      continue;
    }
    if (!events_.empty()) {
      auto e = std::move(events_.front());
      events_.pop_front();
      lk.unlock();
      if (opts_.on_event)
        opts_.on_event(e);
      lk.lock();
      continue;
    }
    if (stopping_)
      return;
    if (state_ == zk_session_state::suspended)
      cv_.wait_until(lk, suspended_since_ + negotiated_timeout_);
    else
      cv_.wait(lk);
  }
}

zk_status zk_client::finish(std::string_view what, const std::string& path, int rc) {
  auto ctx = std::string(what) + " " + path;
  switch (rc) {
    case ZOK: return {};
    case ZNONODE: return {zk_errc::no_node, ctx};
    case ZNODEEXISTS: return {zk_errc::node_exists, ctx};
    case ZBADVERSION: return {zk_errc::bad_version, ctx};
    case ZNOTEMPTY: return {zk_errc::not_empty, ctx};
    case ZNOCHILDRENFOREPHEMERALS: return {zk_errc::no_children_for_ephemerals, ctx};
    case ZCONNECTIONLOSS: return {zk_errc::connection_loss, ctx};
    case ZOPERATIONTIMEOUT: return {zk_errc::timeout, ctx};
    case ZBADARGUMENTS: return {zk_errc::invalid_argument, ctx};
    case ZSESSIONEXPIRED:
    case ZINVALIDSTATE: // the handle is expired (or its authentication failed)
      return {zk_errc::session_expired, ctx};
    case ZCLOSING: {
      auto st = state();
      return {st == zk_session_state::expired ? zk_errc::session_expired : zk_errc::closed, ctx};
    }
    default: return {zk_errc::other, ctx + " (" + zerror(rc) + ")"};
  }
}

template <class Issue>
zk_status zk_client::run(std::string_view what, const std::string& path, Issue&& issue,
                         std::shared_ptr<call>& c) {
  if (has_nul(path))
    return {zk_errc::invalid_argument, std::string(what) + ": a path with a NUL byte"};
  switch (state()) {
    case zk_session_state::expired:
      return {zk_errc::session_expired, std::string(what) + " " + path};
    case zk_session_state::closed: return {zk_errc::closed, std::string(what) + " " + path};
    default: break;
  }
  c = std::make_shared<call>();
  auto* owner = new std::shared_ptr<call>(c);
  int rc;
  {
    std::shared_lock lk(zh_mu_);
    if (zh_ == nullptr) {
      delete owner;
      auto st = state();
      return {st == zk_session_state::expired ? zk_errc::session_expired : zk_errc::closed,
              std::string(what) + " " + path};
    }
    rc = issue(handle(zh_), static_cast<const void*>(owner));
  }
  if (rc != ZOK) {
    // Refused before anything was queued (bad arguments, expired handle): the completion will
    // never run, so the owner is ours to free. ZMARSHALLINGERROR can also mean "queued, then
    // out of memory", after which the completion may still run: leak the few bytes then
    // rather than risk freeing them twice.
    if (rc != ZMARSHALLINGERROR)
      delete owner;
    return finish(what, path, rc);
  }
  std::unique_lock lk(c->m);
  if (!c->cv.wait_for(lk, opts_.op_timeout, [&] { return c->done; }))
    return {zk_errc::timeout, std::string(what) + " " + path + ": no answer within "
                                + std::to_string(opts_.op_timeout.count())
                                + " ms, outcome unknown"};
  return finish(what, path, c->rc);
}

zk_status zk_client::create(const std::string& path, std::string_view data,
                            zk_create_mode mode, std::string* created) {
  if (data.size() > max_data_bytes)
    return {zk_errc::invalid_argument, "create " + path + ": data above max_data_bytes"};
  int flags = ZOO_PERSISTENT;
  switch (mode) {
    case zk_create_mode::persistent: flags = ZOO_PERSISTENT; break;
    case zk_create_mode::ephemeral: flags = ZOO_EPHEMERAL; break;
    case zk_create_mode::persistent_sequential: flags = ZOO_PERSISTENT_SEQUENTIAL; break;
    case zk_create_mode::ephemeral_sequential: flags = ZOO_EPHEMERAL_SEQUENTIAL; break;
  }
  std::shared_ptr<call> c;
  // ZOO_OPEN_ACL_UNSAFE: no ZooKeeper authentication yet; the ensemble is as trusted as the
  // brokers' network (docs/failover.md). An empty ACL would be refused (ZINVALIDACL).
  auto s = run("create", path, [&](zhandle_t* zh, const void* owner) {
    return zoo_acreate(zh, path.c_str(), data.data(), static_cast<int>(data.size()),
                       &ZOO_OPEN_ACL_UNSAFE, flags, &access::on_string, owner);
  }, c);
  if (s.ok() && created != nullptr) {
    std::lock_guard lk(c->m);
    *created = c->path;
  }
  return s;
}

zk_status zk_client::get(const std::string& path, zk_node& out, bool watch) {
  std::shared_ptr<call> c;
  auto s = run("get", path, [&](zhandle_t* zh, const void* owner) {
    return zoo_aget(zh, path.c_str(), watch ? 1 : 0, &access::on_data, owner);
  }, c);
  if (s.ok()) {
    std::lock_guard lk(c->m);
    out.data = std::move(c->data);
    out.stat = c->stat;
  }
  return s;
}

zk_status zk_client::set(const std::string& path, std::string_view data,
                         int32_t expected_version, zk_stat* stat) {
  if (expected_version < 0)
    return {zk_errc::invalid_argument,
            "set " + path + ": an expected version is required (compare-and-set only)"};
  if (data.size() > max_data_bytes)
    return {zk_errc::invalid_argument, "set " + path + ": data above max_data_bytes"};
  std::shared_ptr<call> c;
  auto s = run("set", path, [&](zhandle_t* zh, const void* owner) {
    return zoo_aset(zh, path.c_str(), data.data(), static_cast<int>(data.size()),
                    expected_version, &access::on_stat, owner);
  }, c);
  if (s == zk_errc::bad_version)
    return {zk_errc::bad_version,
            s.context() + " (expected version " + std::to_string(expected_version) + ")"};
  if (s.ok() && stat != nullptr) {
    std::lock_guard lk(c->m);
    *stat = c->stat;
  }
  return s;
}

zk_status zk_client::remove(const std::string& path, int32_t expected_version) {
  if (expected_version < 0)
    return {zk_errc::invalid_argument,
            "remove " + path + ": an expected version is required"};
  std::shared_ptr<call> c;
  auto s = run("remove", path, [&](zhandle_t* zh, const void* owner) {
    return zoo_adelete(zh, path.c_str(), expected_version, &access::on_void, owner);
  }, c);
  if (s == zk_errc::bad_version)
    return {zk_errc::bad_version,
            s.context() + " (expected version " + std::to_string(expected_version) + ")"};
  return s;
}

zk_status zk_client::exists(const std::string& path, zk_stat* stat, bool watch) {
  std::shared_ptr<call> c;
  auto s = run("exists", path, [&](zhandle_t* zh, const void* owner) {
    return zoo_aexists(zh, path.c_str(), watch ? 1 : 0, &access::on_stat, owner);
  }, c);
  if (s.ok() && stat != nullptr) {
    std::lock_guard lk(c->m);
    *stat = c->stat;
  }
  return s;
}

zk_status zk_client::children(const std::string& path, std::vector<std::string>& out,
                              bool watch) {
  std::shared_ptr<call> c;
  auto s = run("children", path, [&](zhandle_t* zh, const void* owner) {
    return zoo_aget_children2(zh, path.c_str(), watch ? 1 : 0, &access::on_strings, owner);
  }, c);
  if (s.ok()) {
    std::lock_guard lk(c->m);
    out = std::move(c->children);
    std::sort(out.begin(), out.end());
  }
  return s;
}

} // namespace holdfast
