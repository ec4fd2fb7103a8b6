#pragma once

#include "runtime/file.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>

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
/// Also: fail the Nth sync, delay every sync, count syncs. Thread-safe.
/// Simplification, documented in docs/storage-format.md: renames count as durable at once;
/// a file created since its directory was last synced vanishes on power cut.
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

  /// Simulates a power cut now: unsynced bytes are dropped, torn or zeroed per `mode`.
  void power_cut(tear_mode mode);
  /// The `n`th sync() from now on (1 = the next one) fails with errc::io_error.
  void fail_nth_sync(uint64_t n);
  /// A full disk: while set, every append or write_at that would grow a file writes only half
  /// of its bytes (a real ENOSPC may leave a partial write) and fails with errc::no_space.
  /// Overwrites inside a file and truncations still work, as on a real full file system.
  void set_disk_full(bool full);
  /// Every sync() sleeps this long before doing the real work (a slow or stalled disk).
  void set_sync_delay(std::chrono::milliseconds d);
  /// Number of successful file syncs so far.
  [[nodiscard]] uint64_t sync_count() const;
  [[nodiscard]] bool powered_off() const;

  /// Per-file bookkeeping, shared with the open files. Internal, but files need it.
  struct file_state {
    std::string path;
    uint64_t synced = 0;
    bool dir_entry_synced = true;
  };

private:
  friend class fault_file;
  errc check_alive() const;
  errc before_sync(std::chrono::milliseconds& delay);
  errc after_sync(file_state& st, uint64_t captured);
  std::shared_ptr<file_state> state_for(const std::string& path, bool created);

  file_system& base_;
  mutable std::mutex mtx_;
  std::map<std::string, std::shared_ptr<file_state>> files_;
  std::mt19937_64 rng_;
  bool dead_ = false;
  uint64_t syncs_ = 0;
  uint64_t sync_calls_ = 0;
  uint64_t fail_at_call_ = 0;
  std::chrono::milliseconds delay_{0};
  bool full_ = false;
};

} // namespace holdfast
