#pragma once

#include "actors/wire/common.hpp"
#include "runtime/commit_log.hpp"

#include <caf/all.hpp>

#include <chrono>
#include <memory>

namespace holdfast {

/// "Make the commit log durable at least up to `offset`."
struct flush_req {
  uint64_t offset = 0;
};

/// "Everything below `flushed` is on disk."
struct flush_ack {
  uint64_t flushed = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, flush_req& x) {
  return f(caf::meta::type_name("holdfast::flush_req"), x.offset);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, flush_ack& x) {
  return f(caf::meta::type_name("holdfast::flush_ack"), x.flushed);
}

/// The flush service (RocketMQ's GroupCommitService + FlushRealTimeService in one).
///
/// It runs detached, on a thread of its own, because fdatasync blocks: a slow disk must stall
/// nobody but the senders that wait for it.
///
/// Group commit: while one fdatasync runs, flush requests queue up in the mailbox; the next
/// one flushes everything written by then, and each queued request whose offset is already
/// covered is answered without touching the disk. So one fsync serves every send that was
/// waiting, however many.
///
/// Periodic flush (the ASYNC_FLUSH path): every `interval`, sync when at least `least_pages`
/// 4 KiB pages are dirty, or whatever is dirty once `thorough_interval` passed since the last
/// sync.
///
/// A failed fsync is answered with broker_errc::storage_failure, and so is every later request:
/// the commit log keeps the failure (see commit_log::sync).
using flush_service_actor
  = caf::typed_actor<caf::replies_to<flush_req>::with<flush_ack>, caf::reacts_to<tick_atom>>;

struct flush_options {
  std::chrono::milliseconds interval{500};
  uint32_t least_pages = 4;
  std::chrono::milliseconds thorough_interval{10000};
};

struct flush_state {
  // Not an aggregate: C++20 parenthesized aggregate init would make CAF try to build the
  // state from the actor pointer.
  flush_state() = default;
  std::shared_ptr<commit_log> log;
  flush_options opts;
  std::chrono::steady_clock::time_point last_sync;
  static inline const char* name = "holdfast.flush_service";
};

flush_service_actor::behavior_type
flush_service(flush_service_actor::stateful_pointer<flush_state> self,
              std::shared_ptr<commit_log> log, flush_options opts);

/// Spawns the service on its own thread.
flush_service_actor spawn_flush_service(caf::actor_system& sys, std::shared_ptr<commit_log> log,
                                        flush_options opts);

} // namespace holdfast
