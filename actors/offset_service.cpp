#include "actors/offset_service.hpp"

#include "runtime/log.hpp"

#include <map>

namespace holdfast {

namespace {

using self_ptr = offset_service_actor::stateful_pointer<offset_service_state>;

caf::error write_failed(errc e) {
  switch (e) {
    case errc::out_of_range:
      return make_error(broker_errc::invalid_message, "committed offsets only move forward");
    case errc::invalid_argument:
      return make_error(broker_errc::invalid_message,
                        "invalid consumer group, topic or queue id in an offset commit");
    case errc::sticky_failure:
      return make_error(broker_errc::storage_failure,
                        "an fsync of the consumer offsets failed on this broker: offset commits "
                        "are refused until it restarts");
    default:
      return make_error(broker_errc::storage_failure,
                        std::string("offset commit failed: ") + std::string(to_string(e)));
  }
}

std::vector<offset_store::entry> to_entries(const std::vector<group_offset>& xs) {
  std::vector<offset_store::entry> out;
  out.reserve(xs.size());
  for (const auto& x : xs)
    out.push_back(offset_store::entry{x.group, x.topic, x.queue_id, x.offset});
  return out;
}

std::vector<group_offset> to_wire(const std::vector<offset_store::entry>& xs) {
  std::vector<group_offset> out;
  out.reserve(xs.size());
  for (const auto& x : xs)
    out.push_back(group_offset{x.group, x.topic, x.queue_id, x.offset});
  return out;
}

caf::result<offset_write_ack> on_write(self_ptr self, offset_write_req& req) {
  auto& st = self->state;
  std::vector<offset_store::entry> applied;
  std::vector<offset_store::entry> lowered;
  errc e = errc::ok;
  switch (req.kind) {
    case offset_change::commit:
      e = st.store->stage_commit(to_entries(req.entries), false, applied);
      break;
    case offset_change::merge_max:
      e = st.store->stage_merge_max(to_entries(req.entries), applied);
      break;
    case offset_change::clamp: {
      std::map<std::pair<std::string, int32_t>, uint64_t> ends;
      for (auto& t : req.ends)
        for (size_t q = 0; q < t.queue_ends.size(); ++q)
          ends[{t.name, static_cast<int32_t>(q)}] = t.queue_ends[q];
      // A queue the store does not know (any more) has end 0, as message_store::queue_end says.
      auto end_of = [&ends](const std::string& topic, int32_t queue) -> uint64_t {
        auto i = ends.find({topic, queue});
        return i == ends.end() ? 0 : i->second;
      };
      e = st.store->stage_clamp(end_of, lowered, applied);
      break;
    }
  }
  if (e != errc::ok)
    return write_failed(e);
  offset_write_ack ack{to_wire(applied), to_wire(lowered)};
  // Nothing staged is waiting (this write changed nothing, and nothing before it is unsynced):
  // what it asks for is durable already.
  if (!st.store->dirty())
    return ack;
  auto rp = self->make_response_promise<offset_write_ack>();
  st.waiting.push_back(waiting_offset_write{rp, std::move(ack)});
  if (!st.sync_queued) {
    st.sync_queued = true;
    self->send(self, offset_sync_atom::value);
  }
  return rp;
}

void on_sync(self_ptr self) {
  auto& st = self->state;
  st.sync_queued = false;
  auto e = st.store->sync();
  auto waiting = std::move(st.waiting);
  st.waiting.clear();
  for (auto& w : waiting) {
    if (e == errc::ok)
      w.rp.deliver(std::move(w.ack));
    else
      w.rp.deliver(write_failed(e == errc::sticky_failure ? e : errc::sticky_failure));
  }
  // Compaction rewrites the snapshot here, on this thread, between two group commits: it
  // delays commits a little, never the partition.
  if (e == errc::ok && st.store->compaction_due()) {
    if (auto c = st.store->compact(); c != errc::ok)
      log_warning("consumer offsets: compaction failed: {}", to_string(c));
  }
}

} // namespace

offset_service_actor::behavior_type
offset_service(self_ptr self, std::shared_ptr<std::unique_ptr<offset_store>> store) {
  self->state.store = std::move(*store);
  return {
    [self](offset_write_req& req) { return on_write(self, req); },
    [self](offset_sync_atom) { on_sync(self); },
  };
}

offset_service_actor spawn_offset_service(caf::actor_system& sys,
                                          std::unique_ptr<offset_store> store) {
  // CAF copies spawn arguments: the move-only store travels in a shared box.
  auto box = std::make_shared<std::unique_ptr<offset_store>>(std::move(store));
  return sys.spawn<caf::detached>(offset_service, box);
}

} // namespace holdfast
