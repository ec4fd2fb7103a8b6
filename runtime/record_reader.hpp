#pragma once

#include "runtime/errc.hpp"
#include "runtime/file.hpp"
#include "runtime/record.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace holdfast {

/// Walks the whole records of one commit-log segment from a record boundary, reading the file in
/// chunks, and says where and why it stopped (LevelDB's log::Reader and its Reporter, as values).
/// The one record walk of the broker: recovery's scan, the producer-state replay and a slave's
/// raw reads differ only in what they do with each record and how they treat the stop.
///
/// Positions are commit-log offsets: the file holds the bytes from `base` on. A chunk that ends
/// inside a record is read again from that record's start (at least the whole record). A record
/// whose length field announces more bytes than are left before `end` is judged on what is
/// there (torn), without reading up to `end` first.
///
/// Lifecycle: one walk; the views next() returns point into the reader's buffer and stay valid
/// until the next call. The reader shares ownership of the file, so a segment the log drops
/// meanwhile stays open until the reader is gone. Not thread-safe; the file may be appended to
/// by another thread (only bytes below `end` are read).
class record_reader {
public:
  /// Why next() returned false.
  enum class stop_reason : uint8_t {
    none,       ///< it has not: call next()
    end,        ///< every record up to `end` was returned; position() == end
    budget,     ///< the record at position() would take the walk past `max_bytes`
    bad_record, ///< the bytes at position() are no valid record; status() says why
    read_error, ///< reading at position() failed or came back short; error() says how
  };

  struct options {
    /// Bytes per read (a record larger than this is read whole).
    size_t chunk = 1 << 20;
    /// A record whose commit-log offset field is not its position is bad (decode_status::
    /// bad_length): it was copied from elsewhere.
    bool check_offsets = true;
    /// Stop before a record that would end more than this many bytes past the start; the first
    /// record is always returned. Reads never go past that except to finish the first record.
    uint64_t max_bytes = UINT64_MAX;
  };

  /// Reads `f`, whose first byte has commit-log offset `base`, from `from` (a record boundary)
  /// up to `end`.
  record_reader(std::shared_ptr<const file> f, uint64_t base, uint64_t from, uint64_t end,
                options opts);

  /// A reader that has already stopped at `at` with read_error `e` (e.g. errc::out_of_range:
  /// no segment holds `at`).
  [[nodiscard]] static record_reader failed(uint64_t at, errc e);

  /// The next record, or false once stopped (then see reason()).
  [[nodiscard]] bool next(record::view& out);

  /// Where the next record starts; after a stop, where the reader stopped.
  [[nodiscard]] uint64_t position() const noexcept {
    return pos_;
  }

  [[nodiscard]] stop_reason reason() const noexcept {
    return reason_;
  }

  /// For bad_record: what the decoder found at position().
  [[nodiscard]] record::decode_status status() const noexcept {
    return status_;
  }

  /// For read_error: the read's error (errc::corrupt for a short read).
  [[nodiscard]] errc error() const noexcept {
    return error_;
  }

  /// The bytes of the record next() returned last, valid as long as its view.
  [[nodiscard]] std::span<const char> record_bytes() const noexcept {
    return {buf_.data() + (last_ - buf_pos_), last_len_};
  }

private:
  record_reader() = default;
  bool stop(stop_reason why) noexcept {
    reason_ = why;
    return false;
  }
  /// Reads from pos_ on, at least `need` bytes; false (stopped) when that fails.
  bool refill(uint64_t need);

  std::shared_ptr<const file> f_;
  uint64_t base_ = 0;
  uint64_t from_ = 0;
  uint64_t end_ = 0;
  options opts_;
  uint64_t pos_ = 0;
  std::string buf_;       // file bytes from commit-log offset buf_pos_ on
  uint64_t buf_pos_ = 0;
  uint64_t last_ = 0;     // the last record returned
  size_t last_len_ = 0;
  stop_reason reason_ = stop_reason::none;
  record::decode_status status_ = record::decode_status::ok;
  errc error_ = errc::ok;
};

[[nodiscard]] std::string_view to_string(record_reader::stop_reason x) noexcept;

} // namespace holdfast
