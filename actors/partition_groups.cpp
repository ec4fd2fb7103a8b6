// The partition's groups area: consumer-group membership, queue ownership, committed offsets.

#include "actors/partition_areas.hpp"

#include "runtime/log.hpp"

#include <algorithm>

namespace holdfast::partition_impl {

caf::error check_queue(self_ptr self, const std::string* group, const std::string& topic,
                       int32_t queue_id) {
  auto& st = self->state;
  if (group != nullptr && !valid_group_name(*group))
    return make_error(broker_errc::invalid_message,
                      "consumer group name must match [A-Za-z0-9_%-]{1,127}");
  if (!valid_topic_name(topic))
    return make_error(broker_errc::invalid_message,
                      "topic name must match [A-Za-z0-9_%-]{1,127}");
  if (queue_id < 0 || queue_id >= st.store->queue_count(topic))
    return make_error(broker_errc::invalid_message, "queue id out of range");
  return {};
}

namespace {

/// Takes what the offset service made durable into the partition's copy. Answers arrive in the
/// order of the writes, so the copy follows the disk.
void note_durable(self_ptr self, const offset_write_ack& ack) {
  auto& committed = self->state.groups.committed;
  for (auto& x : ack.applied)
    committed[{x.group, x.topic, x.queue_id}] = x.offset;
}

} // namespace

caf::result<bool> persist_offsets(self_ptr self, offset_write_req req) {
  // The fsync runs on the offset service's thread: a slow disk delays this answer, not the
  // partition. No timeout: the service answers every write (or fails it when it dies), and a
  // timed request would go through CAF's clock thread.
  auto rp = self->make_response_promise<bool>();
  self->request(self->state.groups.persister, caf::infinite, std::move(req))
    .then(
      [self, rp](offset_write_ack& ack) mutable {
        note_durable(self, ack);
        rp.deliver(true);
      },
      [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

void clamp_offsets(self_ptr self, const char* why) {
  auto& st = self->state;
  // Lowered in the copy at once (memory may claim less than the disk, never more), so no
  // fetch_offset answers a position past the end while the service writes the change.
  for (auto& [k, off] : st.groups.committed)
    off = std::min(off, st.store->queue_end(std::get<1>(k), std::get<2>(k)));
  offset_write_req req;
  req.kind = offset_change::clamp;
  req.ends = st.store->topics();
  std::string reason = why;
  self->request(st.groups.persister, caf::infinite, std::move(req))
    .then(
      [self, reason](offset_write_ack& ack) {
        for (size_t i = 0; i < ack.lowered.size() && i < ack.applied.size(); ++i) {
          auto& x = ack.lowered[i];
          log_warning("consumer group '{}' {} queue {}: committed offset {} is past the queue's "
                      "end {} ({}): lowered to it",
                      x.group, x.topic, x.queue_id, x.offset, ack.applied[i].offset, reason);
        }
        note_durable(self, ack);
      },
      [](caf::error& err) {
        log_error("partition: lowering consumer offsets failed: {}", describe(err));
      });
}

caf::result<bool> on_commit(self_ptr self, commit_offset_req& req) {
  auto& st = self->state;
  if (auto err = check_queue(self, &req.group, req.topic, req.queue_id))
    return err;
  // A position may claim only what a crash cannot undo: the messages a pull could return.
  auto end = st.store->confirmed_queue_end(req.topic, req.queue_id, st.refresh_confirmed());
  if (req.offset > end)
    return make_error(broker_errc::invalid_message,
                      "offset " + std::to_string(req.offset) + " is past the queue's confirmed end "
                        + std::to_string(end));
  // "Only forward" is the offset service's check: it sees every commit handed over before this
  // one, durable or not, in mailbox order.
  offset_write_req w;
  w.kind = offset_change::commit;
  w.entries.push_back(group_offset{req.group, req.topic, req.queue_id, req.offset});
  return persist_offsets(self, std::move(w));
}

caf::result<fetch_offset_reply> on_fetch_offset(self_ptr self, fetch_offset_req& req) {
  auto& st = self->state;
  if (auto err = check_queue(self, &req.group, req.topic, req.queue_id))
    return err;
  fetch_offset_reply r;
  if (auto i = st.groups.committed.find({req.group, req.topic, req.queue_id});
      i != st.groups.committed.end()) {
    r.found = true;
    r.offset = i->second;
  }
  r.queue_end = st.store->queue_end(req.topic, req.queue_id);
  return r;
}

caf::result<group_heartbeat_reply> on_heartbeat(self_ptr self, group_heartbeat_req& req) {
  auto& st = self->state;
  if (auto err = check_queue(self, &req.group, req.topic, 0))
    return err;
  if (req.consumer_id.empty() || req.consumer_id.size() > 256)
    return make_error(broker_errc::invalid_message, "consumer id must have 1 to 256 bytes");
  group_heartbeat_reply r;
  r.queue_count = st.store->queue_count(req.topic);
  if (req.leave) {
    if (st.groups.members.remove_member(req.consumer_id))
      log_info("consumer '{}' left group '{}'", req.consumer_id, req.group);
    return r;
  }
  // Three missed heartbeats (plus slack for a loaded machine) before a silent member's
  // queues move; a broken connection moves them at once (member_gone from the door).
  auto interval = std::chrono::milliseconds(std::clamp<uint32_t>(req.interval_ms, 10, 600000));
  auto expiry = 3 * interval + std::chrono::seconds(2);
  r.queues = st.groups.members.heartbeat(req.group, req.topic, req.consumer_id, req.owned,
                                         r.queue_count, expiry, std::chrono::steady_clock::now());
  return r;
}

void on_member_gone(self_ptr self, member_gone& msg) {
  // A consumer's connection broke (or it exited): its queues go to the others now rather than
  // after its heartbeat expiry.
  if (self->state.groups.members.remove_member(msg.consumer_id))
    log_info("consumer '{}' left its group (disconnected)", msg.consumer_id);
}

caf::result<int32_t> on_route(self_ptr self, topic_route_req& req) {
  if (auto err = check_queue(self, nullptr, req.topic, 0))
    return err;
  return self->state.store->queue_count(req.topic);
}

} // namespace holdfast::partition_impl
