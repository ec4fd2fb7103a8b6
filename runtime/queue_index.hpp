#pragma once

#include "runtime/errc.hpp"
#include "runtime/file.hpp"
#include "runtime/index_file_cache.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace holdfast {

/// One entry of a topic-queue index: where the queue's n-th message lies in the commit log.
struct index_entry {
  uint64_t commit_log_offset = 0;
  uint32_t size = 0;
};

/// The index of one topic queue (RocketMQ's ConsumeQueue): a file of fixed 16-byte entries
/// (u64 commit-log offset, u32 size, u32 reserved), so the queue offset of a message is its
/// entry number and a consumer's position is a plain integer.
///
/// The index is derived data: it is written without fsync on the send path and rebuilt by
/// recovery from the commit log past the last checkpoint. Appends are buffered and written in
/// blocks to keep one syscall per message off the hot path.
///
/// The file itself is not held open: every access takes its handle from an index_file_cache
/// (a bounded LRU shared by all indexes of a store), so the number of descriptors does not grow
/// with the number of queues. The entry count and the unwritten entries live in memory.
///
/// Threading: owned by the partition actor; no internal locking.
class queue_index {
public:
  static constexpr size_t entry_size = 16;

  /// Opens (creating) the index at `path`, dropping a partial trailing entry. `files` must
  /// outlive the index.
  [[nodiscard]] static errc open(index_file_cache& files, const std::string& path,
                                 std::unique_ptr<queue_index>& out);

  /// Number of entries = the next queue offset.
  [[nodiscard]] uint64_t count() const noexcept {
    return durable_count_ + pending_.size();
  }

  void append(index_entry e);

  /// Reads up to `max` entries starting at entry `from`.
  [[nodiscard]] errc read(uint64_t from, size_t max, std::vector<index_entry>& out) const;

  /// Drops every entry whose commit-log offset is >= `offset` (recovery and slave truncation).
  [[nodiscard]] errc truncate_from_log_offset(uint64_t offset);

  /// Drops every entry from `n` on.
  [[nodiscard]] errc truncate(uint64_t n);

  /// Writes buffered entries to the file.
  [[nodiscard]] errc flush();

  /// flush() then fdatasync (when the file holds unsynced bytes).
  [[nodiscard]] errc sync();

  /// True when entries wait in memory for flush().
  [[nodiscard]] bool has_pending() const noexcept {
    return !pending_.empty();
  }

  [[nodiscard]] const std::string& path() const noexcept {
    return path_;
  }

private:
  queue_index(index_file_cache& files, std::string path, uint64_t n);

  index_file_cache& files_;
  std::string path_;
  uint64_t durable_count_; // entries in the file (written, maybe not synced)
  std::vector<index_entry> pending_;
};

} // namespace holdfast
