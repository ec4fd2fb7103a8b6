#pragma once

#include "runtime/errc.hpp"
#include "runtime/file.hpp"
#include "runtime/record.hpp"
#include "runtime/record_reader.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

namespace holdfast {

/// What recovery found and did; logged by the broker and checked by tests.
struct recovery_report {
  bool clean = false;               ///< a clean-shutdown marker let us skip the scan
  uint64_t scanned_from = 0;        ///< commit-log offset the scan started at
  uint64_t scanned_records = 0;
  uint64_t end_offset = 0;          ///< where the log ends after recovery
  uint64_t truncated_bytes = 0;     ///< bytes cut off the tail
  record::decode_status stop_reason = record::decode_status::ok;
  std::vector<std::string> moved_aside; ///< files renamed to *.corrupt, never deleted
};

/// One broker-wide, append-only, segmented log of records (RocketMQ's CommitLog): one
/// sequential write stream, so one fsync makes every topic durable at once.
///
/// Offsets are logical byte positions and only move forward. A segment file is named by the
/// offset of its first byte (20 digits) and holds whole records; a new one starts when the next
/// append would pass `segment_size` (a single larger append gets a segment of its own).
///
/// Threading: exactly one writer thread (the partition actor) calls append/truncate_to; one
/// flusher thread (the flush service) calls sync; any thread may read. write_offset() and
/// flushed_offset() are atomics.
class commit_log {
public:
  struct options {
    std::string dir;
    uint64_t segment_size = 1ull << 30;
  };

  /// Called for each valid record that recovery scans, to rebuild derived state (the index).
  using record_visitor = std::function<void(const record::view&)>;

  /// Opens the log in `opts.dir` (created if missing) and recovers it. When `clean` is false
  /// the records from `scan_from` on are verified; the log is cut at the first bad or torn one.
  [[nodiscard]] static errc open(file_system& fs, options opts, bool clean, uint64_t scan_from,
                                 const record_visitor& visit, std::unique_ptr<commit_log>& out,
                                 recovery_report& report);

  ~commit_log();

  /// End of what has been written (the next record's offset).
  [[nodiscard]] uint64_t write_offset() const noexcept {
    return write_offset_.load(std::memory_order_acquire);
  }

  /// Everything below this offset is on disk (fdatasync returned).
  [[nodiscard]] uint64_t flushed_offset() const noexcept {
    return flushed_offset_.load(std::memory_order_acquire);
  }

  /// First offset the log still holds.
  [[nodiscard]] uint64_t start_offset() const;

  /// Appends whole, already encoded records at write_offset(). Writer thread only. On failure
  /// nothing of `bytes` stays in the log. `new_segment` starts a new segment first (unless the
  /// active one is empty).
  [[nodiscard]] errc append(std::span<const char> bytes, bool new_segment = false);

  /// Offset where the segment holding `offset` ends (the next segment's base), or UINT64_MAX
  /// for the active segment; `base` receives the segment's first offset. A slave copies the
  /// master's segment boundaries so both logs stay byte-identical file by file.
  [[nodiscard]] uint64_t segment_limit(uint64_t offset, uint64_t& base) const;

  /// Makes everything written so far durable. After a failure every later sync and append
  /// returns errc::sticky_failure: the page cache may have dropped the data (fsyncgate), so only
  /// a restart and recovery from disk can tell what is there.
  [[nodiscard]] errc sync();

  /// Reads `len` bytes at `offset`; they must lie within one record range below write_offset().
  [[nodiscard]] errc read(uint64_t offset, size_t len, std::string& out) const;

  /// A reader of the whole records from `from` (a record boundary) to the end of its segment or
  /// write_offset(), whichever comes first. No segment holding `from`, or `from` past
  /// write_offset(): a reader already stopped with read_error errc::out_of_range.
  [[nodiscard]] record_reader reader(uint64_t from, record_reader::options opts) const;

  /// Cuts the log back to `offset` (a record boundary). Writer thread only; used by a slave
  /// whose log diverged from its master's. Waits for a running sync(). A failure once the cut
  /// has begun (a rename, the ftruncate, or the fsyncs that make the cut durable) is sticky
  /// like a failed sync(): what the disk holds is then unknown.
  [[nodiscard]] errc truncate_to(uint64_t offset);

  [[nodiscard]] bool failed() const noexcept {
    return sticky_.load(std::memory_order_acquire);
  }

  /// Number of successful sync() calls that reached the disk.
  [[nodiscard]] uint64_t sync_count() const noexcept {
    return syncs_.load(std::memory_order_relaxed);
  }

private:
  struct segment {
    uint64_t base;
    std::shared_ptr<file> f;
  };

  commit_log(file_system& fs, options opts);
  [[nodiscard]] errc roll(uint64_t base);
  [[nodiscard]] std::shared_ptr<segment> find(uint64_t offset) const;
  std::string path_of(uint64_t base) const;

  file_system& fs_;
  options opts_;
  mutable std::mutex mtx_;                       // guards segments_ and the dir versions
  std::vector<std::shared_ptr<segment>> segments_;
  // Counts the segments created; the directory is durable up to dir_synced_. A version, not a
  // flag: a segment the writer creates while the flusher syncs the directory was perhaps not
  // covered by that sync and must get one of its own.
  uint64_t dir_version_ = 0;
  uint64_t dir_synced_ = 0;
  std::mutex sync_mtx_;                          // one sync (or truncation) at a time
  std::atomic<uint64_t> write_offset_{0};
  std::atomic<uint64_t> flushed_offset_{0};
  std::atomic<bool> sticky_{false};
  std::atomic<uint64_t> syncs_{0};
};

/// "00000000001073741824": the file name of a segment starting at `base`.
[[nodiscard]] std::string segment_name(uint64_t base);

} // namespace holdfast
