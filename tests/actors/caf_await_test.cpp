#include "runtime/caf_await.hpp"

#include "actor_test_support.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>

using namespace holdfast;
using namespace std::chrono_literals;

namespace {

using echo_actor = caf::typed_actor<caf::replies_to<int>::with<int>>;

echo_actor::behavior_type doubler() {
  return {[](int x) { return 2 * x; }};
}

// Never answers, but keeps its promises alive so no "broken promise" error goes out.
struct silent_state {
  silent_state() = default;
  std::vector<caf::typed_response_promise<int>> held;
};

echo_actor::behavior_type silent(echo_actor::stateful_pointer<silent_state> self) {
  return {[self](int) -> caf::typed_response_promise<int> {
    auto rp = self->make_response_promise<int>();
    self->state.held.push_back(rp);
    return rp;
  }};
}

std::atomic<int> live_frames{0};

struct frame_counter {
  frame_counter() {
    ++live_frames;
  }
  ~frame_counter() {
    --live_frames;
  }
};

struct client_state {
  client_state() = default;
  task_scope tasks;
};

using client_ptr = caf::stateful_actor<client_state>*;
using ask_atom = caf::atom_constant<caf::atom("t_ask")>;
using ping_atom = caf::atom_constant<caf::atom("t_ping")>;

task<void> ask_and_report(client_ptr self, echo_actor dest, caf::duration timeout, int x,
                          caf::actor report_to) {
  frame_counter alive;
  auto r = co_await ask<int>(self, dest, timeout, x);
  if (r)
    self->send(report_to, *r);
  else
    self->send(report_to, r.error());
}

caf::behavior client(client_ptr self) {
  return {
    [self](ask_atom, echo_actor dest, int x, caf::actor report_to) {
      self->state.tasks.spawn(ask_and_report(self, dest, caf::duration{100ms}, x, report_to));
    },
    [](ping_atom) { return std::string{"pong"}; },
  };
}

} // namespace

TEST_CASE("a coroutine awaiting a CAF request resumes with the reply", "[task]") {
  test::test_system_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  auto c = sys.spawn(client);
  auto d = sys.spawn(doubler);
  self->send(c, ask_atom::value, d, 21, caf::actor{self});
  self->receive([](int x) { CHECK(x == 42); },
                [](caf::error& e) { FAIL(caf::to_string(e)); },
                caf::after(5s) >> [] { FAIL("no reply"); });
  self->send_exit(c, caf::exit_reason::user_shutdown);
  self->send_exit(d, caf::exit_reason::user_shutdown);
}

TEST_CASE("a coroutine awaiting a silent actor resumes with a timeout error, and the mailbox "
          "stays open meanwhile",
          "[task]") {
  test::test_system_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  auto c = sys.spawn(client);
  auto t0 = std::chrono::steady_clock::now();
  auto quiet = sys.spawn(silent);
  self->send(c, ask_atom::value, quiet, 1, caf::actor{self});
  // While the coroutine waits, the actor still answers other messages.
  self->request(c, caf::duration{1s}, ping_atom::value)
    .receive([](std::string& s) { CHECK(s == "pong"); },
             [](caf::error& e) { FAIL(caf::to_string(e)); });
  self->receive([](int) { FAIL("unexpected reply"); },
                [](caf::error& e) { CHECK(e == caf::sec::request_timeout); },
                caf::after(5s) >> [] { FAIL("no timeout"); });
  CHECK(std::chrono::steady_clock::now() - t0 >= 90ms);
  self->send_exit(c, caf::exit_reason::user_shutdown);
  self->send_exit(quiet, caf::exit_reason::user_shutdown);
}

TEST_CASE("frames still suspended when their actor dies are destroyed", "[task]") {
  live_frames = 0;
  {
    test::test_system_config cfg;
    caf::actor_system sys{cfg};
    caf::scoped_actor self{sys};
    auto quiet = sys.spawn(silent);
    auto c = sys.spawn(client);
    for (int i = 0; i < 5; ++i)
      self->send(c, ask_atom::value, quiet, i, caf::actor{self});
    // Make sure all five started (the ping is handled after the five asks).
    self->request(c, caf::duration{1s}, ping_atom::value)
      .receive([](std::string&) {}, [](caf::error&) {});
    CHECK(live_frames == 5);
    self->send_exit(c, caf::exit_reason::kill);
    self->send_exit(quiet, caf::exit_reason::kill);
    self->wait_for(c);
  }
  CHECK(live_frames == 0);
}
