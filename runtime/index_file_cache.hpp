#pragma once

#include "runtime/errc.hpp"
#include "runtime/file.hpp"

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace holdfast {

/// The open handles of the queue index files, at most `capacity` of them (maxOpenIndexFiles):
/// the least recently used one is closed to make room. A broker has one index file per topic
/// queue, and any client may create topics, so keeping them all open would tie the number of
/// file descriptors to the number of topics.
///
/// Durability. The cache remembers, per handle, whether bytes were written through it since
/// its last sync ("dirty", by a generation number that only grows). Recovery trusts an index
/// below the checkpoint, so a checkpoint may be recorded only once every index byte written
/// before it is synced (store.hpp, checkpoint_job). Hence:
///  - a clean handle is closed freely (its bytes are on disk);
///  - eviction prefers clean handles, least recently used first;
///  - only when every handle is dirty, the least recently used one is fdatasynced before it is
///    closed, on the caller's thread (the partition): a file is never closed holding unsynced
///    bytes, because Linux may forget a write-back error of a file nobody holds open
///    (fsyncgate), and a later open + fsync would then "succeed" over lost pages;
///  - a failed eviction sync is sticky: failed() turns true, every later write access is
///    refused with errc::sticky_failure (the store then refuses every write), and the file is
///    closed without a retry: only recovery after a restart knows what reached the disk;
///  - dirty_files() lists every dirty handle for a checkpoint job, which syncs them on its own
///    thread; mark_synced() then cleans those not written again meanwhile.
///
/// So every index file with unsynced bytes is open in the cache, and a checkpoint job holds at
/// most `capacity` handles; while it runs, handles it holds that the cache evicts stay open
/// until it ends: at most 2 x capacity index descriptors at any time.
///
/// Threading: used by the store's writer (the partition actor) only. The handles it returns
/// may be synced on another thread (file's contract).
class index_file_cache {
public:
  /// How a caller uses the handle it asks for.
  enum class access : uint8_t {
    read,  ///< reads only: the handle's dirty state is unchanged
    write, ///< writes or truncates: the handle counts as dirty until synced
  };

  index_file_cache(file_system& fs, size_t capacity);
  index_file_cache(const index_file_cache&) = delete;
  index_file_cache& operator=(const index_file_cache&) = delete;

  /// The open handle of `path` (opened, created when missing, on a miss). Write access after a
  /// failed eviction sync is refused with errc::sticky_failure; a miss when every handle is
  /// dirty syncs one first (and fails with its error).
  [[nodiscard]] errc get(const std::string& path, access a, std::shared_ptr<file>& out);

  /// A dirty handle, for a checkpoint job.
  struct dirty_file {
    std::string path;
    std::shared_ptr<file> f;
  };
  /// Every handle written since its last sync, and the generation they were written up to.
  [[nodiscard]] std::vector<dirty_file> dirty_files(uint64_t& generation) const;
  /// The files of `paths` were synced by a job that began at `generation`: those not written
  /// since are clean. (A path closed and reopened meanwhile was synced at its eviction.)
  void mark_synced(const std::vector<std::string>& paths, uint64_t generation);
  /// Syncs and cleans one handle now, if it is open and dirty (queue_index::sync).
  [[nodiscard]] errc sync(const std::string& path);

  /// True after a failed eviction sync. Sticky.
  [[nodiscard]] bool failed() const noexcept {
    return failed_;
  }
  [[nodiscard]] size_t capacity() const noexcept {
    return capacity_;
  }
  [[nodiscard]] size_t open_count() const noexcept {
    return map_.size();
  }
  /// Handles closed to make room, and how many of them needed a sync first.
  [[nodiscard]] uint64_t evictions() const noexcept {
    return evictions_;
  }
  [[nodiscard]] uint64_t eviction_syncs() const noexcept {
    return eviction_syncs_;
  }

private:
  struct entry {
    std::string path;
    std::shared_ptr<file> f;
    uint64_t written = 0; ///< generation of the last write not yet synced; 0 = clean
  };
  using lru_list = std::list<entry>; // most recently used first

  [[nodiscard]] errc make_room();

  file_system& fs_;
  size_t capacity_;
  lru_list lru_;
  std::unordered_map<std::string, lru_list::iterator> map_;
  uint64_t generation_ = 0;
  uint64_t evictions_ = 0;
  uint64_t eviction_syncs_ = 0;
  bool failed_ = false;
};

} // namespace holdfast
