#pragma once

// The client door's wire: what producers, consumers and tools may ask a broker, on listenPort.
// Nothing here reaches the broker's internals directly: the door (actors/client_door.hpp)
// checks the session and forwards.

#include "actors/wire/common.hpp"

#include <caf/all.hpp>

#include <string>
#include <vector>

namespace holdfast {

/// An idempotent producer proving, on a new connection, that it owns a producer id it was
/// given earlier (after a reconnect, a broker restart or a failover): `secret` is the tag the
/// hello that handed out the id carried.
struct producer_claim {
  uint64_t producer_id = 0;
  uint64_t secret = 0;
};

/// First message of a client connection. Its sender anchors the session: the broker trusts
/// the connection (its node) while that actor lives, and forgets it when it goes away.
struct hello_req {
  std::string client_id;
  std::string token; ///< the broker's authToken, when it has one
  /// Producer ids this client still has sends stamped with, current one first.
  std::vector<producer_claim> claims;
  /// Continue the first claim's streams: it is this producer's current id (a reconnect).
  /// Otherwise the hello gives a fresh id, whatever it claims.
  bool resume = false;
};

struct hello_reply {
  std::string broker_name;
  std::string broker_role;
  std::string flush_disk_type;
  uint32_t sync_flush_timeout_ms = 0;
  uint64_t max_message_size = 0;
  int32_t queue_nums = 0;
  /// The idempotent producer id for this session (0 when none could be made, or on a slave):
  /// the first claim when it is valid and `resume` is set, else a fresh id. Valid only on this connection, or on a later one
  /// that claims it with `producer_secret`.
  uint64_t producer_id = 0;
  uint64_t producer_secret = 0;
  uint64_t epoch = 0; ///< the master's leader epoch
};

/// Store these messages, all or none (a producer's batch). One SendResult per message comes back.
struct append_req {
  std::vector<message> msgs;
  /// How long the sender waits for the answer (0: not said). The broker ends its flush and
  /// replica waits early enough to answer FLUSH_DISK_TIMEOUT / FLUSH_SLAVE_TIMEOUT in time,
  /// so a client never sees a timeout where the broker had a status to tell.
  uint32_t budget_ms = 0;
};

struct append_reply {
  std::vector<send_result> results;
};

/// Read up to `max` messages of one queue from queue offset `offset`. With `max_wait_ms` > 0
/// the pull is a long poll: when nothing is there yet, the broker answers as soon as
/// something is confirmed, or empty after max_wait_ms (capped at 30 s).
struct pull_req {
  std::string topic;
  int32_t queue_id = 0;
  uint64_t offset = 0;
  uint32_t max = 32;
  uint32_t max_wait_ms = 0;
  /// The door session it came from, set by the client door whatever the peer sent (0: this
  /// process): per-client bounds on long polls.
  uint64_t client = 0;
};

struct pull_reply {
  std::vector<stored_message> msgs;
  uint64_t next_offset = 0; ///< where to pull next
  uint64_t max_offset = 0;  ///< queue end (all of it, confirmed or not)
  /// The pull asked for an offset past the queue's end (the log lost a tail: a power cut
  /// under ASYNC_FLUSH, a slave cut back to its master): the client must continue at
  /// `next_offset`, the end, or it would skip what is stored there next (RocketMQ's
  /// OFFSET_OVERFLOW_BADLY).
  bool moved = false;
};

/// Store a consumer group's next offset for one queue, durably before the reply. Refused
/// above the queue's confirmed end: a position never claims messages that a crash can undo.
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

/// A consumer's heartbeat for one subscribed topic: who it is, what it holds now. The reply
/// says which queues it owns from now on (see runtime/group_table.hpp): queues it held and
/// that are missing from the reply must be committed and released before its next heartbeat.
/// `leave` removes the member at once (a clean shutdown after its last commit). The sender
/// is watched: when it goes away, the member leaves its group at once.
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

/// Create a topic with `queues` queues, or grow an existing one to that many (RocketMQ's
/// updateTopic; `holdfast admin updateTopic`). Shrinking is refused (invalid_message): the
/// dropped queues' messages would become unreachable. The reply, the topic's queue count, comes
/// once the topic is durable. Masters only.
struct update_topic_req {
  std::string topic;
  int32_t queues = 0;
};

/// One attached slave, as `holdfast status` shows it.
struct slave_info {
  std::string id;
  uint64_t acked = 0;
  uint64_t lag = 0;
  int64_t last_heartbeat_ms_ago = 0;
};

/// What `holdfast status` shows of a broker.
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
  uint64_t epoch = 0;             ///< the newest leader epoch this log knows
  uint16_t ha_listen_port = 0;    ///< where slaves attach (the replication door)
};

/// The client door: everything a client may ask, on listenPort.
using client_door_actor = caf::typed_actor<
  caf::replies_to<hello_req>::with<hello_reply>,
  caf::replies_to<append_req>::with<append_reply>,
  caf::replies_to<pull_req>::with<pull_reply>,
  caf::replies_to<commit_offset_req>::with<bool>,
  caf::replies_to<fetch_offset_req>::with<fetch_offset_reply>,
  caf::replies_to<group_heartbeat_req>::with<group_heartbeat_reply>,
  caf::replies_to<topic_route_req>::with<int32_t>,
  caf::replies_to<update_topic_req>::with<int32_t>,
  caf::replies_to<status_atom>::with<partition_status>>;

// ---- the producer actor (client/producer.hpp): applications in other processes may send to it

/// A send with its own retry count (the async API uses retryTimesWhenSendAsyncFailed).
struct send_req {
  message msg;
  int32_t retries = 2;
};

/// RocketMQ's batch send: stored all or nothing (one append), one result per message. Stamped
/// and retried like single sends, so a retried batch is not stored twice either.
struct batch_send_req {
  std::vector<message> msgs;
  int32_t retries = 2;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, send_req& x) {
  return f(caf::meta::type_name("holdfast::send_req"), x.msg, x.retries);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, batch_send_req& x) {
  return f(caf::meta::type_name("holdfast::batch_send_req"), x.msgs, x.retries);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, producer_claim& x) {
  return f(caf::meta::type_name("holdfast::producer_claim"), x.producer_id, x.secret);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, hello_req& x) {
  return f(caf::meta::type_name("holdfast::hello_req"), x.client_id, x.token, x.claims,
           x.resume);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, hello_reply& x) {
  return f(caf::meta::type_name("holdfast::hello_reply"), x.broker_name, x.broker_role,
           x.flush_disk_type, x.sync_flush_timeout_ms, x.max_message_size, x.queue_nums,
           x.producer_id, x.producer_secret, x.epoch);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, append_req& x) {
  return f(caf::meta::type_name("holdfast::append_req"), x.msgs, x.budget_ms);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, append_reply& x) {
  return f(caf::meta::type_name("holdfast::append_reply"), x.results);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, pull_req& x) {
  return f(caf::meta::type_name("holdfast::pull_req"), x.topic, x.queue_id, x.offset, x.max,
           x.max_wait_ms, x.client);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, pull_reply& x) {
  return f(caf::meta::type_name("holdfast::pull_reply"), x.msgs, x.next_offset, x.max_offset,
           x.moved);
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
typename Inspector::result_type inspect(Inspector& f, update_topic_req& x) {
  return f(caf::meta::type_name("holdfast::update_topic_req"), x.topic, x.queues);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, slave_info& x) {
  return f(caf::meta::type_name("holdfast::slave_info"), x.id, x.acked, x.lag,
           x.last_heartbeat_ms_ago);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, partition_status& x) {
  return f(caf::meta::type_name("holdfast::partition_status"), x.flush_disk_type,
           x.broker_role, x.written, x.flushed, x.confirmed, x.fsyncs, x.append_requests,
           x.messages, x.duplicates, x.producer_streams, x.topics, x.slaves, x.master_address,
           x.epoch, x.ha_listen_port);
}

} // namespace holdfast
