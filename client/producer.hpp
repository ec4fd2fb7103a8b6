#pragma once

#include "actors/wire/client_wire.hpp"

#include <caf/all.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

namespace holdfast {

/// How a producer behaves (RocketMQ DefaultMQProducer names in comments).
struct producer_options {
  std::chrono::milliseconds send_timeout{3000}; ///< sendMsgTimeout: total budget, all retries
  int retry_times = 2;                          ///< retryTimesWhenSendFailed
  size_t batch_max_bytes = 256 * 1024;          ///< batchMaxBytes
  /// lingerMs: how long a send may wait for others to join its batch. 0 = only the sends
  /// already waiting in the mailbox (no added latency).
  std::chrono::milliseconds linger{0};
  /// "host:port" of the broker to reconnect to when the connection breaks; empty for an
  /// in-process broker (the handle given at spawn is used as it is).
  std::string broker_address;
  std::string client_id = "producer";
  std::string auth_token; ///< the broker's authToken, if it has one
  /// enableIdempotence: number the sends so the broker stores a retried one only once and
  /// answers it with the original SendResult.
  bool idempotence = true;
  /// Longest wait for one attempt's answer (0: the rest of send_timeout). Shorter than
  /// send_timeout, a lost reply leaves time for a retry.
  std::chrono::milliseconds request_timeout{0};
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
///
/// Idempotence (enableIdempotence, default on): the hello gives a producer id (and the secret
/// that proves ownership of it on a later connection); each send is stamped, when it is first
/// dispatched, with that id and the next sequence number of its stream (topic, requested
/// queue), and keeps both across retries, so the broker answers a retry of a stored message
/// with the original result. Sends go out in stamping order. An out_of_sequence refusal (an
/// earlier send of the stream is still being retried) is retried without counting as an
/// attempt; a send that fails for good retires the producer id (its stream may now have a
/// hole) and later sends get a new one. A stamped send is never re-stamped: once it may have
/// been stored under one id, another id would store it twice. After a reconnect, the hello
/// claims every id that still has stamped sends, so their retries are recognised.
///
/// Connection: the broker handle is monitored. When it goes down and broker_address is set,
/// the actor reconnects through the middleman (every 200 ms) while sends wait; a send whose
/// budget runs out meanwhile fails with a timeout. `status_atom` returns the broker's hello.
using producer_actor = caf::typed_actor<caf::replies_to<message>::with<send_result>,
                                        caf::replies_to<send_req>::with<send_result>,
                                        caf::replies_to<batch_send_req>::with<append_reply>,
                                        caf::replies_to<status_atom>::with<hello_reply>,
                                        caf::reacts_to<drain_atom>, caf::reacts_to<tick_atom>>;

struct producer_state {
  producer_state() = default;
  /// The answer of a batch_send_req, filled by its members.
  struct batch_answer {
    caf::typed_response_promise<append_reply> rp;
    std::vector<send_result> results;
    size_t remaining = 0;
    bool done = false;
  };
  struct pending {
    message msg;
    caf::typed_response_promise<send_result> rp; ///< a single send
    std::shared_ptr<batch_answer> batch;         ///< or a member of a batch send
    size_t batch_index = 0;
    void deliver(send_result r);
    void deliver(const caf::error& err);
    int attempts = 0;
    int max_retries = 2;
    std::chrono::steady_clock::time_point deadline;
    uint64_t order = 0; ///< arrival order: sends are dispatched (and stamped) in it
  };
  client_door_actor broker;
  producer_options opts;
  hello_reply hello;
  std::vector<pending> queue;
  bool drain_posted = false;
  bool connecting = false;
  bool tick_posted = false;
  std::string id_prefix;
  uint64_t id_counter = 0;
  uint64_t batches = 0; ///< append requests sent, for benchmarks
  uint64_t arrivals = 0;
  bool hello_pending = false;  ///< sends wait for the hello: it carries the producer id
  uint64_t producer_id = 0;    ///< 0: none yet, or retired
  /// The secret of each id this producer was given and may still have stamped sends for.
  std::map<uint64_t, uint64_t> secrets;
  /// Unanswered sends per producer id they are stamped with.
  std::map<uint64_t, size_t> stamped;
  /// Per stream of an id (id, topic, requested queue): the lowest sequence number that failed
  /// for good, and why. A gap behind it is permanent: that id can never store those sends.
  std::map<std::tuple<uint64_t, std::string, int32_t>, std::pair<uint64_t, caf::error>> failed_at;
  std::map<std::pair<std::string, int32_t>, uint64_t> next_sequence;
  static inline const char* name = "holdfast.producer";
};

producer_actor::behavior_type producer(producer_actor::stateful_pointer<producer_state> self,
                                       client_door_actor broker, producer_options opts);

/// A process-unique prefix for message ids: time, pid and randomness.
[[nodiscard]] std::string make_msg_id_prefix();

} // namespace holdfast
