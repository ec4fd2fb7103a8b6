#pragma once

#include "runtime/errc.hpp"
#include "runtime/file.hpp"

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
/// Threading: owned by the partition actor; no internal locking.
class queue_index {
public:
  static constexpr size_t entry_size = 16;

  /// Opens (creating) the index at `path`, dropping a partial trailing entry.
  [[nodiscard]] static errc open(file_system& fs, const std::string& path,
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

  /// flush() then fdatasync.
  [[nodiscard]] errc sync();

  /// The file, for a checkpoint that syncs it on another thread after flush() (fdatasync of a
  /// file another thread writes is safe; the handle keeps the file open until it is done).
  [[nodiscard]] std::shared_ptr<file> file_handle() const noexcept {
    return f_;
  }

private:
  queue_index(std::unique_ptr<file> f, uint64_t n);

  std::shared_ptr<file> f_;
  uint64_t durable_count_; // entries in the file (written, maybe not synced)
  std::vector<index_entry> pending_;
};

} // namespace holdfast
