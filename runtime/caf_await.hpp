#pragma once

// The one runtime/ header that includes CAF: header-only, so runtime's library stays CAF-free.

#include "runtime/task.hpp"

#include <caf/all.hpp>

#include <coroutine>
#include <optional>

namespace holdfast {

/// `co_await ask<R>(self, dest, timeout, msg)` sends a CAF request from inside a coroutine that
/// runs on the actor `self`, and resumes the coroutine from the response handler with the reply
/// or the error (sec::request_timeout when `timeout` passed). The mailbox is never blocked: the
/// actor handles other messages while the coroutine is suspended, and the coroutine always
/// resumes on the actor's own context, so it may touch the actor's state.
///
/// If the actor dies first, CAF drops the handler and the frame is never resumed: run such
/// coroutines under a task_scope in the actor's state so the frame is destroyed with it.
template <class Result, class Self, class Handle, class Msg>
class request_awaiter {
public:
  request_awaiter(Self* self, Handle dest, caf::duration timeout, Msg msg)
    : self_(self), dest_(std::move(dest)), timeout_(timeout), msg_(std::move(msg)) {
  }

  bool await_ready() const noexcept {
    return false;
  }

  void await_suspend(std::coroutine_handle<> h) {
    self_->request(dest_, timeout_, std::move(msg_))
      .then(
        [this, h](Result& r) {
          result_ = caf::expected<Result>{std::move(r)};
          h.resume();
        },
        [this, h](caf::error& err) {
          result_ = caf::expected<Result>{std::move(err)};
          h.resume();
        });
  }

  caf::expected<Result> await_resume() {
    return std::move(*result_);
  }

private:
  Self* self_;
  Handle dest_;
  caf::duration timeout_;
  Msg msg_;
  std::optional<caf::expected<Result>> result_;
};

/// See request_awaiter. `msg` is taken by value; build it as a named local (g++ 12.2 destroys an
/// aggregate built inline in a co_await expression twice).
template <class Result, class Self, class Handle, class Msg>
request_awaiter<Result, Self, Handle, Msg> ask(Self* self, Handle dest, caf::duration timeout,
                                               Msg msg) {
  return {self, std::move(dest), timeout, std::move(msg)};
}

} // namespace holdfast
