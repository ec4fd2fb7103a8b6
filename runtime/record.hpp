#pragma once

#include "runtime/message.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace holdfast::record {

// The on-disk record; docs/storage-format.md is the reference. All integers little-endian.
//
//   0  u32 masked crc32c of bytes [4, length)
//   4  u32 length of the whole record, header included
//   8  u8  type (record_type)
//   9  u8  format version (1)
//  10  u16 queue id
//  12  u32 flags (flag_broker_queue; other bits 0)
//  16  u64 commit-log offset of this record
//  24  u64 queue offset
//  32  i64 store timestamp, ms since the epoch
//  40  u64 producer id (0: none; set by idempotent producers)
//  48  u64 producer sequence number
//  56  u16 topic length      58 u16 msg id length
//  60  u32 properties length 64 u32 body length
//  68  topic | msg id | properties | body
// Properties: repeated (u16 key length, key, u32 value length, value).

constexpr size_t header_size = 68;
constexpr uint8_t format_version = 1;

/// Record types. Zero is never written, so a zero-filled tail is recognisable.
enum class record_type : uint8_t {
  message = 1,
};

/// What the decoder found at a position.
enum class decode_status : uint8_t {
  ok,
  torn,        ///< fewer bytes than the header or the length announce: a torn last write
  zero_tail,   ///< zeros where a record should start: space the file system extended, unwritten
  bad_length,  ///< the length field is impossible or disagrees with the field lengths, or
               ///< the properties do not frame
  bad_crc,     ///< the checksum does not match
  bad_type,    ///< an unknown type or version
};

[[nodiscard]] std::string_view to_string(decode_status x) noexcept;

/// Flag: the producer let the broker choose the queue, so the record's idempotence stream is
/// (producer id, topic, -1) rather than (producer id, topic, queue id).
constexpr uint32_t flag_broker_queue = 1;

/// Everything a record holds besides its framing.
struct fields {
  int32_t queue_id = 0;
  uint32_t flags = 0;
  uint64_t commit_log_offset = 0;
  uint64_t queue_offset = 0;
  int64_t store_timestamp_ms = 0;
  uint64_t producer_id = 0;
  uint64_t sequence = 0;
};

/// Encoded size of a message record.
[[nodiscard]] size_t encoded_size(const message& msg) noexcept;

/// Appends the encoding of `msg` with `f` to `out`.
void encode(const message& msg, const fields& f, std::string& out);

/// Largest record the decoder accepts; beyond this a length field is taken as garbage.
constexpr uint32_t max_record_size = (1u << 30) + (1u << 20);

/// The framing of a record that passed its checks, pointing into the decoded buffer.
struct view {
  record_type type;
  uint32_t length;
  fields f;
  std::string_view topic;
  std::string_view msg_id;
  std::string_view properties;
  std::string_view body;
};

/// Checks and decodes the record at the start of `data`. `data` may hold more records after.
[[nodiscard]] decode_status decode(std::span<const char> data, view& out) noexcept;

/// Reads just the length field of a record header (first 8 bytes), for readers that fetch the
/// header first and then the rest. Returns 0 when fewer than 8 bytes are given.
[[nodiscard]] uint32_t peek_length(std::span<const char> data) noexcept;

/// Turns a decoded view into an owned stored_message. Returns false if the properties are
/// malformed (cannot happen for a record whose crc matched and that we wrote).
[[nodiscard]] bool to_stored_message(const view& v, stored_message& out);

} // namespace holdfast::record
