#pragma once

#include "actors/wire/common.hpp"
#include "actors/wire/replication_wire.hpp"
#include "runtime/offset_store.hpp"

#include <caf/all.hpp>

#include <memory>
#include <vector>

namespace holdfast {

/// Offset service -> itself: sync what was staged (queued behind every write already waiting).
using offset_sync_atom = caf::atom_constant<caf::atom("hf_offsync")>;

/// What an offset write does (offset_store's stage_* calls).
enum class offset_change : uint8_t {
  commit,    ///< a consumer's commit: forward only
  merge_max, ///< a slave's copy of its master's offsets: taken where ahead
  clamp,     ///< lower every offset above its queue's end (`ends`)
};

/// Partition -> offset service: one change, answered once it is durable.
struct offset_write_req {
  offset_change kind = offset_change::commit;
  std::vector<group_offset> entries; ///< commit, merge_max
  std::vector<topic_info> ends;      ///< clamp: the end of every queue
};

/// Offset service -> partition: the change is durable.
struct offset_write_ack {
  std::vector<group_offset> applied; ///< the entries that changed, as they are now on disk
  std::vector<group_offset> lowered; ///< clamp: the lowered entries as they were before
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, offset_write_req& x) {
  return f(caf::meta::type_name("holdfast::offset_write_req"), x.kind, x.entries, x.ends);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, offset_write_ack& x) {
  return f(caf::meta::type_name("holdfast::offset_write_ack"), x.applied, x.lowered);
}

/// The offset service: owns the consumer offsets on disk (runtime/offset_store.hpp, a snapshot
/// plus an append-only journal) and makes every change durable off the partition's thread.
/// Detached, because fdatasync blocks: with a slow disk, commits wait for it, but the partition
/// keeps answering sends, pulls and its deadline tick.
///
/// Group commit: a write is validated and journaled at once (no fsync) and its answer waits;
/// the first waiting write queues one offset_sync_atom behind itself, so every write already
/// in the mailbox is journaled before the one fsync that answers them all. A write that
/// changes nothing is answered at once when nothing staged is waiting for a sync.
///
/// Errors: an offset moving backwards or an invalid name gives broker_errc::invalid_message;
/// a failed write gives storage_failure; after a failed fsync every write is refused with
/// storage_failure until the broker restarts (fsyncgate). No write is ever answered before
/// the fsync that covers it succeeded.
///
/// Internal: only the partition talks to it; it never learns a remote address.
using offset_service_actor
  = caf::typed_actor<caf::replies_to<offset_write_req>::with<offset_write_ack>,
                     caf::reacts_to<offset_sync_atom>>;

/// A write waiting for the next fsync.
struct waiting_offset_write {
  caf::typed_response_promise<offset_write_ack> rp;
  offset_write_ack ack;
};

struct offset_service_state {
  // Not an aggregate: C++20 parenthesized aggregate init would make CAF try to build the
  // state from the actor pointer.
  offset_service_state() = default;
  std::unique_ptr<offset_store> store;
  std::vector<waiting_offset_write> waiting;
  bool sync_queued = false; ///< an offset_sync_atom is in the mailbox
  static inline const char* name = "holdfast.offset_service";
};

offset_service_actor::behavior_type
offset_service(offset_service_actor::stateful_pointer<offset_service_state> self,
               std::shared_ptr<std::unique_ptr<offset_store>> store);

/// Spawns the service on its own thread; the store moves into it.
offset_service_actor spawn_offset_service(caf::actor_system& sys,
                                          std::unique_ptr<offset_store> store);

} // namespace holdfast
