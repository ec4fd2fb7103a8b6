// The partition's admin area: status, checkpoints, the one timer, clean shutdown.

#include "actors/partition_areas.hpp"

#include "runtime/log.hpp"

namespace holdfast::partition_impl {

// One timer serves flush, replica and long-poll deadlines: armed for the earliest one; a tick
// that comes early or late only makes the handler look again.
void arm_timer(self_ptr self, steady_time deadline) {
  auto& at = self->state.admin.timer_at;
  if (at && *at <= deadline)
    return;
  at = deadline;
  auto delay = deadline - std::chrono::steady_clock::now();
  if (delay.count() < 0)
    delay = {};
  self->delayed_send(self, std::chrono::duration_cast<std::chrono::microseconds>(delay),
                     tick_atom::value);
}

partition_status on_status(self_ptr self) {
  auto& st = self->state;
  partition_status s;
  s.flush_disk_type = st.opts.sync_flush ? "SYNC_FLUSH" : "ASYNC_FLUSH";
  s.broker_role = st.opts.broker_role;
  s.written = st.store->log()->write_offset();
  s.flushed = st.store->log()->flushed_offset();
  s.confirmed = st.refresh_confirmed();
  s.fsyncs = st.store->log()->sync_count();
  s.append_requests = st.produce.append_requests;
  s.messages = st.produce.messages;
  s.duplicates = st.store->duplicates();
  s.producer_streams = st.store->producers().streams();
  s.master_address = st.opts.slave ? st.opts.master_address : std::string{};
  s.epoch = st.store->current_epoch();
  s.ha_listen_port = st.opts.ha_listen_port;
  auto now = std::chrono::steady_clock::now();
  for (auto& [id, sl] : st.master.slaves)
    s.slaves.push_back(slave_info{
      id, sl.acked, s.written - std::min(s.written, sl.acked),
      std::chrono::duration_cast<std::chrono::milliseconds>(now - sl.last_seen).count()});
  s.topics = st.store->topics();
  return s;
}

bool on_shutdown(self_ptr self) {
  // Clean stop: make everything durable and leave the marker that lets the next start skip
  // the recovery scan. Sends arriving from now on are refused; long polls end.
  auto& st = self->state;
  st.stopping = true;
  serve_parked(self, true);
  serve_fetches(self, true);
  if (st.failure) {
    log_warning("partition: not writing the clean-shutdown marker after a failed fsync");
    return false;
  }
  st.admin.checkpoint_jobs->wait_idle(); // close() writes the same files
  auto e = st.store->close();
  if (e != errc::ok) {
    log_error("partition: clean shutdown failed: {}", to_string(e));
    st.produce.flushed.fail();
    return false;
  }
  // Everything is on disk now: sends still waiting for their flush get SEND_OK before exit.
  st.produce.flushed.notify(st.store->log()->flushed_offset());
  return true;
}

void on_checkpoint(self_ptr self) {
  auto& st = self->state;
  if (st.stopping)
    return;
  // The fsyncs run on the checkpoint service's thread; one job at a time.
  if (!st.failure && !st.admin.checkpointing) {
    st.admin.checkpointing = true;
    st.admin.checkpoint_jobs->put(st.store->begin_checkpoint());
    self->request(st.admin.checkpointer, caf::infinite, checkpoint_atom::value)
      .then(
        [self](bool) {
          auto& st = self->state;
          st.admin.checkpointing = false;
          if (auto job = st.admin.checkpoint_jobs->take()) {
            if (job->result != errc::ok)
              log_warning("partition: checkpoint failed: {}", to_string(job->result));
            st.store->end_checkpoint(*job);
          }
          note_store_failure(self);
        },
        [self](caf::error& err) {
          self->state.admin.checkpointing = false;
          log_warning("partition: checkpoint service: {}", describe(err));
        });
  }
  // The only timer loop of its kind: armed once at spawn, re-armed here, and checkpoint_atom
  // is in no published interface, so nobody can start a second one.
  self->delayed_send(self, st.opts.checkpoint_interval, checkpoint_atom::value);
}

bool note_store_failure(self_ptr self) {
  auto& st = self->state;
  if (st.failure)
    return true;
  if (!st.store->failed())
    return false;
  // The pages a failed fsync covered may be gone from the page cache (fsyncgate): nothing
  // written after it can be promised durable until a restart recovers what is on disk.
  log_error("partition: a commit log, index or directory fsync failed; refusing sends until "
            "the broker restarts");
  st.failure = make_error(broker_errc::storage_failure,
                          "an fsync failed on this broker: it refuses sends until restarted");
  st.produce.flushed.fail();
  return true;
}

void on_tick(self_ptr self) {
  // Deadlines: time out late sends; answer long polls and slave fetches whose wait is over.
  auto& st = self->state;
  st.admin.timer_at.reset();
  auto now = offset_monitor::clock_type::now();
  st.produce.flushed.expire(now);
  st.master.replicated.expire(now);
  if (auto next = st.produce.flushed.next_deadline())
    arm_timer(self, *next);
  if (auto next = st.master.replicated.next_deadline())
    arm_timer(self, *next);
  serve_parked(self, true);
  serve_fetches(self, true);
}

} // namespace holdfast::partition_impl

namespace holdfast::partition_impl {

caf::result<int32_t> on_update_topic(self_ptr self, update_topic_req& req) {
  auto& st = self->state;
  if (st.stopping)
    return make_error(broker_errc::shutting_down, "broker is shutting down");
  if (note_store_failure(self))
    return st.failure;
  if (st.opts.slave)
    return make_error(broker_errc::not_master, "this broker is a SLAVE: create topics on its "
                                               "master at " + st.opts.master_address);
  if (!valid_topic_name(req.topic))
    return make_error(broker_errc::invalid_message,
                      "topic name must match [A-Za-z0-9_%-]{1,127}");
  if (system_topic_queue_nums(req.topic, 1) > 0) // positive for every system topic
    return make_error(broker_errc::invalid_message,
                      "'" + req.topic + "' is a system topic: the broker makes it itself");
  if (req.queues < 1 || req.queues > max_topic_queues)
    return make_error(broker_errc::invalid_message,
                      "a topic has 1 to " + std::to_string(max_topic_queues) + " queues");
  auto have = st.store->has_topic(req.topic) ? st.store->queue_count(req.topic) : 0;
  if (req.queues < have)
    return make_error(broker_errc::invalid_message,
                      "topic '" + req.topic + "' has " + std::to_string(have)
                        + " queues: shrinking it is refused (their messages would become "
                          "unreachable)");
  if (auto e = st.store->create_topic(req.topic, req.queues); e != errc::ok) {
    note_store_failure(self);
    return make_error(broker_errc::storage_failure,
                      "updateTopic failed: " + std::string(to_string(e)));
  }
  if (have != req.queues)
    log_info("topic '{}' {} with {} queues", req.topic, have == 0 ? "created" : "grown",
             req.queues);
  return st.store->queue_count(req.topic);
}

} // namespace holdfast::partition_impl
