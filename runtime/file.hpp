#pragma once

#include "runtime/errc.hpp"

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace holdfast {

/// An open file. All storage I/O goes through this interface so tests can put a
/// fault-injecting implementation underneath the real one (LevelDB's WritableFile, RocksDB's
/// FaultInjectionTestFS).
///
/// Threading: one writer thread may call append/write_at/truncate while one other thread calls
/// sync and any thread calls read_at; implementations must allow that combination.
class file {
public:
  virtual ~file() = default;

  /// Appends at the current end.
  [[nodiscard]] virtual errc append(std::span<const char> data) = 0;
  /// Writes at an absolute position (may extend the file).
  [[nodiscard]] virtual errc write_at(uint64_t pos, std::span<const char> data) = 0;
  /// Reads up to out.size() bytes at pos; `n` receives the count (short at end of file).
  [[nodiscard]] virtual errc read_at(uint64_t pos, std::span<char> out, size_t& n) const = 0;
  /// Pushes user-space buffers to the OS. Our POSIX files have none, so this is cheap.
  [[nodiscard]] virtual errc flush() = 0;
  /// Makes every byte written so far durable (fdatasync).
  [[nodiscard]] virtual errc sync() = 0;
  /// Cuts or extends the file to `size` bytes.
  [[nodiscard]] virtual errc truncate(uint64_t size) = 0;
  /// Current size in bytes, as seen by readers.
  [[nodiscard]] virtual uint64_t size() const = 0;
};

/// How to open a file.
enum class open_mode : uint8_t {
  read_only,       ///< must exist
  read_write,      ///< created when missing
};

/// The directory-level half of the interface.
class file_system {
public:
  virtual ~file_system() = default;

  [[nodiscard]] virtual errc open(const std::string& path, open_mode mode,
                                  std::unique_ptr<file>& out) = 0;
  [[nodiscard]] virtual errc rename(const std::string& from, const std::string& to) = 0;
  [[nodiscard]] virtual errc remove(const std::string& path) = 0;
  /// Creates the directory and its parents (like mkdir -p).
  [[nodiscard]] virtual errc create_dirs(const std::string& path) = 0;
  /// Makes the directory entries (file creations, renames) inside `path` durable.
  [[nodiscard]] virtual errc sync_dir(const std::string& path) = 0;
  /// Names (not paths) of the entries of a directory, sorted.
  [[nodiscard]] virtual errc list(const std::string& path, std::vector<std::string>& out) = 0;
  [[nodiscard]] virtual bool exists(const std::string& path) = 0;
};

/// The real thing: pwrite/pread/fdatasync on Linux.
file_system& posix_fs();

/// Writes `data` to `path` so that after a crash the file holds either the old or the new
/// content: write a temporary, sync it, rename over, sync the directory.
[[nodiscard]] errc write_file_atomically(file_system& fs, const std::string& path,
                                         std::span<const char> data);

/// The step of write_file_atomically that failed.
enum class atomic_write_step : uint8_t {
  none,     ///< it succeeded
  write,    ///< opening or writing the temporary (e.g. errc::no_space): `path` is untouched
  sync,     ///< the fsync of the temporary
  rename,   ///< the rename over `path`
  sync_dir, ///< the fsync of the directory after the rename: `path` may hold either content
};

/// True for the steps that are a failed fsync. After one the caller must refuse every later
/// write (errc::sticky_failure) until a restart: Linux may have dropped the dirty pages and
/// marked them clean, so no retry can tell what reached the disk (fsyncgate).
[[nodiscard]] constexpr bool is_fsync(atomic_write_step s) noexcept {
  return s == atomic_write_step::sync || s == atomic_write_step::sync_dir;
}

/// write_file_atomically that also says which step failed (`failed`; none on success).
[[nodiscard]] errc write_file_atomically(file_system& fs, const std::string& path,
                                         std::span<const char> data, atomic_write_step& failed);

/// Reads a whole (small) file.
[[nodiscard]] errc read_whole_file(file_system& fs, const std::string& path, std::string& out);

} // namespace holdfast
