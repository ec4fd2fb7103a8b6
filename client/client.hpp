#pragma once

// The client library applications link (CMake target holdfast_client): a producer shaped like
// RocketMQ's DefaultMQProducer and a pull consumer with long polling and broker-side group
// offsets. Both talk to a holdfast-broker over the CAF middleman. This is the API's edge: it
// throws (the seed's send() throws on broker or network failure); nothing inside does.

#include "actors/wire/client_wire.hpp"
#include "actors/wire/tls_client.hpp"
#include "client/producer.hpp"
#include "runtime/message.hpp"

#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace caf {
class actor_system;
class actor_system_config;
class actor;
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
  /// tlsEnable, tlsClientCertPath, tlsClientKeyPath, tlsClientTrustCertPath (docs/security.md).
  tls_client_options tls;
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
  client_door_actor broker_;
  producer_actor actor_;
  hello_reply hello_;
  std::string id_prefix_;
  std::atomic<uint64_t> ids_{0};
};

/// Pull consumer settings.
struct consumer_config {
  std::string broker = "127.0.0.1:10911";
  std::string topic;
  /// Consumer group; its offsets live on the broker, and its members share the topic's queues
  /// (each queue owned by one member at a time). Empty: no group (every queue, no commits;
  /// what `holdfast verify` uses).
  std::string group = "holdfast_default";
  /// Where a group without committed offsets starts: the beginning (true) or the current end.
  /// A %RETRY% topic always starts at its beginning (RocketMQ's rule).
  bool from_beginning = false;
  std::chrono::milliseconds poll_wait{1000}; ///< long-poll bound
  uint32_t pull_batch = 64;
  /// How often the consumer tells the broker it is alive and learns which queues it owns
  /// (RocketMQ's heartbeatBrokerInterval, 30 s there; shorter here so a group rebalances
  /// within seconds). A member silent for 3 intervals (+2 s) loses its queues.
  std::chrono::milliseconds heartbeat_interval{5000};
  /// Further topics consumed with the same group (the push consumer adds %RETRY%<group>).
  std::vector<std::string> extra_topics;
  std::string client_id = "consumer";
  /// Unique member id within the group; empty: client_id@host#pid#random.
  std::string consumer_id;
  std::string auth_token; ///< the broker's authToken, if it has one
  tls_client_options tls; ///< as producer_config::tls
};

/// A consumer of one topic (plus extra_topics). Single-threaded: one thread polls and commits.
///
/// At-least-once: poll() hands out messages; commit(processed) stores, per queue, the position
/// just past the processed messages on the broker (durably), and must only be called after they
/// were processed. A consumer that dies in between gets the same messages again next time (or
/// another member of the group does).
///
/// Groups: poll() heartbeats when the interval is due and then pulls only the queues the
/// broker assigned to this member. Queues taken away are dropped at once, so commit what an
/// earlier poll() returned before polling again (the usual loop does); otherwise their new
/// owner gets those messages again.
class consumer {
public:
  explicit consumer(consumer_config cfg);
  ~consumer();
  consumer(const consumer&) = delete;
  consumer& operator=(const consumer&) = delete;

  /// Connects, joins the group and loads its offsets; throws remote_error / broker_error.
  void start();
  /// Leaves the group at once (its queues go to the others) and disconnects. Commit first.
  /// Called by the destructor.
  void shutdown();
  /// The next messages of one owned queue (empty when nothing came within poll_wait).
  std::vector<stored_message> poll();
  /// Commits the positions just past `processed` (messages poll() returned and the application
  /// has finished with). Offsets only move forward.
  void commit(const std::vector<stored_message>& processed);
  /// Next queue offset per queue id of the main topic (0 for queues not owned).
  [[nodiscard]] std::vector<uint64_t> positions() const;
  /// Queues of the main topic this member owns now.
  [[nodiscard]] std::vector<int32_t> owned_queues() const;
  [[nodiscard]] const std::string& consumer_id() const noexcept {
    return id_;
  }

private:
  friend class push_consumer;
  struct subscription {
    std::string topic;
    int32_t queue_count = 0;
    std::map<int32_t, uint64_t> next; ///< owned queue -> next queue offset
  };
  void heartbeat(bool leave = false);
  std::vector<send_result> append(std::vector<message> batch, std::chrono::milliseconds timeout);
  int32_t queue_count_of(const std::string& topic);

  consumer_config cfg_;
  std::string id_;
  std::unique_ptr<caf::actor_system_config> sys_cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  client_door_actor broker_;
  /// The actor the hello and the heartbeats come from: it anchors this consumer's session on
  /// the broker (which trusts the connection while it lives) and its group membership.
  caf::actor session_;
  hello_reply hello_;
  std::vector<subscription> subs_;
  std::chrono::steady_clock::time_point next_heartbeat_{};
  size_t rr_ = 0;
};

/// What a push consumer's listener answers (RocketMQ's ConsumeConcurrentlyStatus).
enum class consume_status { consume_success, reconsume_later };

/// DefaultMQPushConsumer's settings.
struct push_consumer_config {
  std::string broker = "127.0.0.1:10911";
  std::string topic;
  std::string group; ///< required: retries and dead letters belong to the group
  bool from_beginning = false;
  /// consumeMessageBatchMaxSize: messages per listener call.
  uint32_t consume_message_batch_max_size = 1;
  uint32_t pull_batch_size = 32; ///< pullBatchSize
  /// maxReconsumeTimes: a message that failed this many redeliveries goes to %DLQ%<group>.
  int max_reconsume_times = 16;
  std::chrono::milliseconds poll_wait{1000};
  std::chrono::milliseconds heartbeat_interval{5000};
  /// How long a send-back may take before the batch is consumed again locally.
  std::chrono::milliseconds send_back_timeout{3000};
  /// Pause before consuming a batch again locally when its send-back failed.
  std::chrono::milliseconds local_retry_delay{1000};
  std::string client_id = "push-consumer";
  std::string consumer_id; ///< empty: generated
  std::string auth_token;
  tls_client_options tls; ///< as producer_config::tls
};

/// A push consumer shaped like RocketMQ's DefaultMQPushConsumer: register a listener, start();
/// a library thread pulls (long polling), calls the listener, and commits offsets only for
/// messages it consumed (CONSUME_SUCCESS) or safely handed to the retry path.
///
/// RECONSUME_LATER (or a listener that throws): each message of the batch is sent back to the
/// broker's delay topic SCHEDULE_TOPIC_XXXX at delay level 3 + its reconsume count, addressed
/// (REAL_TOPIC) to %RETRY%<group>, which this consumer also subscribes to; the broker moves it
/// there when the delay has passed. It carries RECONSUME_TIME (times sent back), RETRY_TOPIC
/// (the original topic) and ORIGIN_MESSAGE_ID. A message whose reconsume count has reached
/// max_reconsume_times goes to %DLQ%<group> instead. The original's offset is committed only
/// after the send-back was stored; if the send-back fails, the batch is consumed again here.
///
/// The listener sees retried messages with their original topic (as RocketMQ shows them).
/// Listener calls happen on the library thread, one at a time.
class push_consumer {
public:
  using batch_listener = std::function<consume_status(const std::vector<stored_message>&)>;
  using message_listener = std::function<consume_status(const stored_message&)>;

  explicit push_consumer(push_consumer_config cfg);
  ~push_consumer();
  push_consumer(const push_consumer&) = delete;
  push_consumer& operator=(const push_consumer&) = delete;

  /// registerMessageListener: called with up to consume_message_batch_max_size messages.
  void register_message_listener(batch_listener listener);
  /// Per-message form: a batch succeeds when every message did.
  void register_message_listener(message_listener listener);

  /// Connects and joins the group (throws like consumer::start), then starts the thread.
  void start();
  /// Finishes the listener call in progress, commits what was consumed, leaves the group.
  void shutdown();

  /// Counters for applications and tests.
  struct stats {
    uint64_t consumed = 0;      ///< messages whose listener call succeeded
    uint64_t sent_back = 0;     ///< messages sent to the retry path
    uint64_t dead_lettered = 0; ///< messages sent to %DLQ%<group>
    uint64_t send_back_failures = 0;
  };
  [[nodiscard]] stats statistics() const;
  /// Queues of the topic this member owns now.
  [[nodiscard]] std::vector<int32_t> owned_queues() const;

private:
  void run();
  bool consume_batch(std::vector<stored_message>& batch);
  bool send_back(const std::vector<stored_message>& batch);

  push_consumer_config cfg_;
  batch_listener listener_;
  std::unique_ptr<consumer> consumer_;
  int32_t delay_levels_ = 0;
  std::thread thread_;
  std::atomic<bool> running_{false};
  mutable std::mutex mu_; ///< guards stats_ and owned_
  stats stats_;
  std::vector<int32_t> owned_;
};

/// Creates `topic` with `queues` queues, or grows it to that many (`holdfast admin
/// updateTopic`); returns the topic's queue count. Throws like the rest (broker_error
/// invalid_message when it would shrink the topic).
int32_t update_topic(const std::string& broker, const std::string& topic, int32_t queues,
                     std::chrono::milliseconds timeout, const std::string& auth_token = "",
                     const tls_client_options& tls = {});

/// The broker's status (`holdfast status`); throws like the rest.
[[nodiscard]] partition_status broker_status(const std::string& broker,
                                             std::chrono::milliseconds timeout,
                                             const std::string& auth_token = "",
                                             const tls_client_options& tls = {});

} // namespace holdfast::client
