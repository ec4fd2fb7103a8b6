// The partition: the single writer of the store, and a thin dispatch over its areas
// (partition_areas.hpp). Mailbox order is the only ordering: every handler runs to its first
// suspension before the next message is looked at.

#include "actors/partition.hpp"

#include "actors/partition_areas.hpp"
#include "runtime/log.hpp"

namespace holdfast {

using namespace partition_impl;

partition_actor::behavior_type partition(self_ptr self, std::shared_ptr<partition_parts> parts,
                                         flush_service_actor flusher, partition_options opts) {
  auto& st = self->state;
  st.store = std::move(parts->store);
  st.groups.persister = std::move(parts->offsets);
  for (auto& e : parts->committed)
    st.groups.committed[{e.group, e.topic, e.queue_id}] = e.offset;
  st.flusher = std::move(flusher);
  st.opts = opts;
  st.confirmed = st.store->log()->flushed_offset();
  st.admin.checkpointer = self->spawn<caf::detached + caf::linked>(checkpoint_service,
                                                                   st.admin.checkpoint_jobs);
  // Recovery may have cut the log's tail (a power cut under ASYNC_FLUSH): positions past it
  // would skip the messages stored there next.
  clamp_offsets(self, "the log lost its tail before this start");
  self->delayed_send(self, opts.checkpoint_interval, checkpoint_atom::value);
  return {
    [self](new_producer_atom) { return on_new_producer(self); },
    [self](append_req& req) { return on_append(self, req); },
    [self](pull_req& req) { return on_pull(self, req); },
    [self](commit_offset_req& req) { return on_commit(self, req); },
    [self](fetch_offset_req& req) { return on_fetch_offset(self, req); },
    [self](group_heartbeat_req& req) { return on_heartbeat(self, req); },
    [self](member_gone& msg) { on_member_gone(self, msg); },
    [self](topic_route_req& req) { return on_route(self, req); },
    [self](update_topic_req& req) { return on_update_topic(self, req); },
    [self](slave_fetch& msg) { return on_slave_fetch(self, msg); },
    [self](slave_ack& msg) { on_slave_ack(self, msg); },
    [self](slave_gone& msg) { on_slave_gone(self, msg); },
    [self](ha_offsets_req&) { return on_offsets_req(self); },
    [self](ha_append_req& req) { return on_ha_append(self, req); },
    [self](ha_truncate_req& req) { return on_ha_truncate(self, req); },
    [self](ha_position_atom) { return slave_position(self->state); },
    [self](ha_offsets_reply& msg) { return on_offsets_copy(self, msg); },
    [self](adopt_producer_key& msg) { return on_adopt_key(self, msg); },
    [self](status_atom) { return on_status(self); },
    [self](ha_port_atom, uint16_t port) { self->state.opts.ha_listen_port = port; },
    [self](shutdown_atom) { return on_shutdown(self); },
    [self](checkpoint_atom) { on_checkpoint(self); },
    [self](tick_atom) { on_tick(self); },
  };
}

partition_actor spawn_partition(caf::actor_system& sys, partition_parts parts,
                                flush_service_actor flusher, partition_options opts) {
  auto box = std::make_shared<partition_parts>(std::move(parts));
  return sys.spawn(partition, box, std::move(flusher), opts);
}

} // namespace holdfast
