// The partition's produce area: the coroutine send and group commit.

#include "actors/partition_areas.hpp"

#include "runtime/caf_await.hpp"
#include "runtime/log.hpp"

#include <algorithm>
#include <optional>

namespace holdfast::partition_impl {

namespace {

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// Keeps one flush request in flight while any send waits: the flush service syncs everything
// written when the request arrives, so each round covers every send appended meanwhile.
task<void> flush_pump(self_ptr self) {
  auto& st = self->state;
  // The first round runs unconditionally: the send that started the pump registers as a
  // waiter only when it suspends, after this coroutine's first suspension.
  do {
    flush_req req{st.store->log()->write_offset()};
    auto r = co_await ask<flush_ack>(self, st.flusher, caf::infinite, req);
    if (!r) {
      log_error("partition: flush failed: {}", describe(r.error()));
      st.failure = r.error();
      st.produce.flushed.fail();
      break;
    }
    st.produce.flushed.notify(r->flushed);
  } while (st.produce.flushed.waiting() > 0 && !st.failure);
  st.produce.pumping = false;
}

caf::error append_error(const status& s) {
  switch (s.code()) {
    // Only the producer that owns the stream hears this (producer ids are bound to its
    // session), but it still carries no numbers: nothing in it is of use to anyone else.
    case errc::out_of_sequence:
      return make_error(broker_errc::out_of_sequence,
                        "a sequence number does not continue its stream");
    case errc::out_of_range:
      return make_error(broker_errc::sequence_expired, s.context());
    case errc::not_found: // autoCreateTopicEnable = false (message_store::append)
      return make_error(broker_errc::topic_not_exist, s.context());
    default:
      return make_error(broker_errc::storage_failure,
                        std::string("append failed: ") + std::string(to_string(s.code())));
  }
}

using clock_type = offset_monitor::clock_type;

// Below this a budget cannot cover a write, a wait worth the name and the way back.
constexpr std::chrono::milliseconds min_budget{20};

// When the answer must leave so that it reaches a sender waiting `budget_ms` from `start`: a
// tenth of the budget (5 to 500 ms) is kept for the way back and the sender's own scheduling.
std::optional<clock_type::time_point> answer_by(clock_type::time_point start, uint32_t budget_ms) {
  if (budget_ms == 0)
    return std::nullopt;
  auto budget = std::chrono::milliseconds(budget_ms);
  auto margin = std::clamp<std::chrono::milliseconds>(budget / 10, std::chrono::milliseconds(5),
                                                      std::chrono::milliseconds(500));
  return start + budget - margin;
}

clock_type::time_point earliest(clock_type::time_point a,
                                std::optional<clock_type::time_point> b) {
  return b ? std::min(a, *b) : a;
}

// The send coroutine. Arguments by value: they must outlive every suspension.
task<void> send(self_ptr self, append_req req, caf::typed_response_promise<append_reply> rp) {
  auto& st = self->state;
  auto start = clock_type::now();
  auto by = answer_by(start, req.budget_ms);
  if (st.stopping) {
    rp.deliver(make_error(broker_errc::shutting_down, "broker is shutting down"));
    co_return;
  }
  if (note_store_failure(self)) {
    rp.deliver(st.failure);
    co_return;
  }
  if (st.opts.slave) {
    rp.deliver(make_error(broker_errc::not_master, "this broker is a SLAVE: send to its master at "
                                                     + st.opts.master_address));
    co_return;
  }
  if (req.msgs.empty()) {
    rp.deliver(make_error(broker_errc::invalid_message, "empty batch"));
    co_return;
  }
  if (req.budget_ms > 0 && std::chrono::milliseconds(req.budget_ms) < min_budget) {
    rp.deliver(make_error(broker_errc::budget_too_short,
                          "a send needs a budget of at least "
                            + std::to_string(min_budget.count()) + " ms; nothing was stored"));
    co_return;
  }
  for (auto& m : req.msgs) {
    if (auto c = st.store->check(m); c != message_check::ok) {
      rp.deliver(make_error(broker_errc::invalid_message,
                            std::string(to_string(c)) + " (topic '" + m.topic.substr(0, 200)
                              + "')"));
      co_return;
    }
  }
  append_reply reply;
  uint64_t end = 0;
  ++st.produce.append_requests;
  st.produce.messages += req.msgs.size();
  if (auto s = st.store->append(req.msgs, now_ms(), reply.results, end); !s.ok()) {
    note_store_failure(self);
    rp.deliver(append_error(s));
    co_return;
  }
  note_appended(self, req.msgs, reply.results, end);
  // Slaves waiting in a fetch get the new records now, in parallel with our own flush.
  serve_fetches(self, false);
  auto status = send_status::send_ok;
  if (st.opts.sync_flush) {
    auto deadline = earliest(start + st.opts.sync_flush_timeout, by);
    auto waiting = st.produce.flushed.wait(end, deadline);
    start_flush_pump(self);
    arm_timer(self, deadline);
    switch (co_await waiting) {
      case offset_monitor::outcome::reached:
        break;
      case offset_monitor::outcome::timed_out:
        status = send_status::flush_disk_timeout;
        break;
      case offset_monitor::outcome::failed:
        // Never SEND_OK after a failed fsync, also for every send that shared it.
        rp.deliver(st.failure ? st.failure
                              : make_error(broker_errc::storage_failure, "commit log fsync failed"));
        co_return;
    }
  }
  if (st.opts.sync_master) {
    // The replica step (RocketMQ 4.x CommitLog.handleHA); when both steps fail, its status wins.
    if (!slave_in_sync(st, end)) {
      status = send_status::slave_not_available;
    } else {
      auto deadline = earliest(clock_type::now() + st.opts.slave_timeout, by);
      auto waiting = st.master.replicated.wait(end, deadline);
      arm_timer(self, deadline);
      switch (co_await waiting) {
        case offset_monitor::outcome::reached:
          break;
        case offset_monitor::outcome::timed_out:
          status = send_status::flush_slave_timeout;
          break;
        case offset_monitor::outcome::failed:
          status = send_status::slave_not_available; // the last slave detached meanwhile
          break;
      }
    }
  }
  st.refresh_confirmed();
  for (auto& res : reply.results)
    res.status = status;
  if (st.opts.fault_drop_replies_every > 0
      && ++st.produce.replies_seen % st.opts.fault_drop_replies_every == 0) {
    // Testing only (holdfast-broker --fault-drop-replies): stored, but the producer never hears.
    log_warning("fault injection: dropping the reply to a stored batch of {}",
                reply.results.size());
    serve_parked(self, false);
    co_return;
  }
  rp.deliver(std::move(reply));
  serve_parked(self, false);
}

} // namespace

void start_flush_pump(self_ptr self) {
  auto& st = self->state;
  if (!st.produce.pumping) {
    st.produce.pumping = true;
    st.tasks.spawn(flush_pump(self));
  }
}

caf::result<uint64_t> on_new_producer(self_ptr self) {
  auto& st = self->state;
  if (st.opts.slave)
    return uint64_t{0}; // a slave stores no sends: no producer ids either
  uint64_t id = 0;
  if (auto e = st.store->new_producer_id(id); e != errc::ok) {
    log_warning("partition: no producer id: {}", to_string(e));
    return uint64_t{0};
  }
  return id;
}

caf::result<append_reply> on_append(self_ptr self, append_req& req) {
  auto rp = self->make_response_promise<append_reply>();
  self->state.tasks.spawn(send(self, std::move(req), rp));
  return rp;
}

} // namespace holdfast::partition_impl

namespace holdfast {

uint64_t partition_state::refresh_confirmed() {
  auto& log = *store->log();
  confirmed = opts.sync_flush ? std::max(confirmed, log.flushed_offset()) : log.write_offset();
  if (opts.sync_master)
    confirmed = std::min(confirmed, master.replicated.reached());
  return confirmed;
}

} // namespace holdfast
