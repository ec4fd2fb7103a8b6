#pragma once

// The replication door's wire: what a slave may ask its master, on haListenPort. A slave
// first authenticates its link actor with ha_hello_req; every later request must come from
// that very actor, over that connection (actors/replication_door.hpp).

#include "actors/wire/common.hpp"
#include "runtime/leader_epoch.hpp"

#include <caf/all.hpp>

#include <string>
#include <vector>

namespace holdfast {

/// A slave's link introduces itself. Refused unless `token` is the master's haAuthToken (a
/// master without one refuses every slave) and `broker_name` is the master's brokerName (a
/// slave of another broker set must never copy or truncate to this log).
struct ha_hello_req {
  std::string token;
  std::string broker_name;
  std::string slave_id;
};

struct ha_hello_reply {
  std::string broker_name;
  uint64_t epoch = 0; ///< the master's current leader epoch
  /// The key idempotent producers' claims are checked with (runtime/secret.hpp), so a slave
  /// promoted to master recognises the producers of the old one.
  std::vector<char> producer_key;
};

/// "Send me the log from `offset`; I hold everything before it, and `acked` of it durably
/// (fsynced when I am SYNC_FLUSH); the newest term I hold is (last_epoch, last_term)". Every
/// fetch is also the heartbeat: with nothing new the master holds it up to max_wait_ms.
///
/// The master first checks the slave's log against its own epoch history (Kafka's
/// OffsetsForLeaderEpoch): where does that term end here? A slave holding bytes past that
/// point diverged (a master restarted on an older copy of its disk took new writes at the
/// same offsets) and is told where to cut back; only a fetch that passed the check moves the
/// slave's acknowledgement.
struct ha_fetch_req {
  uint64_t offset = 0;
  uint64_t acked = 0;
  uint64_t last_epoch = 0; ///< 0: the slave knows no term (an empty or pre-epoch log)
  uint64_t last_term = 0;
  uint32_t max_bytes = 32 * 1024;
  uint32_t max_wait_ms = 0;
};

/// `truncate_to` when the slave diverged: cut back to this offset (or, with
/// `drop_last_term`, to the start of your newest term, which this master never had) and
/// fetch again. Otherwise whole records starting at `offset`, and the master's terms that
/// start within them, which the slave records before it appends.
struct ha_fetch_reply {
  uint64_t offset = 0;
  std::vector<char> bytes;
  uint64_t master_end = 0;
  bool new_segment = false; ///< `bytes` start a new segment on the master: the slave rolls too
  std::vector<leader_epoch> epochs;
  bool diverged = false;
  bool drop_last_term = false;
  uint64_t truncate_to = 0;
};

/// A slave reports what it now holds (fsynced when it is SYNC_FLUSH) without waiting for its
/// next fetch: each finished append is acknowledged at once. Fire and forget; one from anyone
/// but the authenticated link, or beyond what was sent to it, is ignored.
struct ha_ack {
  uint64_t acked = 0;
};

/// A slave asks its master for every consumer offset (RocketMQ's SlaveSynchronize), so a
/// group continues from about where it was when clients move to the slave.
struct ha_offsets_req {
  uint32_t reserved = 0;
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

/// The replication door: what a slave may ask, on haListenPort.
using replication_door_actor = caf::typed_actor<
  caf::replies_to<ha_hello_req>::with<ha_hello_reply>,
  caf::replies_to<ha_fetch_req>::with<ha_fetch_reply>,
  caf::reacts_to<ha_ack>,
  caf::replies_to<ha_offsets_req>::with<ha_offsets_reply>>;

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ha_hello_req& x) {
  return f(caf::meta::type_name("holdfast::ha_hello_req"), x.token, x.broker_name, x.slave_id);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ha_hello_reply& x) {
  return f(caf::meta::type_name("holdfast::ha_hello_reply"), x.broker_name, x.epoch,
           x.producer_key);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, leader_epoch& x) {
  return f(caf::meta::type_name("holdfast::leader_epoch"), x.epoch, x.term, x.start_offset);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ha_fetch_req& x) {
  return f(caf::meta::type_name("holdfast::ha_fetch_req"), x.offset, x.acked, x.last_epoch,
           x.last_term, x.max_bytes, x.max_wait_ms);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ha_fetch_reply& x) {
  return f(caf::meta::type_name("holdfast::ha_fetch_reply"), x.offset, x.bytes, x.master_end,
           x.new_segment, x.epochs, x.diverged, x.drop_last_term, x.truncate_to);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ha_ack& x) {
  return f(caf::meta::type_name("holdfast::ha_ack"), x.acked);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ha_offsets_req& x) {
  return f(caf::meta::type_name("holdfast::ha_offsets_req"), x.reserved);
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

} // namespace holdfast
