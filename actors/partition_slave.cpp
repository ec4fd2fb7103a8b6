// The partition's slave area: records copied from the master, with the same offsets and the
// master's terms; cutting back where the logs diverged.

#include "actors/partition_areas.hpp"

#include "runtime/log.hpp"

#include <algorithm>
#include <cstring>

namespace holdfast::partition_impl {

namespace {

// The slave side of an append: the answer is the position the slave acknowledges (fsynced
// when it is SYNC_FLUSH). Arguments by value: they must outlive every suspension.
task<void> replicate(self_ptr self, ha_append_req req, caf::typed_response_promise<ha_position> rp) {
  auto& st = self->state;
  if (note_store_failure(self)) {
    rp.deliver(st.failure);
    co_return;
  }
  if (req.offset != st.store->log()->write_offset()) {
    rp.deliver(make_error(broker_errc::out_of_order,
                          "replicated bytes at " + std::to_string(req.offset)
                            + " do not continue the log at "
                            + std::to_string(st.store->log()->write_offset())));
    co_return;
  }
  // The terms first: records must never be on disk under a term the history does not know
  // (a crash in between would make them look like the previous term's).
  if (auto e = st.store->record_terms(req.terms); e != errc::ok) {
    rp.deliver(make_error(broker_errc::storage_failure,
                          std::string("recording the master's terms failed: ")
                            + std::string(to_string(e))));
    co_return;
  }
  if (auto e = st.store->append_raw(req.bytes, req.new_segment); e != errc::ok) {
    rp.deliver(make_error(broker_errc::storage_failure,
                          std::string("replicated append failed: ") + std::string(to_string(e))));
    co_return;
  }
  if (st.opts.sync_flush) {
    auto end = st.store->log()->write_offset();
    auto deadline = offset_monitor::clock_type::now() + st.opts.sync_flush_timeout;
    auto waiting = st.produce.flushed.wait(end, deadline);
    start_flush_pump(self);
    arm_timer(self, deadline);
    if (co_await waiting == offset_monitor::outcome::failed) {
      rp.deliver(st.failure ? st.failure : make_error(broker_errc::storage_failure, "fsync failed"));
      co_return;
    }
  }
  st.refresh_confirmed();
  rp.deliver(slave_position(st));
  serve_all_parked(self);
}

} // namespace

ha_position slave_position(partition_state& st) {
  auto& log = *st.store->log();
  ha_position p{log.write_offset(), st.opts.sync_flush ? log.flushed_offset() : log.write_offset(),
                0, 0};
  if (auto last = st.store->epochs().last()) {
    p.last_epoch = last->epoch;
    p.last_term = last->term;
  }
  return p;
}

caf::result<ha_position> on_ha_append(self_ptr self, ha_append_req& req) {
  if (!self->state.opts.slave)
    return make_error(broker_errc::not_master, "only a SLAVE takes replicated records");
  auto rp = self->make_response_promise<ha_position>();
  self->state.tasks.spawn(replicate(self, std::move(req), rp));
  return rp;
}

caf::result<ha_position> on_ha_truncate(self_ptr self, ha_truncate_req& req) {
  auto& st = self->state;
  if (!st.opts.slave)
    return make_error(broker_errc::not_master, "only a SLAVE truncates on its master's word");
  if (note_store_failure(self))
    return st.failure;
  auto to = std::min(req.offset, st.store->log()->write_offset());
  if (req.drop_last_term) {
    auto last = st.store->epochs().last();
    to = last ? std::min(st.store->log()->write_offset(), last->start_offset) : 0;
  }
  uint64_t dropped = 0;
  st.admin.checkpoint_jobs->discard();
  if (auto e = st.store->truncate_to(to, dropped); e != errc::ok)
    return make_error(broker_errc::storage_failure,
                      std::string("truncation failed: ") + std::string(to_string(e)));
  if (dropped > 0)
    log_warning("replication: dropped {} bytes past offset {} that the master does not have",
                dropped, to);
  st.confirmed = std::min(st.confirmed, to);
  st.produce.flushed.rewind(st.store->log()->flushed_offset());
  clamp_offsets(self, "the slave cut its log back to its master's");
  return slave_position(st);
}

caf::result<bool> on_offsets_copy(self_ptr self, ha_offsets_reply& msg) {
  // The master's offsets, taken where ahead, but never past what this slave holds: promoted,
  // it would otherwise skip the messages it stores at those offsets.
  auto& st = self->state;
  if (!st.opts.slave)
    return make_error(broker_errc::not_master, "only a SLAVE takes its master's offsets");
  offset_write_req req;
  req.kind = offset_change::merge_max;
  req.entries.reserve(msg.offsets.size());
  for (auto& o : msg.offsets)
    req.entries.push_back(group_offset{
      o.group, o.topic, o.queue_id,
      std::min(o.offset, st.store->confirmed_queue_end(o.topic, o.queue_id, st.refresh_confirmed()))});
  // Persisted like a consumer's commit: answered once the offset service's fsync covers it.
  return persist_offsets(self, std::move(req));
}

caf::result<bool> on_adopt_key(self_ptr self, adopt_producer_key& msg) {
  auto& st = self->state;
  secret::key k{};
  if (!st.opts.slave || msg.key.size() != k.size())
    return make_error(broker_errc::invalid_message, "a producer key has 16 bytes");
  std::memcpy(k.data(), msg.key.data(), k.size());
  if (auto e = st.store->set_producer_key(k); e != errc::ok)
    return make_error(broker_errc::storage_failure,
                      std::string("storing the master's producer key failed: ")
                        + std::string(to_string(e)));
  return true;
}

} // namespace holdfast::partition_impl
