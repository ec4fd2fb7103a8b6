#pragma once

#include "actors/checkpoint_service.hpp"
#include "actors/flush_service.hpp"
#include "actors/protocol.hpp"
#include "runtime/offset_monitor.hpp"
#include "runtime/group_table.hpp"
#include "runtime/offset_store.hpp"
#include "runtime/store.hpp"
#include "runtime/task.hpp"

#include <caf/all.hpp>

#include <chrono>
#include <memory>
#include <map>
#include <set>
#include <optional>
#include <vector>

namespace holdfast {

/// Store these messages, all or none (a producer's batch). One SendResult per message comes back.
struct append_req {
  std::vector<message> msgs;
};

struct append_reply {
  std::vector<send_result> results;
};

/// Read up to `max` messages of one queue from queue offset `offset`. With `max_wait_ms` > 0
/// the pull is a long poll: when nothing is there yet, the partition answers as soon as
/// something is confirmed, or empty after max_wait_ms (capped at 30 s).
struct pull_req {
  std::string topic;
  int32_t queue_id = 0;
  uint64_t offset = 0;
  uint32_t max = 32;
  uint32_t max_wait_ms = 0;
};

/// First message of a client connection: who it is. The broker logs connects and
/// disconnects, and answers with what a client must know about it.
struct hello_req {
  std::string client_id;
  std::string token; ///< the broker's authToken, when it has one
};

struct hello_reply {
  std::string broker_name;
  std::string broker_role;
  std::string flush_disk_type;
  uint32_t sync_flush_timeout_ms = 0;
  uint64_t max_message_size = 0;
  int32_t queue_nums = 0;
  /// A fresh id for an idempotent producer (every hello gets one; 0 when none could be made).
  uint64_t producer_id = 0;
};

/// Store a consumer group's next offset for one queue, durably (fsync + rename) before the reply.
struct commit_offset_req {
  std::string group;
  std::string topic;
  int32_t queue_id = 0;
  uint64_t offset = 0;
};

/// Ask for a consumer group's committed offset of one queue.
struct fetch_offset_req {
  std::string group;
  std::string topic;
  int32_t queue_id = 0;
};

struct fetch_offset_reply {
  bool found = false;
  uint64_t offset = 0;
  uint64_t queue_end = 0; ///< where a group that never committed starts when not from the beginning
};

struct pull_reply {
  std::vector<stored_message> msgs;
  uint64_t next_offset = 0; ///< where to pull next
  uint64_t max_offset = 0;  ///< queue end (all of it, confirmed or not)
};

// ---- consumer groups (issue #5) -------------------------------------------------------------

/// A consumer's heartbeat for one subscribed topic: who it is, what it holds now. The reply
/// says which queues it owns from now on (see runtime/group_table.hpp): queues it held and
/// that are missing from the reply must be committed and released before its next heartbeat.
/// `leave` removes the member at once (a clean shutdown after its last commit).
struct group_heartbeat_req {
  std::string group;
  std::string topic;
  std::string consumer_id;
  std::vector<int32_t> owned;
  uint32_t interval_ms = 0; ///< the consumer's heartbeat interval: it expires after 3 of them
  bool leave = false;
};

struct group_heartbeat_reply {
  std::vector<int32_t> queues;
  int32_t queue_count = 0; ///< queues the topic has
};

/// How many queues a topic has (or will have when created): RocketMQ's topic route, which is
/// how a consumer sending a message back learns the delay topic's level count.
struct topic_route_req {
  std::string topic;
};

/// A slave asks its master for every consumer offset (RocketMQ's SlaveSynchronize), so a
/// group continues from about where it was when clients move to the slave.
struct ha_offsets_req {
  std::string token;
  std::string broker_name;
};

/// One committed offset on the wire.
struct group_offset {
  std::string group;
  std::string topic;
  int32_t queue_id = 0;
  uint64_t offset = 0;
};

struct ha_offsets_reply {
  std::vector<group_offset> offsets;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, group_heartbeat_req& x) {
  return f(caf::meta::type_name("holdfast::group_heartbeat_req"), x.group, x.topic,
           x.consumer_id, x.owned, x.interval_ms, x.leave);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, group_heartbeat_reply& x) {
  return f(caf::meta::type_name("holdfast::group_heartbeat_reply"), x.queues, x.queue_count);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, topic_route_req& x) {
  return f(caf::meta::type_name("holdfast::topic_route_req"), x.topic);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ha_offsets_req& x) {
  return f(caf::meta::type_name("holdfast::ha_offsets_req"), x.token, x.broker_name);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, group_offset& x) {
  return f(caf::meta::type_name("holdfast::group_offset"), x.group, x.topic, x.queue_id,
           x.offset);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ha_offsets_reply& x) {
  return f(caf::meta::type_name("holdfast::ha_offsets_reply"), x.offsets);
}

// ---- replication (issue #4): the master side of the link lives in the partition ------------

/// A slave asks its master for the log from `offset` and reports `acked`, the offset it holds
/// (fsynced when the slave is SYNC_FLUSH). Every fetch is also the heartbeat: with nothing new
/// the master holds it up to max_wait_ms.
struct ha_fetch_req {
  std::string token;
  std::string broker_name; ///< master and slave share a brokerName (RocketMQ's broker set)
  std::string slave_id;
  uint64_t offset = 0;
  uint64_t acked = 0;
  uint32_t max_bytes = 32 * 1024;
  uint32_t max_wait_ms = 0;
};

/// Whole records starting at `offset`; or, with `truncate`, "your log is longer than mine: cut
/// it back to `offset`".
struct ha_fetch_reply {
  uint64_t offset = 0;
  std::vector<char> bytes;
  uint64_t master_end = 0;
  bool truncate = false;
  bool new_segment = false; ///< `bytes` start a new segment on the master: the slave rolls too
};

/// Local, link -> slave partition: append replicated records at `offset`.
struct ha_append_req {
  uint64_t offset = 0;
  std::vector<char> bytes;
  bool new_segment = false;
};

/// Local, link -> slave partition: cut the log back to `offset`.
struct ha_truncate_req {
  uint64_t offset = 0;
};

/// A slave reports what it now holds (fsynced when it is SYNC_FLUSH) without waiting for its
/// next fetch: the link keeps fetching while its appends are being synced, and each finished
/// append is acknowledged at once. Fire and forget; a bad one is logged and ignored.
struct ha_ack {
  std::string token;
  std::string broker_name;
  std::string slave_id;
  uint64_t acked = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ha_ack& x) {
  return f(caf::meta::type_name("holdfast::ha_ack"), x.token, x.broker_name, x.slave_id, x.acked);
}

/// A slave partition's position: what it has written and what it acknowledges.
struct ha_position {
  uint64_t written = 0;
  uint64_t acked = 0;
};

/// One attached slave, as `holdfast status` shows it.
struct slave_info {
  std::string id;
  uint64_t acked = 0;
  uint64_t lag = 0;
  int64_t last_heartbeat_ms_ago = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ha_fetch_req& x) {
  return f(caf::meta::type_name("holdfast::ha_fetch_req"), x.token, x.broker_name, x.slave_id,
           x.offset, x.acked, x.max_bytes, x.max_wait_ms);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ha_fetch_reply& x) {
  return f(caf::meta::type_name("holdfast::ha_fetch_reply"), x.offset, x.bytes, x.master_end,
           x.truncate, x.new_segment);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ha_append_req& x) {
  return f(caf::meta::type_name("holdfast::ha_append_req"), x.offset, x.bytes, x.new_segment);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ha_truncate_req& x) {
  return f(caf::meta::type_name("holdfast::ha_truncate_req"), x.offset);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ha_position& x) {
  return f(caf::meta::type_name("holdfast::ha_position"), x.written, x.acked);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, slave_info& x) {
  return f(caf::meta::type_name("holdfast::slave_info"), x.id, x.acked, x.lag,
           x.last_heartbeat_ms_ago);
}

/// What `holdfast status` shows of a partition.
struct partition_status {
  std::string flush_disk_type;
  std::string broker_role;
  uint64_t written = 0;   ///< commit-log offset written (page cache)
  uint64_t flushed = 0;   ///< commit-log offset fsynced
  uint64_t confirmed = 0; ///< readable by consumers: cannot be undone by a crash
  uint64_t fsyncs = 0;
  uint64_t append_requests = 0; ///< batches received since start
  uint64_t messages = 0;        ///< messages stored since start
  uint64_t duplicates = 0;      ///< retried sends answered with their original result
  uint64_t producer_streams = 0; ///< idempotent producer streams the broker remembers
  std::vector<topic_info> topics;
  std::vector<slave_info> slaves; ///< on a master: the attached slaves
  std::string master_address;     ///< on a slave: where it replicates from
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
  return f(caf::meta::type_name("holdfast::pull_req"), x.topic, x.queue_id, x.offset, x.max,
           x.max_wait_ms);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, hello_req& x) {
  return f(caf::meta::type_name("holdfast::hello_req"), x.client_id, x.token);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, hello_reply& x) {
  return f(caf::meta::type_name("holdfast::hello_reply"), x.broker_name, x.broker_role,
           x.flush_disk_type, x.sync_flush_timeout_ms, x.max_message_size, x.queue_nums,
           x.producer_id);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, commit_offset_req& x) {
  return f(caf::meta::type_name("holdfast::commit_offset_req"), x.group, x.topic, x.queue_id,
           x.offset);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, fetch_offset_req& x) {
  return f(caf::meta::type_name("holdfast::fetch_offset_req"), x.group, x.topic, x.queue_id);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, fetch_offset_reply& x) {
  return f(caf::meta::type_name("holdfast::fetch_offset_reply"), x.found, x.offset, x.queue_end);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, pull_reply& x) {
  return f(caf::meta::type_name("holdfast::pull_reply"), x.msgs, x.next_offset, x.max_offset);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, partition_status& x) {
  return f(caf::meta::type_name("holdfast::partition_status"), x.flush_disk_type,
           x.broker_role, x.written, x.flushed, x.confirmed, x.fsyncs, x.append_requests,
           x.messages, x.duplicates, x.producer_streams, x.topics, x.slaves, x.master_address);
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
  caf::replies_to<hello_req>::with<hello_reply>,
  caf::replies_to<append_req>::with<append_reply>,
  caf::replies_to<pull_req>::with<pull_reply>,
  caf::replies_to<commit_offset_req>::with<bool>,
  caf::replies_to<ha_fetch_req>::with<ha_fetch_reply>,
  caf::replies_to<ha_append_req>::with<ha_position>,
  caf::replies_to<ha_truncate_req>::with<ha_position>,
  caf::replies_to<ha_position_atom>::with<ha_position>,
  caf::reacts_to<ha_ack>,
  caf::replies_to<fetch_offset_req>::with<fetch_offset_reply>,
  caf::replies_to<group_heartbeat_req>::with<group_heartbeat_reply>,
  caf::replies_to<topic_route_req>::with<int32_t>,
  caf::replies_to<ha_offsets_req>::with<ha_offsets_reply>,
  caf::replies_to<ha_offsets_reply>::with<bool>,
  caf::replies_to<status_atom>::with<partition_status>,
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
  int32_t queue_nums = 4;
  // Replication.
  bool slave = false;        ///< brokerRole = SLAVE: read-only for clients, fed by the link
  bool sync_master = false;  ///< brokerRole = SYNC_MASTER: sends wait for a slave's ack
  std::string master_address;
  std::string auth_token;
  std::string client_token; ///< authToken for producers and consumers ("" = no check)
  std::chrono::milliseconds slave_timeout{5000};
  std::chrono::milliseconds housekeeping_interval{20000};
  uint64_t max_gap_not_in_sync = 256ull << 20;
  uint32_t transfer_batch_size = 32 * 1024;
  /// Testing only: drop the reply to every Nth stored batch (0: never), so producers retry.
  uint32_t fault_drop_replies_every = 0;
};

/// A slave as the master sees it.
struct attached_slave {
  uint64_t acked = 0;
  std::chrono::steady_clock::time_point last_seen;
  caf::actor_addr link; ///< the slave's link actor, monitored
};

/// A slave's fetch waiting for new records.
struct parked_fetch {
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

struct partition_state {
  // Not an aggregate: C++20 parenthesized aggregate init would make CAF try to build the
  // state from the actor pointer.
  partition_state() = default;
  std::unique_ptr<message_store> store;
  flush_service_actor flusher;
  checkpoint_service_actor checkpointer; ///< spawned and linked by the partition
  std::shared_ptr<checkpoint_slot> checkpoint_jobs = std::make_shared<checkpoint_slot>();
  bool checkpointing = false; ///< a job is with the checkpoint service
  partition_options opts;
  uint64_t confirmed = 0;
  caf::error failure; ///< set after a failed fsync: sticky until restart
  bool stopping = false;
  uint64_t append_requests = 0;
  uint64_t messages = 0;
  uint64_t replies_seen = 0; ///< for fault_drop_replies_every
  std::unique_ptr<offset_store> offsets; ///< consumer-group offsets
  offset_monitor flushed;     ///< sends waiting for their batch to be durable
  bool pumping = false;       ///< the flush pump coroutine is running
  std::vector<parked_pull> parked; ///< long polls waiting for confirmed messages
  offset_monitor replicated;  ///< SYNC_MASTER sends waiting for a slave's acknowledgement
  std::map<std::string, attached_slave> slaves;
  std::vector<parked_fetch> parked_fetches;
  /// Client nodes that presented the authToken in their hello (when one is configured).
  std::set<caf::node_id> authenticated;
  /// Consumer groups: members and queue ownership; the actor each member heartbeats from
  /// (monitored, so a consumer whose connection breaks leaves its group at once).
  group_table groups;
  std::map<caf::actor_addr, std::string> group_members;
  /// When the next tick is due (flush deadlines and long-poll deadlines share one timer).
  std::optional<std::chrono::steady_clock::time_point> timer_at;

  /// Advances and returns the offset consumers may read up to: everything written under
  /// ASYNC_FLUSH, everything fsynced under SYNC_FLUSH.
  uint64_t refresh_confirmed() {
    auto& log = *store->log();
    confirmed = opts.sync_flush ? std::max(confirmed, log.flushed_offset()) : log.write_offset();
    // A SYNC_MASTER's consumers see only what a slave also holds.
    if (opts.sync_master)
      confirmed = std::min(confirmed, replicated.reached());
    return confirmed;
  }
  // Declared last: destroyed first, while the store the frames point into still exists.
  task_scope tasks;
  static inline const char* name = "holdfast.partition";
};

/// What the partition takes over when it is spawned (CAF copies spawn arguments, so the
/// move-only parts travel in a shared box).
struct partition_parts {
  std::unique_ptr<message_store> store;
  std::unique_ptr<offset_store> offsets;
};

partition_actor::behavior_type partition(partition_actor::stateful_pointer<partition_state> self,
                                         std::shared_ptr<partition_parts> parts,
                                         flush_service_actor flusher, partition_options opts);

/// Spawns a partition over an opened store and offset store, which move into the actor.
partition_actor spawn_partition(caf::actor_system& sys, partition_parts parts,
                                flush_service_actor flusher, partition_options opts);

} // namespace holdfast
