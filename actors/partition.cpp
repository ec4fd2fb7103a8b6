#include "actors/partition.hpp"

#include "runtime/caf_await.hpp"
#include "runtime/log.hpp"

namespace holdfast {

namespace {

using self_ptr = partition_actor::stateful_pointer<partition_state>;

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

void arm_deadline_timer(self_ptr self, offset_monitor::clock_type::time_point deadline) {
  auto& st = self->state;
  if (st.timer_armed)
    return;
  st.timer_armed = true;
  auto delay = deadline - offset_monitor::clock_type::now();
  self->delayed_send(self, std::chrono::duration_cast<std::chrono::microseconds>(delay),
                     tick_atom::value);
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
      st.flushed.fail();
      break;
    }
    st.flushed.notify(r->flushed);
  } while (st.flushed.waiting() > 0 && !st.failure);
  st.pumping = false;
}

void start_flush_pump(self_ptr self) {
  auto& st = self->state;
  if (!st.pumping) {
    st.pumping = true;
    st.tasks.spawn(flush_pump(self));
  }
}

// The send coroutine. Arguments by value: they must outlive every suspension.
task<void> send(self_ptr self, append_req req, caf::typed_response_promise<append_reply> rp) {
  auto& st = self->state;
  if (st.stopping) {
    rp.deliver(make_error(broker_errc::shutting_down, "broker is shutting down"));
    co_return;
  }
  if (st.failure) {
    rp.deliver(st.failure);
    co_return;
  }
  if (req.msgs.empty()) {
    rp.deliver(make_error(broker_errc::invalid_message, "empty batch"));
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
  if (auto e = st.store->append(req.msgs, now_ms(), reply.results, end); e != errc::ok) {
    rp.deliver(make_error(broker_errc::storage_failure,
                          std::string("append failed: ") + std::string(to_string(e))));
    co_return;
  }
  auto status = send_status::send_ok;
  if (st.opts.sync_flush) {
    auto deadline = offset_monitor::clock_type::now() + st.opts.sync_flush_timeout;
    auto waiting = st.flushed.wait(end, deadline);
    start_flush_pump(self);
    arm_deadline_timer(self, deadline);
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
  st.refresh_confirmed();
  for (auto& res : reply.results)
    res.status = status;
  rp.deliver(std::move(reply));
}

} // namespace

partition_actor::behavior_type partition(self_ptr self,
                                         std::shared_ptr<std::unique_ptr<message_store>> store,
                                         flush_service_actor flusher, partition_options opts) {
  auto& st = self->state;
  st.store = std::move(*store);
  st.flusher = std::move(flusher);
  st.opts = opts;
  st.confirmed = st.store->log()->flushed_offset();
  self->delayed_send(self, opts.checkpoint_interval, checkpoint_atom::value);
  return {
    [self](append_req& req) -> caf::typed_response_promise<append_reply> {
      auto rp = self->make_response_promise<append_reply>();
      self->state.tasks.spawn(send(self, std::move(req), rp));
      return rp;
    },
    [self](pull_req& req) -> caf::result<pull_reply> {
      auto& st = self->state;
      if (!valid_topic_name(req.topic))
        return make_error(broker_errc::invalid_message,
                          "topic name must match [A-Za-z0-9_%-]{1,127}");
      st.refresh_confirmed();
      pull_reply reply;
      auto max = std::min<uint32_t>(req.max, 1024);
      if (auto e = st.store->read(req.topic, req.queue_id, req.offset, max, st.confirmed,
                                  reply.msgs, reply.next_offset);
          e != errc::ok)
        return make_error(broker_errc::storage_failure,
                          std::string("read failed: ") + std::string(to_string(e)));
      reply.max_offset = st.store->queue_end(req.topic, req.queue_id);
      return reply;
    },
    [self](status_atom) -> partition_status {
      auto& st = self->state;
      partition_status s;
      s.flush_disk_type = st.opts.sync_flush ? "SYNC_FLUSH" : "ASYNC_FLUSH";
      s.broker_role = st.opts.broker_role;
      s.written = st.store->log()->write_offset();
      s.flushed = st.store->log()->flushed_offset();
      s.confirmed = st.refresh_confirmed();
      s.fsyncs = st.store->log()->sync_count();
      s.topics = st.store->topics();
      return s;
    },
    [self](shutdown_atom) -> bool {
      // Clean stop: make everything durable and leave the marker that lets the next start
      // skip the recovery scan. Sends arriving from now on are refused.
      auto& st = self->state;
      st.stopping = true;
      if (st.failure) {
        log_warning("partition: not writing the clean-shutdown marker after a failed fsync");
        return false;
      }
      auto e = st.store->close();
      if (e != errc::ok)
        log_error("partition: clean shutdown failed: {}", to_string(e));
      return e == errc::ok;
    },
    [self](tick_atom) {
      // The flush-deadline timer: time out late sends, re-arm for the next deadline.
      auto& st = self->state;
      st.timer_armed = false;
      st.flushed.expire(offset_monitor::clock_type::now());
      if (auto next = st.flushed.next_deadline())
        arm_deadline_timer(self, *next);
    },
    [self](checkpoint_atom) {
      auto& st = self->state;
      if (st.stopping)
        return;
      if (!st.failure)
        if (auto e = st.store->checkpoint(); e != errc::ok)
          log_warning("partition: checkpoint failed: {}", to_string(e));
      self->delayed_send(self, st.opts.checkpoint_interval, checkpoint_atom::value);
    },
  };
}

partition_actor spawn_partition(caf::actor_system& sys, std::unique_ptr<message_store> store,
                                flush_service_actor flusher, partition_options opts) {
  // CAF copies spawn arguments; a shared_ptr carries the move-only store across.
  auto box = std::make_shared<std::unique_ptr<message_store>>(std::move(store));
  return sys.spawn(partition, box, std::move(flusher), opts);
}

} // namespace holdfast
