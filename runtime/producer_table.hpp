#pragma once

#include "runtime/errc.hpp"

#include <compare>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace holdfast {

/// A sequence stream of an idempotent producer: its sends to one topic and queue. `queue` is
/// the queue the producer asked for; -1 ("the broker chooses") is one stream for the topic.
struct stream_key {
  uint64_t producer_id = 0;
  std::string topic;
  int32_t queue = -1;
  auto operator<=>(const stream_key&) const = default;
};

/// Where the message with one sequence number was stored: what a retry of it is answered with.
struct sequenced_entry {
  uint64_t sequence = 0;
  uint64_t queue_offset = 0;
  uint64_t commit_log_offset = 0;
  uint32_t length = 0; ///< record length: the entry is durable once the log passes offset + length
  int32_t queue_id = 0;
};

/// The broker's memory of idempotent producers (Kafka's producer state, which
/// RocketMQ's RIP-46 asked for): per stream, the next expected sequence number and the results
/// of the last `window` messages, so a retried send is answered with its original SendResult
/// instead of being stored again.
///
/// Derived state, like the indexes: every record carries its producer id and sequence number,
/// so the table is rebuilt from a snapshot plus the log after it, reaches a slave with the
/// replicated records, and is cut back with the log.
class producer_table {
public:
  static constexpr size_t default_window = 1024;
  /// Streams idle this long are forgotten at the next snapshot (Kafka expires producer ids too).
  static constexpr int64_t default_expiry_ms = 7ll * 24 * 3600 * 1000;

  explicit producer_table(size_t window = default_window) : window_(window) {}

  /// The sequence number the stream expects next (0 for a stream never seen).
  [[nodiscard]] uint64_t next_sequence(const stream_key& key) const;

  /// The stored result of `sequence`, if the window still holds it.
  [[nodiscard]] std::optional<sequenced_entry> find(const stream_key& key, uint64_t sequence) const;

  /// Records a stored message. The log is the truth: a sequence number that does not continue
  /// the stream (replaying records written before a snapshot) restarts the window from it.
  void apply(const stream_key& key, const sequenced_entry& e, int64_t timestamp_ms);

  /// Forgets everything stored at or past commit-log offset `offset` (a slave cutting its log
  /// back, a snapshot that covered records a crash then lost).
  void truncate(uint64_t offset);

  /// Forgets the streams idle longer than `expiry_ms` before `now_ms` (store time, like
  /// everything here) and returns how many: a producer that went away leaves memory too. A
  /// retry of a forgotten stream counts as a new stream's send.
  size_t expire(int64_t now_ms, int64_t expiry_ms = default_expiry_ms);

  /// Highest producer id any stream has, so ids handed out later never repeat one.
  [[nodiscard]] uint64_t max_producer_id() const noexcept;

  /// Newest store timestamp of any stream: the log's own clock, which expiry is measured on so
  /// that a jump of the wall clock cannot make the broker forget producers.
  [[nodiscard]] int64_t newest_ms() const noexcept;

  [[nodiscard]] size_t streams() const noexcept {
    return streams_.size();
  }

  /// Serialises the streams as of commit-log offset `covered`: entries at or past it are left
  /// out (they may not survive a crash). Streams idle longer than `expiry_ms` before `now_ms`
  /// are left out as well.
  [[nodiscard]] std::string encode(uint64_t covered, int64_t now_ms,
                                   int64_t expiry_ms = default_expiry_ms) const;

  /// Replaces the table with a snapshot; `covered` receives the offset it was taken at.
  /// errc::corrupt when the bytes are not a valid snapshot (the table is then unchanged).
  [[nodiscard]] errc decode(std::string_view bytes, uint64_t& covered);

private:
  struct stream {
    uint64_t next = 0;
    int64_t last_ms = 0;
    std::deque<sequenced_entry> entries; ///< consecutive sequence numbers ending at next - 1
  };
  size_t window_;
  std::map<stream_key, stream> streams_;
};

} // namespace holdfast
