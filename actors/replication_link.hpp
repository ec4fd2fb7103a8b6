#pragma once

#include "actors/partition.hpp"
#include "actors/wire/replication_wire.hpp"
#include "runtime/offset_monitor.hpp"
#include "runtime/task.hpp"

#include <caf/all.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace holdfast {

/// The slave side of the replication link (the master side is the replication door and the
/// partition's master area). It connects to the master's replication door over the
/// middleman, authenticates (ha_hello with haAuthToken; the reply carries the master's
/// producer key, which the local store keeps), and runs one loop, as a coroutine:
///
///   position = local partition's (written, acked, newest term), once per run
///   reply    = co_await master.ha_fetch(offset = next, acked, newest term)  // also the heartbeat
///   diverged -> (appends in flight land) local partition cuts its log back where the master
///               says (or drops its newest term, which the master never had); start over
///   records  -> local partition records the master's terms that start within them, then
///               appends them with the same offsets, NOT awaited: the next fetch goes out at
///               once (at most max_appends_in_flight chunks ahead); when an append is done
///               (fsynced when the slave is SYNC_FLUSH) the new acked offset goes to the
///               master at once as an ha_ack, so a SYNC_MASTER's send waits for one slave
///               fsync, not for a fetch round trip after it
///   every offset_sync: the master's consumer offsets -> local offset store (max per queue)
///
/// A broken connection, a dead master or a refused hello: wait a heartbeat interval, connect
/// again, resume from the local position.
using replication_link_actor = caf::typed_actor<caf::reacts_to<tick_atom>>;

struct replication_link_options {
  std::string master_address; ///< HOST:PORT of the master's replication door (haListenPort)
  std::string token;
  std::string broker_name;
  std::string slave_id;
  std::chrono::milliseconds heartbeat{5000};
  uint32_t batch_bytes = 32 * 1024;
  /// How often the consumer offsets are copied from the master (RocketMQ's SlaveSynchronize
  /// does it every 10 s; ours is shorter because a copy is one small request).
  std::chrono::milliseconds offset_sync{3000};
};

/// The appends a run of the link has in flight to the local partition.
struct link_pipeline {
  offset_monitor done; ///< notified with the number of appends completed
  uint64_t issued = 0;
  uint64_t completed = 0;
  uint64_t acked = 0;  ///< the local position acknowledged to the master
  bool failed = false; ///< an append failed: the run ends, the next resumes from the position
};

/// Fetches may run ahead of the local appends by this many chunks.
constexpr uint64_t max_appends_in_flight = 4;

struct replication_link_state {
  replication_link_state() = default;
  partition_actor local;
  replication_door_actor master;
  replication_link_options opts;
  bool running = false;
  bool connecting = false;
  std::chrono::steady_clock::time_point offsets_synced; ///< last copy of the master's offsets
  std::shared_ptr<link_pipeline> pipe; ///< of the current run
  // Declared last: destroyed first.
  task_scope tasks;
  static inline const char* name = "holdfast.replication_link";
};

replication_link_actor::behavior_type
replication_link(replication_link_actor::stateful_pointer<replication_link_state> self,
                 partition_actor local, replication_link_options opts);

} // namespace holdfast
