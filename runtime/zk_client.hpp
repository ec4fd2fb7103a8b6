#pragma once

// A thin, safe wrapper over ZooKeeper's multi-threaded C client (libzookeeper_mt), the
// coordination service of controller mode (docs/failover.md). The ZooKeeper headers stay out of
// this one: only zk_client.cpp includes them.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace holdfast {

/// Status of every ZooKeeper operation. `ok` is zero like errc's. The two "outcome unknown"
/// codes (connection_loss, timeout) matter most: a write that returned one of them may or may
/// not have been applied, and only reading the node back (its version) tells.
enum class zk_errc : uint8_t {
  ok = 0,
  no_node,          ///< the node (or, on create, its parent) does not exist
  node_exists,      ///< create of a node that exists
  bad_version,      ///< the node's version is not the expected one: someone changed it first;
                    ///< nothing was changed
  not_empty,        ///< delete of a node that has children
  no_children_for_ephemerals, ///< create below an ephemeral node
  connection_loss,  ///< the connection dropped with the request in flight: outcome unknown
  timeout,          ///< the call's deadline (zk_options::op_timeout) passed: outcome unknown
  session_expired,  ///< the session is over: the server expired it, or it was out of contact
                    ///< for the session timeout (see zk_session_state::expired). Its ephemeral
                    ///< nodes are gone or going; only a new zk_client gets a new session
  closed,           ///< the client was closed (close() or its destructor)
  invalid_argument, ///< a bad path, connect string, version or data size; nothing was sent
  other,            ///< any other ZooKeeper error; the context names it
};

/// Human-readable name of a status, for logs and error messages.
std::string_view to_string(zk_errc x) noexcept;

/// A zk_errc and its context (the operation, the path, ZooKeeper's own error name): the shape
/// of runtime/status.hpp for this module's enum. Compares equal to its zk_errc.
class [[nodiscard]] zk_status {
public:
  zk_status() = default;
  zk_status(zk_errc code) : code_(code) {} // NOLINT: implicit, a code is a status without context
  zk_status(zk_errc code, std::string context) : code_(code), context_(std::move(context)) {}

  [[nodiscard]] zk_errc code() const noexcept {
    return code_;
  }
  [[nodiscard]] bool ok() const noexcept {
    return code_ == zk_errc::ok;
  }
  [[nodiscard]] const std::string& context() const noexcept {
    return context_;
  }
  /// "bad_version: set /a (expected version 3)".
  [[nodiscard]] std::string message() const;

  friend bool operator==(const zk_status& s, zk_errc e) noexcept {
    return s.code_ == e;
  }

private:
  zk_errc code_ = zk_errc::ok;
  std::string context_;
};

/// Where a session stands, as this process can know it.
///
///   connecting --> connected <--> suspended --> expired
///        \______________________________________/   (any state --> closed by close())
///
/// `suspended` is "cannot tell": the connection is lost and the session may or may not still
/// exist on the server (Curator's SUSPENDED). A master acknowledges nothing in it (issue 7017).
/// `expired` is final: the server said so when we reconnected, or the session was suspended for
/// its whole negotiated timeout, after which the server may have expired it without us hearing
/// (Curator's default since 3.0). A locally expired session is closed at once, so it cannot
/// come back behind the owner's back; its ephemeral nodes vanish when the server notices, at
/// most one session timeout after it last heard from us.
enum class zk_session_state : uint8_t { connecting, connected, suspended, expired, closed };

std::string_view to_string(zk_session_state x) noexcept;

/// The parts of a node's ZooKeeper Stat that callers use.
struct zk_stat {
  int32_t version = -1;        ///< data version: the expected version of the next set/remove
  int32_t cversion = -1;       ///< children version
  int64_t czxid = 0;           ///< transaction that created the node
  int64_t mzxid = 0;           ///< transaction that last changed its data
  int64_t ephemeral_owner = 0; ///< session id of an ephemeral node's owner, else 0
  int32_t num_children = 0;
};

/// A node's data and stat, as read at one moment.
struct zk_node {
  std::string data;
  zk_stat stat;
};

/// What the event callback receives.
struct zk_event {
  enum class kind : uint8_t {
    session,          ///< the session state changed to `state`
    created,          ///< a watched node (exists) was created
    deleted,          ///< a watched node was deleted
    data_changed,     ///< a watched node's data changed
    children_changed, ///< a watched node's children changed
    events_lost,      ///< the event queue overflowed: watch events were dropped; re-read all
  };
  kind what = kind::session;
  std::string path;                                      ///< empty for session/events_lost
  zk_session_state state = zk_session_state::connecting; ///< the session state when queued
};

std::string_view to_string(zk_event::kind x) noexcept;

/// How a node is created. Sequential nodes get a 10-digit, per-parent increasing suffix.
enum class zk_create_mode : uint8_t {
  persistent,
  ephemeral,
  persistent_sequential,
  ephemeral_sequential
};

struct zk_options {
  /// ZooKeeper's connect string: "host:port[,host:port...][/chroot]".
  std::string connect;
  /// The session timeout asked for (`zkSessionTimeout`); the server clamps it to its
  /// [minSessionTimeout, maxSessionTimeout] (by default 2 and 20 ticks), see
  /// zk_client::session_timeout(). RocketMQ's and Kafka's 6 s tolerate a GC pause or a
  /// network hiccup while still electing a new master within seconds.
  std::chrono::milliseconds session_timeout{6000};
  /// How long connect() waits for the first session.
  std::chrono::milliseconds connect_timeout{10000};
  /// The deadline of every other call. A third of a default session timeout: an answer that
  /// takes longer comes from a session about to be suspended anyway.
  std::chrono::milliseconds op_timeout{2000};
  /// Bound of the event queue (watch and session events not yet handed to on_event). Watches
  /// are one-shot, so the queue holds at most one event per watch set plus session changes; on
  /// overflow the queued watch events are replaced by one events_lost.
  size_t max_queued_events = 1024;
  /// Called for every event, in order, on the client's own event thread (never on ZooKeeper's
  /// threads, so it may call the client; it must not destroy it). Keep it short: it delays the
  /// next events and the local expiry of a suspended session. May be empty.
  std::function<void(const zk_event&)> on_event;
};

/// One ZooKeeper session and the calls made in it.
///
/// Every call is bounded by zk_options::op_timeout and returns a zk_status; none throws. Writes
/// that change a node are conditional: set() and remove() take the version the caller read, so
/// a node shared by several writers (the broker set's state) changes only by versioned
/// compare-and-set; there is no unconditional write in this API.
///
/// Watches (the `watch` flag of get, exists, children) are ZooKeeper's: one-shot, set by the
/// read, fired at most once; read again to watch again. A session kept across a reconnect keeps
/// its watches; an expired one loses them.
///
/// Threading: all methods may be called from any thread at once. ZooKeeper's C client runs an
/// I/O thread and a completion thread; this class adds one event thread, which runs on_event
/// and expires a session suspended for its whole timeout.
class zk_client {
public:
  /// Starts a session and waits until it is connected (or connect_timeout passes, or the
  /// server refuses it). `out` is set only on success.
  [[nodiscard]] static zk_status connect(zk_options opts, std::unique_ptr<zk_client>& out);

  /// Closes the session (its ephemeral nodes go at once when the server is reachable), hands
  /// the events still queued (the last one: `closed`) to on_event, and joins the event thread.
  /// Must not run on the event thread (inside on_event).
  ~zk_client();
  zk_client(const zk_client&) = delete;
  zk_client& operator=(const zk_client&) = delete;

  [[nodiscard]] zk_session_state state() const;
  /// Waits until state() is `s` (true) or `within` passed (false).
  [[nodiscard]] bool wait_for(zk_session_state s, std::chrono::milliseconds within) const;
  /// The session's id (what a node's ephemeral_owner says), 0 before the first connect.
  [[nodiscard]] int64_t session_id() const;
  /// The session timeout the server granted.
  [[nodiscard]] std::chrono::milliseconds session_timeout() const;

  /// Creates `path` with `data`. `created` (may be null) gets the name the server gave it: the
  /// path plus the suffix of a sequential node.
  [[nodiscard]] zk_status create(const std::string& path, std::string_view data,
                                 zk_create_mode mode, std::string* created = nullptr);
  /// Reads a node's data and version; `watch` sets a data watch (fires on change or delete).
  [[nodiscard]] zk_status get(const std::string& path, zk_node& out, bool watch = false);
  /// Compare-and-set: replaces the data only if the node's version is still
  /// `expected_version`, else bad_version and nothing changes. `stat` (may be null) gets the
  /// new stat. `expected_version` must be >= 0 (ZooKeeper's -1, "any version", is refused).
  [[nodiscard]] zk_status set(const std::string& path, std::string_view data,
                              int32_t expected_version, zk_stat* stat = nullptr);
  /// Deletes a node only if its version is still `expected_version` (>= 0).
  [[nodiscard]] zk_status remove(const std::string& path, int32_t expected_version);
  /// ok and `stat` when the node exists, no_node when not; `watch` fires on its creation,
  /// change or deletion.
  [[nodiscard]] zk_status exists(const std::string& path, zk_stat* stat = nullptr,
                                 bool watch = false);
  /// The names (not paths) of a node's children, sorted; `watch` fires when they change.
  [[nodiscard]] zk_status children(const std::string& path, std::vector<std::string>& out,
                                   bool watch = false);

  /// Ends the session now; later calls return closed. Idempotent; callable from on_event.
  void close();

  /// Largest data a node may take here. ZooKeeper refuses a request above its jute.maxbuffer
  /// (1 MiB by default) by dropping the connection; the broker's nodes are a few hundred bytes,
  /// so half of it leaves room and turns an oversized write into invalid_argument.
  static constexpr size_t max_data_bytes = 512 * 1024;

  struct call;   ///< one request in flight (zk_client.cpp)
  struct access; ///< the C callbacks' way in (zk_client.cpp)

private:
  explicit zk_client(zk_options opts);

  template <class Issue>
  zk_status run(std::string_view what, const std::string& path, Issue&& issue,
                std::shared_ptr<call>& c);
  zk_status finish(std::string_view what, const std::string& path, int rc);
  void on_session(void* zh, int zk_state);
  void on_watch(zk_event::kind k, std::string path);
  void push_event(zk_event e);        // mu_ held
  [[nodiscard]] zk_session_state state_locked(std::chrono::steady_clock::time_point now) const;
  void event_loop();
  void close_handle();

  const zk_options opts_;

  // The C handle. Calls hold zh_mu_ shared while they hand a request to it; close_handle()
  // holds it exclusively while it closes the handle and clears the pointer, so no call uses a
  // freed handle. Never taken by ZooKeeper's threads (they only take mu_), so closing (which
  // joins them) cannot deadlock.
  mutable std::shared_mutex zh_mu_;
  void* zh_ = nullptr; // zhandle_t*

  // Session state and the event queue, guarded by mu_; cv_ wakes the event thread and
  // wait_for().
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  zk_session_state state_ = zk_session_state::connecting;
  std::chrono::steady_clock::time_point suspended_since_{};
  std::chrono::milliseconds negotiated_timeout_{0};
  int64_t session_id_ = 0;
  std::deque<zk_event> events_;
  bool stopping_ = false;
  std::thread event_thread_;
};

} // namespace holdfast
