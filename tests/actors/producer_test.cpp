#include "client/producer.hpp"

#include "actor_test_support.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

using namespace holdfast;
using namespace std::chrono_literals;

namespace {

// A client door front that loses the first `failures` requests the way a broken connection
// would (an error reply), then forwards to the real door.
struct flaky_state {
  flaky_state() = default;
  client_door_actor real;
  int failures_left = 0;
  std::shared_ptr<std::vector<std::string>> seen_ids;
  std::shared_ptr<int> requests = std::make_shared<int>(0);
};

client_door_actor::behavior_type flaky(client_door_actor::stateful_pointer<flaky_state> self,
                                       client_door_actor real, int failures,
                                       std::shared_ptr<std::vector<std::string>> seen,
                                       std::shared_ptr<int> requests) {
  self->state.requests = requests;
  self->state.real = real;
  self->state.failures_left = failures;
  self->state.seen_ids = seen;
  return {
    [self](hello_req& req) -> caf::result<hello_reply> {
      return self->delegate(self->state.real, std::move(req));
    },
    [self](commit_offset_req& req) -> caf::result<bool> {
      return self->delegate(self->state.real, std::move(req));
    },
    [self](fetch_offset_req& req) -> caf::result<fetch_offset_reply> {
      return self->delegate(self->state.real, std::move(req));
    },
    [self](group_heartbeat_req& req) -> caf::result<group_heartbeat_reply> {
      return self->delegate(self->state.real, std::move(req));
    },
    [self](topic_route_req& req) -> caf::result<int32_t> {
      return self->delegate(self->state.real, std::move(req));
    },
    [self](update_topic_req& req) -> caf::result<int32_t> {
      return self->delegate(self->state.real, std::move(req));
    },
    [self](append_req& req) -> caf::result<append_reply> {
      ++*self->state.requests;
      for (auto& m : req.msgs)
        self->state.seen_ids->push_back(m.msg_id);
      if (self->state.failures_left > 0) {
        --self->state.failures_left;
        return caf::make_error(caf::sec::request_timeout);
      }
      return self->delegate(self->state.real, std::move(req));
    },
    [self](pull_req& req) -> caf::result<pull_reply> {
      return self->delegate(self->state.real, std::move(req));
    },
    [self](status_atom a) -> caf::result<partition_status> {
      return self->delegate(self->state.real, a);
    },
  };
}

// A producer in front of a flaky front of a real broker; both stop with the test.
struct flaky_producer {
  flaky_producer(test::broker_fixture& f, int failures, producer_options opts = {})
    : sys(f.sys) {
    front = sys.spawn(flaky, f.b.client_door, failures, seen, requests);
    prod = sys.spawn(producer, front, opts);
  }
  ~flaky_producer() {
    caf::anon_send_exit(prod, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(front, caf::exit_reason::user_shutdown);
  }

  caf::actor_system& sys;
  std::shared_ptr<std::vector<std::string>> seen = std::make_shared<std::vector<std::string>>();
  std::shared_ptr<int> requests = std::make_shared<int>(0);
  client_door_actor front;
  producer_actor prod;
};

} // namespace

TEST_CASE("the producer retries failed sends keeping the message id", "[producer]") {
  test::broker_fixture f;
  flaky_producer p{f, 2};
  caf::scoped_actor self{f.sys};
  self->request(p.prod, caf::duration{10s}, test::text_message("t", "", "hello"))
    .receive([](send_result& r) { CHECK(r.status == send_status::send_ok); },
             [](caf::error& e) { FAIL(caf::to_string(e)); });
  auto& seen = *p.seen;
  REQUIRE(seen.size() == 3); // 1 try + 2 retries (retryTimesWhenSendFailed = 2)
  CHECK_FALSE(seen[0].empty());
  CHECK(seen[1] == seen[0]);
  CHECK(seen[2] == seen[0]);
}

TEST_CASE("the producer gives up after retryTimesWhenSendFailed retries", "[producer]") {
  test::broker_fixture f;
  producer_options opts;
  opts.retry_times = GENERATE(0, 1, 3);
  flaky_producer p{f, 100, opts};
  caf::scoped_actor self{f.sys};
  // The front fails each try at once, so the producer's own error comes long before this
  // request's timeout: a producer that hangs after its last retry must not pass for one that
  // gave up (both end in request_timeout).
  bool failed = false;
  auto t0 = std::chrono::steady_clock::now();
  self->request(p.prod, caf::duration{10s}, test::text_message("t", "fixed-id", "hello"))
    .receive([](send_result&) {}, [&](caf::error&) { failed = true; });
  CHECK(failed);
  CHECK(std::chrono::steady_clock::now() - t0 < 5s);
  CHECK(p.seen->size() == static_cast<size_t>(opts.retry_times + 1));
}

TEST_CASE("the producer does not retry a message the broker refuses", "[producer]") {
  test::broker_fixture f;
  flaky_producer p{f, 0};
  caf::scoped_actor self{f.sys};
  bool refused = false;
  // Queue 7 of a topic with 4 queues: only the broker knows, it refuses, no retry.
  auto m = test::text_message("t", "", "x");
  m.queue_id = 7;
  self->request(p.prod, caf::duration{10s}, m)
    .receive([](send_result&) {}, [&](caf::error& e) {
      refused = e == make_error(broker_errc::invalid_message);
    });
  CHECK(refused);
  CHECK(p.seen->size() == 1);
  // What the producer can tell by itself it refuses without sending: a bad topic name would
  // otherwise fail every send batched with it.
  refused = false;
  self->request(p.prod, caf::duration{10s}, test::text_message("bad/topic", "", "x"))
    .receive([](send_result&) {}, [&](caf::error& e) {
      refused = e == make_error(broker_errc::invalid_message);
    });
  CHECK(refused);
  CHECK(p.seen->size() == 1);
}

TEST_CASE("concurrent sends to the producer travel in batches", "[producer]") {
  test::broker_fixture f;
  flaky_producer p{f, 0};
  caf::scoped_actor self{f.sys};
  for (int i = 0; i < 200; ++i)
    self->send(p.prod, test::text_message("t", "", "m" + std::to_string(i)));
  std::set<std::string> ids;
  for (int i = 0; i < 200; ++i)
    self->receive([&](send_result& r) { ids.insert(r.msg_id); },
                  [](caf::error& e) { FAIL(caf::to_string(e)); });
  CHECK(ids.size() == 200);
  CHECK(p.seen->size() == 200);
  // 200 sends queued at once travel in far fewer append requests (each still got its result).
  CHECK(*p.requests < 100);
}

TEST_CASE("with lingerMs a send waits for others to join its batch", "[producer]") {
  test::broker_fixture f;
  producer_options opts;
  opts.linger = std::chrono::milliseconds(50);
  flaky_producer p{f, 0, opts};
  caf::scoped_actor self{f.sys};
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) {
    self->send(p.prod, test::text_message("t", "", "m" + std::to_string(i)));
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (int i = 0; i < 3; ++i)
    self->receive([](send_result& r) { CHECK(r.status == send_status::send_ok); },
                  [](caf::error& e) { FAIL(caf::to_string(e)); });
  CHECK(std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(45));
  CHECK(*p.requests == 1); // sent 5 ms apart, yet one append request
}

namespace {

// A door front with a script for the send of message "twice": its first attempt is stored
// but the reply is lost; its second is held 300 ms and then refused as out of sequence (as if
// it had travelled in a batch with another stream's gap). Anything with id "doomed" times out.
// Dynamically typed (it needs a timer message of its own); the producer gets it as a door.
caf::behavior scripted(caf::event_based_actor* self, client_door_actor real) {
  auto attempts = std::make_shared<int>(0);
  auto held = std::make_shared<caf::response_promise>();
  return {
    [self, real](hello_req& req) { return self->delegate(real, std::move(req)); },
    [self, real](status_atom a) { return self->delegate(real, a); },
    [self, real, attempts, held](append_req& req) -> caf::result<append_reply> {
      if (req.msgs.at(0).msg_id == "doomed")
        return caf::make_error(caf::sec::request_timeout);
      auto attempt = ++*attempts;
      if (attempt == 2) {
        *held = self->make_response_promise();
        self->delayed_send(self, std::chrono::milliseconds(300), tick_atom::value);
        return caf::delegated<append_reply>{};
      }
      auto rp = self->make_response_promise<append_reply>();
      self->request(real, caf::infinite, std::move(req))
        .then(
          [rp, attempt](append_reply& r) mutable {
            if (attempt == 1)
              rp.deliver(caf::make_error(caf::sec::request_timeout)); // stored, reply lost
            else
              rp.deliver(std::move(r));
          },
          [rp](caf::error& e) mutable { rp.deliver(std::move(e)); });
      return rp;
    },
    [held](tick_atom) { held->deliver(make_error(broker_errc::out_of_sequence)); },
  };
}

} // namespace

TEST_CASE("a send that may have been stored is never stamped again, even when its producer id "
          "was retired meanwhile",
          "[producer][idempotence]") {
  test::broker_fixture f;
  auto front = f.sys.spawn(scripted, f.b.client_door);
  auto prod = f.sys.spawn(producer, caf::actor_cast<client_door_actor>(front), producer_options{});
  caf::scoped_actor self{f.sys};
  self->send(prod, send_req{test::text_message("once", "twice", "x"), 2});
  std::this_thread::sleep_for(100ms); // its second attempt is held by the front now
  // A send that fails for good retires the producer id; a new one is taken.
  self->request(prod, caf::duration{10s}, send_req{test::text_message("other", "doomed", "y"), 0})
    .receive([](send_result&) { FAIL("the doomed send must fail"); }, [](caf::error&) {});
  send_result r;
  self->receive([&](send_result& x) { r = x; }, [](caf::error& e) { FAIL(caf::to_string(e)); },
                caf::after(10s) >> [] { FAIL("no answer within 10 s"); });
  CHECK(r.status == send_status::send_ok);
  CHECK(r.queue_offset == 0);
  partition_status st;
  self->request(f.b.partition, caf::duration{5s}, status_atom::value)
    .receive([&](partition_status& s) { st = s; }, [](caf::error&) {});
  uint64_t stored = 0;
  for (auto& t : st.topics)
    if (t.name == "once")
      for (auto e : t.queue_ends)
        stored += e;
  CHECK(stored == 1); // re-stamped under the new id it would have been stored twice
  caf::anon_send_exit(prod, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(front, caf::exit_reason::user_shutdown);
}
