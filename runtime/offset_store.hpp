#pragma once

#include "runtime/errc.hpp"
#include "runtime/file.hpp"
#include "runtime/message.hpp" // valid_group_name

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace holdfast {


/// Consumer-group offsets kept by the broker (RocketMQ's consumerOffset.json): for each
/// (group, topic, queue id) the next queue offset the group will consume.
///
/// A consumer commits only after its handler succeeded, so every commit is durable before it
/// returns: redelivering a message after a crash is acceptable (at-least-once), but claiming
/// an offset the disk does not hold would skip messages. Invariants:
///  - memory never claims more than the disk: a failed write leaves the in-memory state as it
///    was before the call;
///  - an offset only moves forward, unless an operator rewinds it explicitly.
///
/// A failed fsync (of the file or of its directory) is sticky: every later commit, commit_all
/// and merge_max returns errc::sticky_failure until the broker restarts and reads what the
/// disk holds (fsyncgate: Linux may drop the pages a failed fsync covered and report the next
/// fsync as a success). A write that fails for lack of space (errc::no_space) is not: it
/// changed nothing durable, so the next commit simply tries again.
///
/// Lifecycle: `open` once at broker start, then commits for the life of the broker; the
/// destructor writes nothing because every commit was already durable.
///
/// Threading: not synchronised. One owner (the actor that serves commits) calls everything;
/// nobody may call `get` or `group_offsets` while a commit runs on another thread.
class offset_store {
public:
  /// One committed offset.
  struct entry {
    std::string group;
    std::string topic;
    int32_t queue_id = 0;
    uint64_t offset = 0; ///< the next queue offset the group will consume
  };

  /// Loads `<dir>/consumer_offsets` (missing = empty; a missing `dir` is created). A corrupt
  /// file is renamed aside to consumer_offsets.corrupt (never deleted) and the store starts
  /// empty, logging an error; a leftover consumer_offsets.tmp is ignored.
  [[nodiscard]] static errc open(file_system& fs, std::string dir,
                                 std::unique_ptr<offset_store>& out);

  offset_store(const offset_store&) = delete;
  offset_store& operator=(const offset_store&) = delete;

  /// The committed offset, or std::nullopt when the group never committed for that queue.
  [[nodiscard]] std::optional<uint64_t> get(const std::string& group, const std::string& topic,
                                            int32_t queue_id) const;

  /// Records an offset and makes it durable before returning (write temp file, fsync, rename,
  /// fsync dir: runtime/file.hpp write_file_atomically). Offsets only move forward:
  /// committing a smaller offset than the stored one is refused with errc::out_of_range
  /// (state unchanged) unless `allow_rewind` is true (an operator reset). Invalid group or
  /// topic names and queue ids outside [0, 65535] give errc::invalid_argument.
  [[nodiscard]] errc commit(const std::string& group, const std::string& topic,
                            int32_t queue_id, uint64_t offset, bool allow_rewind = false);

  /// Several commits, one durable write (a consumer commits a batch of queues at once). All or
  /// nothing: one invalid entry (errc::invalid_argument) or one that would move an offset
  /// backwards (errc::out_of_range) refuses the whole batch. Entries are applied in order, so
  /// a later entry for the same queue must not be smaller than an earlier one.
  [[nodiscard]] errc commit_all(const std::vector<entry>& entries);

  /// A slave's copy of its master's offsets (RocketMQ's SlaveSynchronize): each entry is
  /// taken where it is ahead of the local one, never moving an offset backwards; invalid
  /// entries are skipped. One durable write when anything changed.
  [[nodiscard]] errc merge_max(const std::vector<entry>& entries);

  /// Lowers every offset above its queue's end (`end_of(topic, queue)`) to that end, with one
  /// durable write; `lowered` gets the entries as they were. For a log that lost its tail (a
  /// power cut under ASYNC_FLUSH, a slave cut back to its master): a position past the end
  /// would skip the messages stored there next.
  [[nodiscard]] errc clamp(const std::function<uint64_t(const std::string&, int32_t)>& end_of,
                           std::vector<entry>& lowered);

  /// Every entry, ordered by group, topic, queue id.
  [[nodiscard]] std::vector<entry> all() const;

  /// All entries of one group, ordered by topic then queue id (for status displays and
  /// rebalancing).
  [[nodiscard]] std::vector<entry> group_offsets(const std::string& group) const;

  /// True after a failed fsync: every later write is refused until restart.
  [[nodiscard]] bool failed() const noexcept {
    return failed_;
  }

  /// Number of (group, topic, queue) entries held.
  [[nodiscard]] size_t size() const noexcept {
    return offsets_.size();
  }

private:
  // Ordered so that one group's entries are contiguous (group_offsets) and the file is written
  // in a deterministic order.
  using key = std::tuple<std::string, std::string, int32_t>;
  using offset_map = std::map<key, uint64_t>;

  offset_store(file_system& fs, std::string dir);

  [[nodiscard]] errc load();
  [[nodiscard]] errc move_corrupt_aside(std::string_view why, size_t size);
  /// Writes `next` durably and adopts it only on success.
  [[nodiscard]] errc persist(offset_map next);

  file_system& fs_;
  std::string dir_;
  std::string path_; // dir_ + "/consumer_offsets"
  offset_map offsets_;
  // Set when a write failed: the file may then hold more than offsets_ (see persist()).
  bool disk_uncertain_ = false;
  bool failed_ = false; // an fsync failed: sticky until restart
};

} // namespace holdfast
