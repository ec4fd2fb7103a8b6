#pragma once

#include <coroutine>
#include <exception>
#include <optional>
#include <unordered_set>
#include <utility>

namespace holdfast {

/// A lazily started coroutine returning T, awaited by another coroutine (symmetric transfer).
/// It owns its frame: destroying a task destroys a frame that is still suspended.
///
/// Take coroutine arguments by value: a reference to message content dangles after the first
/// suspension. Known g++ 12.2 bug: an aggregate built inline inside a co_await expression is
/// destroyed twice; build such values as named locals first.
template <class T>
class task {
public:
  struct promise_type {
    std::coroutine_handle<> continuation;
    std::optional<T> value;
    std::exception_ptr error;

    task get_return_object() noexcept {
      return task{std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() noexcept {
      return {};
    }
    auto final_suspend() noexcept {
      struct resume_caller {
        bool await_ready() noexcept {
          return false;
        }
        std::coroutine_handle<> await_suspend(std::coroutine_handle<promise_type> h) noexcept {
          auto c = h.promise().continuation;
          return c ? c : std::noop_coroutine();
        }
        void await_resume() noexcept {
        }
      };
      return resume_caller{};
    }
    template <class U>
    void return_value(U&& x) {
      value.emplace(std::forward<U>(x));
    }
    void unhandled_exception() noexcept {
      error = std::current_exception();
    }
  };

  task() = default;
  task(task&& other) noexcept : h_(std::exchange(other.h_, {})) {
  }
  task& operator=(task&& other) noexcept {
    if (this != &other) {
      if (h_)
        h_.destroy();
      h_ = std::exchange(other.h_, {});
    }
    return *this;
  }
  ~task() {
    if (h_)
      h_.destroy();
  }

  bool await_ready() const noexcept {
    return false;
  }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> caller) noexcept {
    h_.promise().continuation = caller;
    return h_;
  }
  T await_resume() {
    auto& p = h_.promise();
    if (p.error)
      std::rethrow_exception(p.error);
    return std::move(*p.value);
  }

private:
  explicit task(std::coroutine_handle<promise_type> h) : h_(h) {
  }
  std::coroutine_handle<promise_type> h_;
};

/// task<void>: same contract, no value.
template <>
class task<void> {
public:
  struct promise_type {
    std::coroutine_handle<> continuation;
    std::exception_ptr error;

    task get_return_object() noexcept {
      return task{std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() noexcept {
      return {};
    }
    auto final_suspend() noexcept {
      struct resume_caller {
        bool await_ready() noexcept {
          return false;
        }
        std::coroutine_handle<> await_suspend(std::coroutine_handle<promise_type> h) noexcept {
          auto c = h.promise().continuation;
          return c ? c : std::noop_coroutine();
        }
        void await_resume() noexcept {
        }
      };
      return resume_caller{};
    }
    void return_void() noexcept {
    }
    void unhandled_exception() noexcept {
      error = std::current_exception();
    }
  };

  task() = default;
  task(task&& other) noexcept : h_(std::exchange(other.h_, {})) {
  }
  task& operator=(task&& other) noexcept {
    if (this != &other) {
      if (h_)
        h_.destroy();
      h_ = std::exchange(other.h_, {});
    }
    return *this;
  }
  ~task() {
    if (h_)
      h_.destroy();
  }

  bool await_ready() const noexcept {
    return false;
  }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> caller) noexcept {
    h_.promise().continuation = caller;
    return h_;
  }
  void await_resume() {
    if (h_.promise().error)
      std::rethrow_exception(h_.promise().error);
  }

private:
  explicit task(std::coroutine_handle<promise_type> h) : h_(h) {
  }
  std::coroutine_handle<promise_type> h_;
};

/// Owns the root coroutines an actor starts, so that frames still suspended when the actor
/// dies are destroyed with the actor's state instead of leaking (CAF drops the pending response
/// handlers that would have resumed them). Lives in the actor's state; single-threaded like it.
class task_scope {
public:
  task_scope() = default;
  task_scope(const task_scope&) = delete;
  task_scope& operator=(const task_scope&) = delete;

  ~task_scope() {
    // Destroying a root frame unregisters it, so pop one at a time.
    while (!live_.empty())
      std::coroutine_handle<>::from_address(*live_.begin()).destroy();
  }

  /// Starts `t` now; it runs until its first suspension before spawn returns.
  void spawn(task<void> t) {
    run(this, std::move(t));
  }

  /// Root coroutines not finished yet.
  [[nodiscard]] size_t live() const noexcept {
    return live_.size();
  }

private:
  struct root {
    struct promise_type {
      task_scope* scope;
      std::coroutine_handle<> self;
      promise_type(task_scope* s, task<void>&) noexcept : scope(s) {
      }
      ~promise_type() {
        scope->live_.erase(self.address());
      }
      root get_return_object() noexcept {
        self = std::coroutine_handle<promise_type>::from_promise(*this);
        scope->live_.insert(self.address());
        return {};
      }
      std::suspend_never initial_suspend() noexcept {
        return {};
      }
      std::suspend_never final_suspend() noexcept {
        return {};
      }
      void return_void() noexcept {
      }
      void unhandled_exception() noexcept {
        // The awaited task stores its own exception; a root has nothing to report to.
      }
    };
  };

  static root run(task_scope*, task<void> t) {
    try {
      co_await t;
    } catch (...) {
      // Swallowed on purpose: a send coroutine reports failures through its response promise.
    }
  }

  // Frame addresses: libstdc++ 12's std::hash<coroutine_handle<>> is not usable as a hasher.
  std::unordered_set<void*> live_;
};

} // namespace holdfast
