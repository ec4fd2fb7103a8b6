#pragma once

#include <algorithm>
#include <chrono>
#include <coroutine>
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

namespace holdfast {

/// Coroutines waiting for an offset to be reached (Redpanda's offset_monitor): `co_await
/// m.wait(offset, deadline)` suspends until notify() reports an offset at or past `offset`,
/// expire() finds the deadline passed, or fail() gives up on everyone.
///
/// The partition uses it for group commit: every send waits here for its batch's end offset,
/// and one flush acknowledgement resolves all of them at once.
///
/// Threading: single-threaded, like the actor that owns it. Lifecycle: a frame destroyed while
/// suspended unregisters its waiter (the awaiter's destructor), so the monitor never resumes a
/// dead frame; the monitor must outlive the frames that wait on it.
class offset_monitor {
public:
  using clock_type = std::chrono::steady_clock;

  enum class outcome : uint8_t {
    reached,   ///< the offset was reached
    timed_out, ///< the deadline passed first
    failed,    ///< fail() was called: the offset will never be reached
  };

  class awaiter {
  public:
    awaiter(offset_monitor& m, uint64_t offset, clock_type::time_point deadline)
      : m_(&m), offset_(offset), deadline_(deadline) {
    }
    awaiter(const awaiter&) = delete;
    awaiter& operator=(const awaiter&) = delete;
    ~awaiter() {
      if (registered_)
        m_->waiters_.erase(it_);
    }

    bool await_ready() noexcept {
      if (m_->failed_) {
        result_ = outcome::failed;
        return true;
      }
      if (m_->reached_ >= offset_) {
        result_ = outcome::reached;
        return true;
      }
      return false;
    }
    void await_suspend(std::coroutine_handle<> h) {
      h_ = h;
      it_ = m_->waiters_.emplace(offset_, this);
      registered_ = true;
    }
    outcome await_resume() const noexcept {
      return result_;
    }

  private:
    friend class offset_monitor;
    offset_monitor* m_;
    uint64_t offset_;
    clock_type::time_point deadline_;
    outcome result_ = outcome::failed;
    std::coroutine_handle<> h_;
    std::multimap<uint64_t, awaiter*>::iterator it_;
    bool registered_ = false;
  };

  /// Waits until `offset` is reached or `deadline` passes.
  [[nodiscard]] awaiter wait(uint64_t offset, clock_type::time_point deadline) {
    return awaiter{*this, offset, deadline};
  }

  /// Reports that everything below `offset` is done; resumes every waiter at or below it.
  /// Offsets only move forward: a smaller value than one reported before changes nothing.
  void notify(uint64_t offset) {
    if (offset <= reached_)
      return;
    reached_ = offset;
    std::vector<awaiter*> ready;
    for (auto i = waiters_.begin(); i != waiters_.end() && i->first <= offset; ++i)
      ready.push_back(i->second);
    resume_all(ready, outcome::reached);
  }

  /// The thing counted went back to `offset` (a log cut back): offsets above it count as not
  /// reached again. Waiters stay as they are.
  void rewind(uint64_t offset) {
    reached_ = std::min(reached_, offset);
  }

  /// Resumes the waiters whose deadline is at or before `now`.
  void expire(clock_type::time_point now) {
    std::vector<awaiter*> late;
    for (auto& [off, w] : waiters_)
      if (w->deadline_ <= now)
        late.push_back(w);
    resume_all(late, outcome::timed_out);
  }

  /// Resumes every waiter with `failed`; later waits fail at once.
  void fail() {
    failed_ = true;
    std::vector<awaiter*> all;
    for (auto& [off, w] : waiters_)
      all.push_back(w);
    resume_all(all, outcome::failed);
  }

  /// Resumes every waiter with `failed` once, without making later waits fail (the thing
  /// waited for went away, e.g. the last slave detached; another may come).
  void abandon() {
    std::vector<awaiter*> all;
    for (auto& [off, w] : waiters_)
      all.push_back(w);
    resume_all(all, outcome::failed);
  }

  /// The earliest deadline among the waiters, if any.
  [[nodiscard]] std::optional<clock_type::time_point> next_deadline() const {
    std::optional<clock_type::time_point> out;
    for (auto& [off, w] : waiters_)
      if (!out || w->deadline_ < *out)
        out = w->deadline_;
    return out;
  }

  [[nodiscard]] size_t waiting() const noexcept {
    return waiters_.size();
  }

  [[nodiscard]] uint64_t reached() const noexcept {
    return reached_;
  }

private:
  // Unregister every chosen waiter before resuming any: a resumed coroutine may wait again,
  // finish, or have its frame destroyed, all of which touch waiters_.
  void resume_all(std::vector<awaiter*>& ws, outcome o) {
    std::vector<std::coroutine_handle<>> handles;
    handles.reserve(ws.size());
    for (auto* w : ws) {
      waiters_.erase(w->it_);
      w->registered_ = false;
      w->result_ = o;
      handles.push_back(w->h_);
    }
    for (auto h : handles)
      h.resume();
  }

  std::multimap<uint64_t, awaiter*> waiters_;
  uint64_t reached_ = 0;
  bool failed_ = false;
};

} // namespace holdfast
