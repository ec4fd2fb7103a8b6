#pragma once

// The broker partition: the single writer of the store. It is internal: no remote node ever
// learns its address (it never sends to, replies to or monitors a remote actor), so its
// interface is reachable only through the doors (actors/client_door.hpp,
// actors/replication_door.hpp), which check who asks and forward, and from the broker's own
// actors (flush, checkpoint, replication link, schedule service).
//
// The behaviour is a thin dispatch (partition.cpp) over one file per area, each owning its
// slice of the state below: produce (the coroutine send, group commit), pull (long polls),
// groups (consumer groups and offsets), master (the master side of replication), slave (the
// slave side), admin (status, checkpoints, timers, shutdown).

#include "actors/checkpoint_service.hpp"
#include "actors/flush_service.hpp"
#include "actors/offset_service.hpp"
#include "actors/wire/client_wire.hpp"
#include "actors/wire/replication_wire.hpp"
#include "runtime/group_table.hpp"
#include "runtime/offset_monitor.hpp"
#include "runtime/offset_store.hpp"
#include "runtime/store.hpp"
#include "runtime/task.hpp"

#include <caf/all.hpp>

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace holdfast {

// ---- internal messages: never registered, never published ---------------------------------

using new_producer_atom = caf::atom_constant<caf::atom("hf_newpid")>;
using ha_position_atom = caf::atom_constant<caf::atom("hf_hapos")>;
/// The broker's main: where the replication door listens (for status; known once published).
using ha_port_atom = caf::atom_constant<caf::atom("hf_haport")>;

/// Replication door -> partition: a fetch of the authenticated slave `slave_id`.
struct slave_fetch {
  std::string slave_id;
  ha_fetch_req req;
};

/// Replication door -> partition: the authenticated slave's acknowledgement.
struct slave_ack {
  std::string slave_id;
  uint64_t acked = 0;
};

/// Replication door -> partition: the slave's link went away (its connection broke).
struct slave_gone {
  std::string slave_id;
};

/// Client door -> partition: the actor a consumer heartbeats from went away.
struct member_gone {
  std::string consumer_id;
};

/// Link -> slave partition: append replicated records at `offset`, after recording the
/// master's terms that start within them.
struct ha_append_req {
  uint64_t offset = 0;
  std::vector<char> bytes;
  bool new_segment = false;
  std::vector<leader_epoch> terms;
};

/// Link -> slave partition: cut the log back to `offset`, or to the start of the newest term
/// (`drop_last_term`: a term the master never had), and lower the consumer offsets with it.
struct ha_truncate_req {
  uint64_t offset = 0;
  bool drop_last_term = false;
};

/// A slave partition's position: what it has written, what it acknowledges, its newest term.
struct ha_position {
  uint64_t written = 0;
  uint64_t acked = 0;
  uint64_t last_epoch = 0;
  uint64_t last_term = 0;
};

/// Link -> slave partition: the master's key for producer ownership tags.
struct adopt_producer_key {
  std::vector<char> key;
};

// CAF 0.17 wants an inspector for every message type, even one that never leaves the process;
// without registration a remote peer still cannot name these.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, slave_fetch& x) {
  return f(caf::meta::type_name("holdfast::slave_fetch"), x.slave_id, x.req);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, slave_ack& x) {
  return f(caf::meta::type_name("holdfast::slave_ack"), x.slave_id, x.acked);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, slave_gone& x) {
  return f(caf::meta::type_name("holdfast::slave_gone"), x.slave_id);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, member_gone& x) {
  return f(caf::meta::type_name("holdfast::member_gone"), x.consumer_id);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ha_append_req& x) {
  return f(caf::meta::type_name("holdfast::ha_append_req"), x.offset, x.bytes, x.new_segment,
           x.terms);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ha_truncate_req& x) {
  return f(caf::meta::type_name("holdfast::ha_truncate_req"), x.offset, x.drop_last_term);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ha_position& x) {
  return f(caf::meta::type_name("holdfast::ha_position"), x.written, x.acked, x.last_epoch,
           x.last_term);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, adopt_producer_key& x) {
  return f(caf::meta::type_name("holdfast::adopt_producer_key"), x.key);
}

/// The partition's interface: what the doors forward (after their checks) and what the
/// broker's own actors ask. See the areas in partition_*.cpp.
using partition_actor = caf::typed_actor<
  // produce
  caf::replies_to<new_producer_atom>::with<uint64_t>,
  caf::replies_to<append_req>::with<append_reply>,
  // pull
  caf::replies_to<pull_req>::with<pull_reply>,
  // groups
  caf::replies_to<commit_offset_req>::with<bool>,
  caf::replies_to<fetch_offset_req>::with<fetch_offset_reply>,
  caf::replies_to<group_heartbeat_req>::with<group_heartbeat_reply>,
  caf::reacts_to<member_gone>,
  caf::replies_to<topic_route_req>::with<int32_t>,
  caf::replies_to<update_topic_req>::with<int32_t>,
  // master side of replication
  caf::replies_to<slave_fetch>::with<ha_fetch_reply>,
  caf::reacts_to<slave_ack>,
  caf::reacts_to<slave_gone>,
  caf::replies_to<ha_offsets_req>::with<ha_offsets_reply>,
  // slave side of replication
  caf::replies_to<ha_append_req>::with<ha_position>,
  caf::replies_to<ha_truncate_req>::with<ha_position>,
  caf::replies_to<ha_position_atom>::with<ha_position>,
  caf::replies_to<ha_offsets_reply>::with<bool>,
  caf::replies_to<adopt_producer_key>::with<bool>,
  // admin
  caf::replies_to<status_atom>::with<partition_status>,
  caf::reacts_to<ha_port_atom, uint16_t>,
  caf::replies_to<shutdown_atom>::with<bool>,
  caf::reacts_to<checkpoint_atom>,
  caf::reacts_to<tick_atom>>;

struct partition_options {
  bool sync_flush = false;
  std::chrono::milliseconds sync_flush_timeout{5000};
  std::chrono::milliseconds checkpoint_interval{1000};
  std::string broker_role = "ASYNC_MASTER";
  std::string broker_name = "broker-a";
  uint64_t max_message_size = 4u << 20;
  uint64_t max_transfer_bytes = 256 * 1024; ///< per pull reply
  uint32_t max_transfer_count = 32;         ///< per pull reply
  uint32_t max_parked_pulls = 65536;        ///< long polls waiting at once, in total
  uint32_t max_parked_pulls_per_client = 1024; ///< and per door session
  int32_t queue_nums = 4;
  // Replication.
  bool slave = false;        ///< brokerRole = SLAVE: read-only for clients, fed by the link
  bool sync_master = false;  ///< brokerRole = SYNC_MASTER: sends wait for a slave's ack
  std::string master_address;
  uint16_t ha_listen_port = 0; ///< for status
  std::chrono::milliseconds slave_timeout{5000};
  std::chrono::milliseconds housekeeping_interval{20000};
  uint64_t max_gap_not_in_sync = 256ull << 20;
  uint32_t transfer_batch_size = 32 * 1024;
  /// Testing only: drop the reply to every Nth stored batch (0: never), so producers retry.
  uint32_t fault_drop_replies_every = 0;
};

// ---- the state, by area --------------------------------------------------------------------

/// A slave's fetch waiting for new records.
struct parked_fetch {
  std::string slave_id;
  ha_fetch_req req;
  caf::typed_response_promise<ha_fetch_reply> rp;
  std::chrono::steady_clock::time_point deadline;
};

/// A long poll waiting for messages.
struct parked_pull {
  pull_req req;
  caf::typed_response_promise<pull_reply> rp;
  std::chrono::steady_clock::time_point deadline;
};

/// A queue, as long polls wait on it.
using queue_key = std::pair<std::string, int32_t>;

/// produce: sends waiting for their fsync, the one flush request in flight, counters.
struct produce_area {
  offset_monitor flushed; ///< sends waiting for their batch to be durable
  bool pumping = false;   ///< the flush pump coroutine is running
  uint64_t append_requests = 0;
  uint64_t messages = 0;
  uint64_t replies_seen = 0; ///< for fault_drop_replies_every
};

/// pull: long polls waiting for confirmed messages, indexed so that a send looks only at the
/// polls of the queues it wrote to. Bounded in total and per client: a new poll past a bound
/// answers the oldest one (empty) to make room, so a client that abandons its polls (the
/// consumer's scoped actor does, once one queue answered) only ever loses its own stale ones.
struct pull_area {
  /// Parked polls by queue, then by arrival (`seq`).
  std::map<queue_key, std::map<uint64_t, parked_pull>> by_queue;
  /// Every parked poll by arrival: its queue, and the client (door session) it came from.
  std::map<uint64_t, std::pair<queue_key, uint64_t>> by_age;
  /// Arrivals of each client's parked polls (client 0: this process, unbounded per client).
  std::map<uint64_t, std::set<uint64_t>> by_client;
  /// Queues with parked polls that were written to, with the log end after the write: their
  /// polls are looked at once the confirmed offset passes it. In log order.
  std::deque<std::pair<uint64_t, queue_key>> woken;
  uint64_t next_seq = 1;
  [[nodiscard]] size_t size() const noexcept {
    return by_age.size();
  }
};

/// groups: members and queue ownership, committed offsets.
struct groups_area {
  group_table members;
  /// Persists every offset change off this thread (spawned by the broker).
  offset_service_actor persister;
  /// (group, topic, queue id) -> offset: what the offset service has made durable, updated from
  /// its answers (which arrive in the order of the writes). It may lag behind the disk (a clamp
  /// lowers it at once), never lead it: fetch_offset and the copy to slaves read it.
  std::map<std::tuple<std::string, std::string, int32_t>, uint64_t> committed;
};

/// A slave as the master sees it.
struct attached_slave {
  uint64_t acked = 0;
  /// End of the last bytes sent to it: an acknowledgement beyond is garbage.
  uint64_t sent_end = 0;
  std::chrono::steady_clock::time_point last_seen;
};

/// master: attached slaves, sends waiting for a slave, slave fetches waiting for records.
struct master_area {
  offset_monitor replicated; ///< SYNC_MASTER sends waiting for a slave's acknowledgement
  std::map<std::string, attached_slave> slaves;
  std::vector<parked_fetch> parked;
};

/// admin: checkpoints and the one timer.
struct admin_area {
  checkpoint_service_actor checkpointer; ///< spawned and linked by the partition
  std::shared_ptr<checkpoint_slot> checkpoint_jobs = std::make_shared<checkpoint_slot>();
  bool checkpointing = false; ///< a job is with the checkpoint service
  /// When the next tick is due (flush, replica and long-poll deadlines share one timer).
  std::optional<std::chrono::steady_clock::time_point> timer_at;
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
  produce_area produce;
  pull_area pull;
  groups_area groups;
  master_area master;
  admin_area admin;

  /// Advances and returns the offset consumers may read up to: everything written under
  /// ASYNC_FLUSH, everything fsynced under SYNC_FLUSH; on a SYNC_MASTER, only what a slave
  /// also holds.
  uint64_t refresh_confirmed();
  // Declared last: destroyed first, while the store the frames point into still exists.
  task_scope tasks;
  static inline const char* name = "holdfast.partition";
};

/// What the partition takes over when it is spawned (CAF copies spawn arguments, so the
/// move-only parts travel in a shared box).
struct partition_parts {
  std::unique_ptr<message_store> store;
  offset_service_actor offsets;                 ///< owns the offset store
  std::vector<offset_store::entry> committed;   ///< the offsets as the store was opened with
};

partition_actor::behavior_type partition(partition_actor::stateful_pointer<partition_state> self,
                                         std::shared_ptr<partition_parts> parts,
                                         flush_service_actor flusher, partition_options opts);

/// Spawns a partition over an opened store (which moves into the actor) and the offset service.
partition_actor spawn_partition(caf::actor_system& sys, partition_parts parts,
                                flush_service_actor flusher, partition_options opts);

} // namespace holdfast
