#pragma once

// The client library applications link (CMake target holdfast_client): a producer shaped like
// RocketMQ's DefaultMQProducer and a pull consumer with long polling and broker-side group
// offsets. Both talk to a holdfast-broker over the CAF middleman. This is the API's edge: it
// throws (the seed's send() throws on broker or network failure); nothing inside does.

#include "actors/partition.hpp"
#include "actors/producer.hpp"
#include "runtime/message.hpp"

#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace caf {
class actor_system;
class actor_system_config;
} // namespace caf

namespace holdfast::client {

/// Base of everything the client library throws.
class client_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// The broker answered with a refusal or a storage failure (RocketMQ's MQBrokerException).
class broker_error : public client_error {
public:
  using client_error::client_error;
};

/// No connection to the broker, or it broke (RocketMQ's RemotingException).
class remote_error : public client_error {
public:
  using client_error::client_error;
};

/// No answer within the time budget.
class timeout_error : public client_error {
public:
  using client_error::client_error;
};

/// The exception a CAF error stands for.
[[nodiscard]] std::exception_ptr to_exception(const caf::error& err);

/// DefaultMQProducer's settings.
struct producer_config {
  std::string broker = "127.0.0.1:10911";       ///< HOST:PORT
  std::chrono::milliseconds send_msg_timeout{3000}; ///< sendMsgTimeout, across retries
  int retry_times_when_send_failed = 2;         ///< retryTimesWhenSendFailed
  int retry_times_when_send_async_failed = 2;   ///< retryTimesWhenSendAsyncFailed
  bool retry_another_broker_when_not_store_ok = false; ///< single broker: kept for the API
  size_t batch_max_bytes = 256 * 1024;          ///< batchMaxBytes
  std::chrono::milliseconds linger_ms{0};       ///< lingerMs (0: only what is already waiting)
  std::string client_id = "producer";
  std::string auth_token; ///< the broker's authToken, if it has one
  /// enableIdempotence: a retried send the broker already stored is answered with the original
  /// SendResult instead of being stored twice (see producer_actor).
  bool enable_idempotence = true;
  /// Longest wait for one attempt (0: all of sendMsgTimeout). Shorter, a lost reply is retried.
  std::chrono::milliseconds request_timeout{0};
};

/// A producer connected to one broker. Thread-safe: any thread may send.
class producer {
public:
  explicit producer(producer_config cfg);
  ~producer();
  producer(const producer&) = delete;
  producer& operator=(const producer&) = delete;

  /// Connects; throws remote_error when the broker cannot be reached.
  void start();
  /// Stops the producer's actors; pending async sends fail. Called by the destructor.
  void shutdown();

  /// Synchronous send: returns the SendResult or throws once retries are used up.
  send_result send(message msg);
  /// Asynchronous send: returns at once; exactly one callback runs later, on a library thread.
  void send(message msg, std::function<void(const send_result&)> on_success,
            std::function<void(std::exception_ptr)> on_exception);
  /// Fire and forget: no result, no retry.
  void send_oneway(message msg);
  /// RocketMQ's batch send: stored all-or-nothing, one result per message.
  std::vector<send_result> send(std::vector<message> batch);

  /// What the broker told on connect (flush type, timeouts, limits).
  [[nodiscard]] const hello_reply& broker_info() const noexcept {
    return hello_;
  }
  /// The producer actor, for actor applications that want to `request` sends themselves.
  [[nodiscard]] producer_actor actor() const noexcept {
    return actor_;
  }

private:
  producer_config cfg_;
  std::unique_ptr<caf::actor_system_config> sys_cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  partition_actor broker_;
  producer_actor actor_;
  hello_reply hello_;
  std::string id_prefix_;
  std::atomic<uint64_t> ids_{0};
};

/// Pull consumer settings.
struct consumer_config {
  std::string broker = "127.0.0.1:10911";
  std::string topic;
  /// Consumer group; its offsets live on the broker. Empty: no group (read only, no commits;
  /// what `holdfast verify` uses).
  std::string group = "holdfast_default";
  /// Where a group without committed offsets starts: the beginning (true) or the current end.
  bool from_beginning = false;
  std::chrono::milliseconds poll_wait{1000}; ///< long-poll bound
  uint32_t pull_batch = 64;
  std::string client_id = "consumer";
  std::string auth_token; ///< the broker's authToken, if it has one
};

/// A consumer of one topic. Single-threaded: one thread polls and commits.
///
/// At-least-once: poll() hands out messages; commit(processed) stores, per queue, the position
/// just past the processed messages on the broker (durably), and must only be called after they
/// were processed. A consumer that dies in between gets the same messages again next time.
class consumer {
public:
  explicit consumer(consumer_config cfg);
  ~consumer();
  consumer(const consumer&) = delete;
  consumer& operator=(const consumer&) = delete;

  /// Connects and loads the group's offsets; throws remote_error / broker_error.
  void start();
  /// The next messages of any queue (empty when nothing came within poll_wait).
  std::vector<stored_message> poll();
  /// Commits the positions just past `processed` (messages poll() returned and the application
  /// has finished with). Offsets only move forward.
  void commit(const std::vector<stored_message>& processed);
  /// Next queue offset per queue id.
  [[nodiscard]] const std::vector<uint64_t>& positions() const noexcept {
    return next_;
  }

private:
  consumer_config cfg_;
  std::unique_ptr<caf::actor_system_config> sys_cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  partition_actor broker_;
  hello_reply hello_;
  std::vector<uint64_t> next_;
  size_t rr_ = 0;
};

/// The broker's status (`holdfast status`); throws like the rest.
[[nodiscard]] partition_status broker_status(const std::string& broker,
                                             std::chrono::milliseconds timeout,
                                             const std::string& auth_token = "");

} // namespace holdfast::client
