#pragma once

#include "actors/partition.hpp"
#include "actors/protocol.hpp"

#include <caf/all.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace holdfast {

/// How a producer behaves (RocketMQ DefaultMQProducer names in comments).
struct producer_options {
  std::chrono::milliseconds send_timeout{3000}; ///< sendMsgTimeout: total budget, all retries
  int retry_times = 2;                          ///< retryTimesWhenSendFailed
  size_t batch_max_bytes = 256 * 1024;          ///< batchMaxBytes
};

/// The producer actor: applications (or their actors) `request` a send of a `message` and get
/// its `send_result`, or an error once the retries are used up.
///
/// The message id is assigned here once (if the application left it empty) and kept across
/// retries, so a retried message can be recognised downstream.
///
/// Batching: sends that wait in the mailbox at the same moment travel as one append_req (the
/// actor queues each send and posts itself a drain message, which arrives after every send
/// already waiting; Kafka's linger.ms = 0). The broker stores a batch all-or-nothing and every
/// message still gets its own result.
///
/// Retries: an error that may pass (timeout, lost connection, storage failure) is retried up to
/// retry_times more times while the send_timeout budget lasts; a refusal of the message itself
/// (invalid_message) is not. A send_status other than SEND_OK is an answer, not a failure: it is
/// returned as is (the seed: the application decides how to compensate).
using producer_actor = caf::typed_actor<caf::replies_to<message>::with<send_result>,
                                        caf::reacts_to<drain_atom>>;

struct producer_state {
  // Not an aggregate: C++20 parenthesized aggregate init would make CAF try to build the
  // state from the actor pointer.
  producer_state() = default;
  struct pending {
    message msg;
    caf::typed_response_promise<send_result> rp;
    int attempts = 0;
    std::chrono::steady_clock::time_point deadline;
  };
  partition_actor broker;
  producer_options opts;
  std::vector<pending> queue;
  bool drain_posted = false;
  std::string id_prefix;
  uint64_t id_counter = 0;
  uint64_t batches = 0; ///< append requests sent, for benchmarks
  static inline const char* name = "holdfast.producer";
};

producer_actor::behavior_type producer(producer_actor::stateful_pointer<producer_state> self,
                                       partition_actor broker, producer_options opts);

/// A process-unique prefix for message ids: host-independent, time and pid based.
[[nodiscard]] std::string make_msg_id_prefix();

} // namespace holdfast
