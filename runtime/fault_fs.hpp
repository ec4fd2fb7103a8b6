#pragma once

#include "runtime/file.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

namespace holdfast {

/// How a simulated power cut treats the bytes written but not yet synced.
enum class tear_mode : uint8_t {
  drop,          ///< every unsynced byte is gone
  random_prefix, ///< a random prefix of the unsynced bytes survived (a torn last write)
  zero_fill,     ///< the file keeps its length but the unsynced bytes read as zeros
};

/// A file system over the real one (real files in a real directory) that remembers, per file,
/// how much was made durable by sync(). `power_cut()` then rewrites every file as a machine that
/// lost power would leave it, after which every operation fails with errc::closed until the
/// caller opens the directory again with a fresh file system. Modeled on RocksDB's
/// FaultInjectionTestFS.
///
/// A failed sync behaves like Linux's (fsyncgate): the pages that were dirty when it failed are
/// marked clean without reaching the disk, so no later successful sync writes them. fault_fs
/// remembers those byte ranges per file ("lost" ranges) until they are written again; on a power
/// cut they do not hold what was written (see power_cut()). Likewise a failed sync_dir: the
/// files created in that directory since its last good sync stay non-durable for good (they
/// vanish on a power cut) unless a rename gives them a new entry.
///
/// Also: fail the Nth sync or directory sync, delay every sync, run a hook while a directory
/// sync is under way, count syncs. Thread-safe.
/// Simplifications, documented in docs/storage-format.md: renames and truncations count as
/// durable at once; a file created since its directory was last synced vanishes on power cut;
/// a lost byte reads as zero (or is cut off at the end of the file), where a real disk would
/// show whatever it held before.
class fault_fs final : public file_system {
public:
  explicit fault_fs(uint64_t seed, file_system& base = posix_fs());
  ~fault_fs() override;

  errc open(const std::string& path, open_mode mode, std::unique_ptr<file>& out) override;
  errc rename(const std::string& from, const std::string& to) override;
  errc remove(const std::string& path) override;
  errc create_dirs(const std::string& path) override;
  errc sync_dir(const std::string& path) override;
  errc list(const std::string& path, std::vector<std::string>& out) override;
  bool exists(const std::string& path) override;

  /// Simulates a power cut now: unsynced bytes are dropped, torn or zeroed per `mode`. Bytes a
  /// failed sync covered (and nothing rewrote since) are lost even if a later sync succeeded:
  /// `drop` cuts them off at the end of a file and zeroes them elsewhere (a later sync made the
  /// length durable), `random_prefix` keeps a random prefix of each such range (the failed
  /// write-back got that far) and treats the rest like `drop`, `zero_fill` zeroes them.
  void power_cut(tear_mode mode);
  /// The `n`th sync() from now on (1 = the next one) fails with errc::io_error.
  void fail_nth_sync(uint64_t n);
  /// The `n`th sync_dir() from now on (1 = the next one) fails with errc::io_error.
  void fail_nth_dir_sync(uint64_t n);
  /// Called (outside every lock, on the syncing thread) by each sync_dir() after it decided
  /// which entries it covers and before it syncs: what the hook creates is not covered. Lets a
  /// test create a file "while" a directory sync runs. Empty = none.
  void set_dir_sync_hook(std::function<void(const std::string& dir)> hook);
  /// A full disk: while set, every append or write_at that would grow a file writes only half
  /// of its bytes (a real ENOSPC may leave a partial write) and fails with errc::no_space.
  /// Overwrites inside a file and truncations still work, as on a real full file system.
  void set_disk_full(bool full);
  /// Every sync() sleeps this long before doing the real work (a slow or stalled disk).
  void set_sync_delay(std::chrono::milliseconds d);
  /// Number of successful file syncs so far.
  [[nodiscard]] uint64_t sync_count() const;
  [[nodiscard]] bool powered_off() const;

  /// A byte range [begin, end).
  struct range {
    uint64_t begin = 0;
    uint64_t end = 0;
  };

  /// Per-file bookkeeping, shared with the open files. Internal, but files need it.
  struct file_state {
    std::string path;
    uint64_t synced = 0;            ///< bytes below are durable, except those in `lost`
    std::vector<range> lost;        ///< covered by a failed sync, not rewritten since; sorted
    bool dir_entry_synced = true;
    bool dir_entry_lost = false;    ///< created before a failed sync_dir: never durable
    /// Writes made while a sync of this file runs: that sync neither makes them durable nor,
    /// when it fails, loses them. Cleared when no sync runs.
    std::vector<range> written_during_sync;
    int syncs_running = 0;
  };

private:
  friend class fault_file;
  errc check_alive() const;
  void note_write(file_state& st, uint64_t pos, uint64_t len);
  std::shared_ptr<file_state> state_for(const std::string& path, bool created);

  file_system& base_;
  mutable std::mutex mtx_;
  std::map<std::string, std::shared_ptr<file_state>> files_;
  std::mt19937_64 rng_;
  bool dead_ = false;
  uint64_t syncs_ = 0;
  uint64_t sync_calls_ = 0;
  uint64_t fail_at_call_ = 0;
  uint64_t dir_sync_calls_ = 0;
  uint64_t fail_at_dir_call_ = 0;
  std::function<void(const std::string&)> dir_sync_hook_;
  std::chrono::milliseconds delay_{0};
  bool full_ = false;
};

} // namespace holdfast
