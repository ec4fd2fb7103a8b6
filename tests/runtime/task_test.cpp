#include "runtime/task.hpp"

#include <catch2/catch.hpp>

#include <coroutine>
#include <stdexcept>
#include <string>
#include <vector>

using holdfast::task;
using holdfast::task_scope;

namespace {

/// Counts the coroutine frames alive that hold one.
struct frame_counter {
  static inline int live = 0;
  frame_counter() {
    ++live;
  }
  frame_counter(const frame_counter&) = delete;
  ~frame_counter() {
    --live;
  }
};

/// Suspends forever: nobody ever resumes the awaiting coroutine.
struct never_resumed {
  bool await_ready() const noexcept {
    return false;
  }
  void await_suspend(std::coroutine_handle<>) const noexcept {
  }
  void await_resume() const noexcept {
  }
};

/// Suspends until the test resumes the handle it parked.
struct parked {
  std::coroutine_handle<>* slot;
  bool await_ready() const noexcept {
    return false;
  }
  void await_suspend(std::coroutine_handle<> h) const noexcept {
    *slot = h;
  }
  void await_resume() const noexcept {
  }
};

// Coroutine arguments by value or pointer, as task.hpp asks.
task<int> twice(int x) {
  co_return 2 * x;
}

task<std::string> greeting(std::string name) {
  std::string text = "hello "; // not "hello " + name: g++ 12 -Wrestrict false positive
  text += name;
  co_return text;
}

task<void> store_answer(int* out) {
  *out = co_await twice(21);
}

task<void> store_chain(std::string* out, int* n) {
  auto a = co_await twice(1);
  auto b = co_await twice(a);
  *n = co_await twice(b);
  *out = co_await greeting("world");
}

task<int> fail_with(std::string what) {
  throw std::runtime_error(what);
  co_return 0;
}

task<void> fail_void(std::string what) {
  co_await fail_with(what); // passes the exception on
}

task<void> catch_from_int(std::string* caught) {
  try {
    (void) co_await fail_with("from task<int>");
  } catch (const std::runtime_error& e) {
    *caught = e.what();
  }
}

task<void> catch_from_void(std::string* caught) {
  try {
    co_await fail_void("through two frames");
  } catch (const std::runtime_error& e) {
    *caught = e.what();
  }
}

task<void> stuck_leaf() {
  frame_counter c;
  co_await never_resumed{};
}

task<void> stuck_parent() {
  frame_counter c;
  co_await stuck_leaf();
}

task<void> wait_then_set(std::coroutine_handle<>* slot, bool* done) {
  frame_counter c;
  co_await parked{slot};
  *done = true;
}

task<void> finish_at_once(int* runs) {
  ++*runs;
  co_return;
}

} // namespace

TEST_CASE("a task of int awaited by a task of void hands over its value", "[task]") {
  int answer = 0;
  task_scope scope;
  scope.spawn(store_answer(&answer));
  CHECK(answer == 42);
  CHECK(scope.live() == 0);
}

TEST_CASE("a task chain runs to the end and returns every value", "[task]") {
  std::string text;
  int n = 0;
  task_scope scope;
  scope.spawn(store_chain(&text, &n));
  CHECK(n == 8);
  CHECK(text == "hello world");
}

TEST_CASE("a task does not start before it is awaited", "[task]") {
  int runs = 0;
  {
    auto t = finish_at_once(&runs);
    CHECK(runs == 0);
  } // destroyed without ever running
  CHECK(runs == 0);
  task_scope scope;
  scope.spawn(finish_at_once(&runs));
  CHECK(runs == 1);
}

TEST_CASE("an exception thrown in an awaited task comes out of co_await", "[task]") {
  auto through_void = GENERATE(false, true);
  CAPTURE(through_void);
  std::string caught;
  task_scope scope;
  if (through_void)
    scope.spawn(catch_from_void(&caught));
  else
    scope.spawn(catch_from_int(&caught));
  CHECK(caught == (through_void ? "through two frames" : "from task<int>"));
  CHECK(scope.live() == 0);
}

TEST_CASE("an exception escaping a root task is swallowed by the scope", "[task]") {
  task_scope scope;
  CHECK_NOTHROW(scope.spawn(fail_void("nobody catches this")));
  CHECK(scope.live() == 0);
}

TEST_CASE("a task scope destroys the frames still suspended when it dies", "[task]") {
  auto roots = GENERATE(1, 3);
  auto nested = GENERATE(false, true);
  CAPTURE(roots, nested);
  REQUIRE(frame_counter::live == 0);
  {
    task_scope scope;
    for (int i = 0; i < roots; ++i)
      scope.spawn(nested ? stuck_parent() : stuck_leaf());
    CHECK(scope.live() == static_cast<size_t>(roots));
    CHECK(frame_counter::live == roots * (nested ? 2 : 1));
  }
  CHECK(frame_counter::live == 0);
}

TEST_CASE("live counts the root tasks that have not finished", "[task]") {
  REQUIRE(frame_counter::live == 0);
  task_scope scope;
  CHECK(scope.live() == 0);
  int runs = 0;
  scope.spawn(finish_at_once(&runs));
  CHECK(scope.live() == 0);

  std::vector<std::coroutine_handle<>> slots(3);
  bool done[3] = {false, false, false};
  for (size_t i = 0; i < 3; ++i)
    scope.spawn(wait_then_set(&slots[i], &done[i]));
  scope.spawn(stuck_leaf());
  CHECK(scope.live() == 4);
  CHECK(frame_counter::live == 4);

  slots[1].resume();
  CHECK(done[1]);
  CHECK_FALSE(done[0]);
  CHECK(scope.live() == 3);
  CHECK(frame_counter::live == 3);
  slots[0].resume();
  slots[2].resume();
  CHECK(scope.live() == 1);
  CHECK(frame_counter::live == 1);
}
