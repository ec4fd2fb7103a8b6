#pragma once

// What both doors and the client library share: the atoms, the broker's error enum, and the
// CAF inspectors of the plain message types of runtime/message.hpp. The messages of each door
// live in that door's wire header (client_wire.hpp, replication_wire.hpp); every type is
// registered once, in type_registry.cpp.

#include "runtime/message.hpp"

#include <caf/all.hpp>

#include <string>

namespace holdfast {

using status_atom = caf::atom_constant<caf::atom("hf_status")>;
// Internal: timers and shutdown. Atoms are only names; what matters is that no published
// interface accepts them (actors/client_door.hpp, actors/replication_door.hpp).
using checkpoint_atom = caf::atom_constant<caf::atom("hf_ckpt")>;
using shutdown_atom = caf::atom_constant<caf::atom("hf_stop")>;
using tick_atom = caf::atom_constant<caf::atom("hf_tick")>;
using drain_atom = caf::atom_constant<caf::atom("hf_drain")>;

/// Errors a broker replies with (as caf::error, category "holdfast"). A send that returns one
/// of these was NOT stored; a send_status is always "stored, with this much safety".
enum class broker_errc : uint8_t {
  none = 0,
  invalid_message = 1, ///< refused by validation (topic, queue, size...): retrying cannot help
  storage_failure = 2, ///< write or fsync failed; after a failed fsync every later send too
  shutting_down = 3,   ///< the broker is stopping
  not_master = 4,      ///< sends go to the master
  unauthorized = 5,    ///< a missing or wrong token, or a request without a session
  out_of_order = 6,    ///< replicated bytes that do not continue the log, or an impossible ack
  out_of_sequence = 7, ///< an idempotent producer's sequence number does not continue its
                       ///< stream: nothing of the batch was stored
  sequence_expired = 8, ///< a retried send stored long ago: its original result is forgotten
  unknown_producer = 9, ///< a producer id this connection was not given and did not claim
  budget_too_short = 10, ///< the send's time budget cannot cover a write and an answer
  topic_not_exist = 11, ///< autoCreateTopicEnable is false and the topic was never created:
                        ///< nothing was stored (RocketMQ's "topic not exist")
  busy = 12, ///< too many requests of this connection unanswered (maxRequestsPerClient)
};

[[nodiscard]] std::string_view to_string(broker_errc x) noexcept;

caf::error make_error(broker_errc x);
caf::error make_error(broker_errc x, std::string context);

/// True for errors where another attempt may succeed (timeouts, lost connections, a broker
/// restarting); false for refusals of the message itself.
[[nodiscard]] bool retriable(const caf::error& err) noexcept;

/// True when `err` is the broker error `x`.
[[nodiscard]] bool is(const caf::error& err, broker_errc x) noexcept;

/// "invalid_message: topic name must match ..." for any CAF or broker error.
[[nodiscard]] std::string describe(const caf::error& err);

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, message& x) {
  return f(caf::meta::type_name("holdfast::message"), x.topic, x.queue_id, x.msg_id,
           x.properties, x.body, x.producer_id, x.sequence);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, send_result& x) {
  return f(caf::meta::type_name("holdfast::send_result"), x.status, x.msg_id, x.queue_id,
           x.queue_offset, x.commit_log_offset);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stored_message& x) {
  return f(caf::meta::type_name("holdfast::stored_message"), x.topic, x.queue_id,
           x.queue_offset, x.commit_log_offset, x.store_timestamp_ms, x.msg_id, x.properties,
           x.body);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, topic_info& x) {
  return f(caf::meta::type_name("holdfast::topic_info"), x.name, x.queue_ends);
}

} // namespace holdfast
