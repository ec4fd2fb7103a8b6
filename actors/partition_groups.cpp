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

void clamp_offsets(self_ptr self, const char* why) {
  auto& st = self->state;
  std::vector<offset_store::entry> lowered;
  auto e = st.groups.offsets->clamp(
    [&st](const std::string& topic, int32_t queue) { return st.store->queue_end(topic, queue); },
    lowered);
  for (auto& x : lowered)
    log_warning("consumer group '{}' {} queue {}: committed offset {} is past the queue's end "
                "{} ({}): lowered to it",
                x.group, x.topic, x.queue_id, x.offset, st.store->queue_end(x.topic, x.queue_id),
                why);
  if (e != errc::ok)
    log_error("partition: lowering consumer offsets failed: {}", to_string(e));
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
  auto e = st.groups.offsets->commit(req.group, req.topic, req.queue_id, req.offset);
  if (e == errc::out_of_range)
    return make_error(broker_errc::invalid_message, "committed offsets only move forward");
  if (e != errc::ok)
    return make_error(broker_errc::storage_failure,
                      std::string("offset commit failed: ") + std::string(to_string(e)));
  return true;
}

caf::result<fetch_offset_reply> on_fetch_offset(self_ptr self, fetch_offset_req& req) {
  auto& st = self->state;
  if (auto err = check_queue(self, &req.group, req.topic, req.queue_id))
    return err;
  fetch_offset_reply r;
  if (auto off = st.groups.offsets->get(req.group, req.topic, req.queue_id)) {
    r.found = true;
    r.offset = *off;
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
