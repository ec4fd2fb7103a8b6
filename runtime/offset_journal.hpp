#pragma once

#include "runtime/errc.hpp"
#include "runtime/file.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace holdfast {

/// An append-only file of checksummed records (LevelDB's log, without blocks): the consumer
/// offsets' write-ahead journal. It knows nothing of what a payload means; offset_store encodes
/// and applies them. docs/storage-format.md, "Consumer offsets", is the reference.
///
///   file   = 8-byte magic "HFOJRN01", then records
///   record = u32 masked CRC-32C of bytes [4, length) | u32 length of the whole record |
///            u8 type (1) | payload
///
/// Recovery replays records from the start to the first one that is incomplete, zero,
/// impossibly long or fails its CRC, and cuts the file there: that is a write torn by a crash,
/// which no caller was told had succeeded (a record counts only after sync() returned ok).
///
/// A failed sync is sticky (fsyncgate): Linux may drop the pages it covered and report the
/// next fsync as a success, so every later append, sync and reset returns
/// errc::sticky_failure until a restart reads what the disk holds. A failed append (a full
/// disk) is cut back off, so the next record starts where a reader expects it; only if that
/// cut fails too does the journal become sticky.
///
/// Threading: none. One owner calls everything (the offset service's thread).
class offset_journal {
public:
  /// What recovery found.
  struct replay_report {
    uint64_t records = 0;       ///< intact records handed to `apply`
    uint64_t dropped_bytes = 0; ///< the torn tail cut off
    std::string_view why;       ///< why the tail was cut ("" when nothing was)
  };

  static constexpr std::string_view magic = "HFOJRN01";
  static constexpr size_t header_size = 8;       ///< the magic
  static constexpr size_t record_header_size = 9; ///< crc, length, type
  /// Largest record accepted; a length above is garbage. 64 MiB is about 200k entries of
  /// maximal names, far above one commit batch (a consumer commits its own queues).
  static constexpr uint32_t max_record_size = 64u << 20;

  /// Opens `path`, creating it (durably: the file and its directory entry are synced) when it
  /// is missing or shorter than its magic. Calls `apply` with each intact record's payload in
  /// file order; `apply` returns false for a payload it cannot decode, which is treated like a
  /// bad CRC (the tail from there is cut). A file with another magic gives errc::corrupt and
  /// is left alone for the caller to move aside.
  [[nodiscard]] static errc open(file_system& fs, std::string path,
                                 const std::function<bool(std::string_view)>& apply,
                                 std::unique_ptr<offset_journal>& out, replay_report& report);

  offset_journal(const offset_journal&) = delete;
  offset_journal& operator=(const offset_journal&) = delete;

  /// Writes one record (not yet durable). Payloads above max_record_size - record_header_size
  /// give errc::too_large with nothing written.
  [[nodiscard]] errc append(std::string_view payload);
  /// Makes every appended record durable (fdatasync).
  [[nodiscard]] errc sync();
  /// Drops every record (the caller made them durable elsewhere: a snapshot) and syncs.
  [[nodiscard]] errc reset();

  /// Bytes in the file, magic included.
  [[nodiscard]] uint64_t size() const noexcept {
    return end_;
  }
  /// Bytes appended since the last successful sync.
  [[nodiscard]] bool dirty() const noexcept {
    return synced_ != end_;
  }
  /// True after a failed sync (or a failed cut after a failed append).
  [[nodiscard]] bool failed() const noexcept {
    return failed_;
  }

private:
  offset_journal(std::unique_ptr<file> f, std::string path);

  std::unique_ptr<file> file_;
  std::string path_;
  uint64_t end_ = 0;    // where the next record goes
  uint64_t synced_ = 0; // bytes below are durable
  bool failed_ = false;
};

} // namespace holdfast
