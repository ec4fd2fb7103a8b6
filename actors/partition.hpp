#pragma once

#include "actors/flush_service.hpp"
#include "actors/protocol.hpp"
#include "runtime/offset_monitor.hpp"
#include "runtime/store.hpp"
#include "runtime/task.hpp"

#include <caf/all.hpp>

#include <chrono>
#include <memory>
#include <vector>

namespace holdfast {

/// Store these messages, all or none (a producer's batch). One SendResult per message comes back.
struct append_req {
  std::vector<message> msgs;
};

struct append_reply {
  std::vector<send_result> results;
};

/// Read up to `max` messages of one queue from queue offset `offset`.
struct pull_req {
  std::string topic;
  int32_t queue_id = 0;
  uint64_t offset = 0;
  uint32_t max = 32;
};

struct pull_reply {
  std::vector<stored_message> msgs;
  uint64_t next_offset = 0; ///< where to pull next
  uint64_t max_offset = 0;  ///< queue end (all of it, confirmed or not)
};

/// What `holdfast status` shows of a partition.
struct partition_status {
  std::string flush_disk_type;
  std::string broker_role;
  uint64_t written = 0;   ///< commit-log offset written (page cache)
  uint64_t flushed = 0;   ///< commit-log offset fsynced
  uint64_t confirmed = 0; ///< readable by consumers: cannot be undone by a crash
  uint64_t fsyncs = 0;
  std::vector<topic_info> topics;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, append_req& x) {
  return f(caf::meta::type_name("holdfast::append_req"), x.msgs);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, append_reply& x) {
  return f(caf::meta::type_name("holdfast::append_reply"), x.results);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, pull_req& x) {
  return f(caf::meta::type_name("holdfast::pull_req"), x.topic, x.queue_id, x.offset, x.max);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, pull_reply& x) {
  return f(caf::meta::type_name("holdfast::pull_reply"), x.msgs, x.next_offset, x.max_offset);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, partition_status& x) {
  return f(caf::meta::type_name("holdfast::partition_status"), x.flush_disk_type,
           x.broker_role, x.written, x.flushed, x.confirmed, x.fsyncs, x.topics);
}

/// The broker partition: the single writer of the commit log.
///
/// Each append runs as a coroutine (the "coroutine-based send"): validate, assign offsets and
/// write the batch (before the first suspension, so appends keep mailbox order); then, under
/// SYNC_FLUSH, `co_await` the flush service's acknowledgement of the batch's end offset, or
/// syncFlushTimeout (FLUSH_DISK_TIMEOUT); then reply. Under ASYNC_FLUSH it replies at once.
///
/// Group commit: the sends wait in an offset_monitor; one "flush pump" coroutine keeps exactly
/// one flush request in flight to the flush service (for everything written so far) while
/// anyone waits, and each acknowledgement resolves every send it covers. One timer, armed for
/// the earliest deadline, expires late waiters; no send carries a timeout of its own.
///
/// Readers (pull) see records only up to the confirmed offset: flushed under SYNC_FLUSH, so a
/// consumer never sees a message that a power cut could undo.
using partition_actor = caf::typed_actor<
  caf::replies_to<append_req>::with<append_reply>,
  caf::replies_to<pull_req>::with<pull_reply>,
  caf::replies_to<status_atom>::with<partition_status>,
  caf::replies_to<shutdown_atom>::with<bool>,
  caf::reacts_to<checkpoint_atom>,
  caf::reacts_to<tick_atom>>;

struct partition_options {
  bool sync_flush = false;
  std::chrono::milliseconds sync_flush_timeout{5000};
  std::chrono::milliseconds checkpoint_interval{1000};
  std::string broker_role = "ASYNC_MASTER";
};

struct partition_state {
  // Not an aggregate: C++20 parenthesized aggregate init would make CAF try to build the
  // state from the actor pointer.
  partition_state() = default;
  std::unique_ptr<message_store> store;
  flush_service_actor flusher;
  partition_options opts;
  uint64_t confirmed = 0;
  caf::error failure; ///< set after a failed fsync: sticky until restart
  bool stopping = false;
  offset_monitor flushed;     ///< sends waiting for their batch to be durable
  bool pumping = false;       ///< the flush pump coroutine is running
  bool timer_armed = false;   ///< a flush-deadline tick is scheduled

  /// Advances and returns the offset consumers may read up to: everything written under
  /// ASYNC_FLUSH, everything fsynced under SYNC_FLUSH.
  uint64_t refresh_confirmed() {
    auto& log = *store->log();
    confirmed = opts.sync_flush ? std::max(confirmed, log.flushed_offset()) : log.write_offset();
    return confirmed;
  }
  // Declared last: destroyed first, while the store the frames point into still exists.
  task_scope tasks;
  static inline const char* name = "holdfast.partition";
};

partition_actor::behavior_type partition(partition_actor::stateful_pointer<partition_state> self,
                                         std::shared_ptr<std::unique_ptr<message_store>> store,
                                         flush_service_actor flusher, partition_options opts);

/// Spawns a partition over an opened store. The store moves into the actor.
partition_actor spawn_partition(caf::actor_system& sys, std::unique_ptr<message_store> store,
                                flush_service_actor flusher, partition_options opts);

} // namespace holdfast
