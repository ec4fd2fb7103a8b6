#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace holdfast {

/// How safe a stored message is, in RocketMQ's terms (the seed). Only a failure to store at all
/// is an error; these four are all "stored, with this much safety".
enum class send_status : uint8_t {
  send_ok = 0,             ///< stored as the broker is configured (flushed / replicated if sync)
  flush_disk_timeout = 1,  ///< in the broker's memory, but not fsynced within syncFlushTimeout
  flush_slave_timeout = 2, ///< SYNC_MASTER: the slave did not confirm within slaveTimeout
  slave_not_available = 3, ///< SYNC_MASTER: no slave attached, or it is too far behind
};

/// RocketMQ's spelling: SEND_OK, FLUSH_DISK_TIMEOUT, ...
std::string_view to_string(send_status x) noexcept;

/// A message as a producer hands it over.
struct message {
  std::string topic;
  /// Target queue, or -1 to let the broker choose (round robin).
  int32_t queue_id = -1;
  /// Unique key set once by the producer and kept across retries (RocketMQ's UNIQ_KEY).
  std::string msg_id;
  std::map<std::string, std::string> properties;
  std::vector<char> body;
  /// Set by an idempotent producer, not by applications: the id the broker gave it (0: none)
  /// and the message's number in its stream (topic and requested queue), from 0 without gaps.
  uint64_t producer_id = 0;
  uint64_t sequence = 0;
};

/// The broker's answer to one stored message.
struct send_result {
  send_status status = send_status::send_ok;
  std::string msg_id;
  int32_t queue_id = 0;
  uint64_t queue_offset = 0;
  uint64_t commit_log_offset = 0;
};

/// A message as a consumer receives it.
struct stored_message {
  std::string topic;
  int32_t queue_id = 0;
  uint64_t queue_offset = 0;
  uint64_t commit_log_offset = 0;
  int64_t store_timestamp_ms = 0;
  std::string msg_id;
  std::map<std::string, std::string> properties;
  std::vector<char> body;
};

/// A topic and how many queues it has, for status displays.
struct topic_info {
  std::string name;
  std::vector<uint64_t> queue_ends; ///< next queue offset of each queue
};

/// Topic names as RocketMQ allows them: [A-Za-z0-9_%-]{1,127}. '%' appears in the system topics
/// %RETRY%group and %DLQ%group; '/' and '.' never do, so a name can't escape the store directory.
[[nodiscard]] bool valid_topic_name(std::string_view name) noexcept;

/// Consumer group names: [A-Za-z0-9_%-]{1,127} (same alphabet as topics; '/' never, so a
/// name can never be read as a path).
[[nodiscard]] bool valid_group_name(std::string_view name) noexcept;

// ---- consumption: system topics and the properties retried messages carry (RocketMQ's names,
// MessageConst.java / MixAll.java, so a RocketMQ user reads them as usual) --------------------

/// The delay topic: queue `level - 1` holds the messages of delay level `level` until the
/// broker's schedule service moves them to their REAL_TOPIC.
inline constexpr std::string_view schedule_topic = "SCHEDULE_TOPIC_XXXX";
inline constexpr std::string_view retry_group_topic_prefix = "%RETRY%";
inline constexpr std::string_view dlq_group_topic_prefix = "%DLQ%";

namespace property {
inline constexpr const char* real_topic = "REAL_TOPIC";  ///< where a delayed message goes
inline constexpr const char* real_queue_id = "REAL_QID"; ///< and to which queue
inline constexpr const char* delay_level = "DELAY";      ///< its delay level (1-based)
inline constexpr const char* retry_topic = "RETRY_TOPIC"; ///< the topic it was first sent to
inline constexpr const char* reconsume_time = "RECONSUME_TIME"; ///< times it was sent back
inline constexpr const char* origin_message_id = "ORIGIN_MESSAGE_ID";
inline constexpr const char* max_reconsume_times = "MAX_RECONSUME_TIMES";
} // namespace property

[[nodiscard]] std::string retry_topic_of(std::string_view group);
[[nodiscard]] std::string dlq_topic_of(std::string_view group);

/// Queue count of the system topics, which do not follow defaultTopicQueueNums: a group's
/// retry and dead-letter topics have one queue (RocketMQ's), the delay topic one per delay
/// level. 0 for an ordinary topic.
[[nodiscard]] int32_t system_topic_queue_nums(std::string_view topic,
                                              int32_t delay_levels) noexcept;

} // namespace holdfast
