#include "runtime/record.hpp"

#include "runtime/crc32c.hpp"

#include <bit>
#include <cstring>

namespace holdfast::record {

namespace {

template <class T>
void put(char* p, T x) noexcept {
  static_assert(std::endian::native == std::endian::little, "little-endian host assumed");
  std::memcpy(p, &x, sizeof(T));
}

template <class T>
T get(const char* p) noexcept {
  T x;
  std::memcpy(&x, p, sizeof(T));
  return x;
}

size_t properties_size(const message& msg) noexcept {
  size_t n = 0;
  for (auto& [k, v] : msg.properties)
    n += 2 + k.size() + 4 + v.size();
  return n;
}

} // namespace

std::string_view to_string(decode_status x) noexcept {
  switch (x) {
    case decode_status::ok: return "ok";
    case decode_status::torn: return "torn record";
    case decode_status::zero_tail: return "zero-filled tail";
    case decode_status::bad_length: return "bad length";
    case decode_status::bad_crc: return "bad crc";
    case decode_status::bad_type: return "bad type";
  }
  return "?";
}

size_t encoded_size(const message& msg) noexcept {
  return header_size + msg.topic.size() + msg.msg_id.size() + properties_size(msg)
         + msg.body.size();
}

void encode(const message& msg, const fields& f, std::string& out) {
  auto start = out.size();
  auto props = properties_size(msg);
  auto total = encoded_size(msg);
  out.resize(start + total);
  char* p = out.data() + start;
  put<uint32_t>(p + 4, static_cast<uint32_t>(total));
  put<uint8_t>(p + 8, static_cast<uint8_t>(record_type::message));
  put<uint8_t>(p + 9, format_version);
  put<uint16_t>(p + 10, static_cast<uint16_t>(f.queue_id));
  put<uint32_t>(p + 12, f.flags);
  put<uint64_t>(p + 16, f.commit_log_offset);
  put<uint64_t>(p + 24, f.queue_offset);
  put<int64_t>(p + 32, f.store_timestamp_ms);
  put<uint64_t>(p + 40, f.producer_id);
  put<uint64_t>(p + 48, f.sequence);
  put<uint16_t>(p + 56, static_cast<uint16_t>(msg.topic.size()));
  put<uint16_t>(p + 58, static_cast<uint16_t>(msg.msg_id.size()));
  put<uint32_t>(p + 60, static_cast<uint32_t>(props));
  put<uint32_t>(p + 64, static_cast<uint32_t>(msg.body.size()));
  char* q = p + header_size;
  std::memcpy(q, msg.topic.data(), msg.topic.size());
  q += msg.topic.size();
  std::memcpy(q, msg.msg_id.data(), msg.msg_id.size());
  q += msg.msg_id.size();
  for (auto& [k, v] : msg.properties) {
    put<uint16_t>(q, static_cast<uint16_t>(k.size()));
    std::memcpy(q + 2, k.data(), k.size());
    q += 2 + k.size();
    put<uint32_t>(q, static_cast<uint32_t>(v.size()));
    std::memcpy(q + 4, v.data(), v.size());
    q += 4 + v.size();
  }
  if (!msg.body.empty())
    std::memcpy(q, msg.body.data(), msg.body.size());
  put<uint32_t>(p, crc32c::mask(crc32c::value(p + 4, total - 4)));
}

uint32_t peek_length(std::span<const char> data) noexcept {
  if (data.size() < 8)
    return 0;
  return get<uint32_t>(data.data() + 4);
}

namespace {

// Repeated (u16 key length, key, u32 value length, value) filling `props` exactly.
bool properties_well_formed(const char* q, const char* end) noexcept {
  while (q < end) {
    if (end - q < 2)
      return false;
    auto klen = get<uint16_t>(q);
    q += 2;
    if (static_cast<size_t>(end - q) < klen + 4u)
      return false;
    q += klen;
    auto vlen = get<uint32_t>(q);
    q += 4;
    if (static_cast<size_t>(end - q) < vlen)
      return false;
    q += vlen;
  }
  return true;
}

} // namespace

decode_status decode(std::span<const char> data, view& out) noexcept {
  const char* p = data.data();
  if (data.size() < 8) {
    for (char c : data)
      if (c != 0)
        return decode_status::torn;
    return data.empty() ? decode_status::torn : decode_status::zero_tail;
  }
  auto stored_crc = get<uint32_t>(p);
  auto length = get<uint32_t>(p + 4);
  if (stored_crc == 0 && length == 0)
    return decode_status::zero_tail;
  if (length < header_size || length > max_record_size)
    return decode_status::bad_length;
  if (data.size() < header_size || data.size() < length)
    return decode_status::torn;
  auto type = get<uint8_t>(p + 8);
  auto version = get<uint8_t>(p + 9);
  uint64_t topic_len = get<uint16_t>(p + 56);
  uint64_t id_len = get<uint16_t>(p + 58);
  uint64_t props_len = get<uint32_t>(p + 60);
  uint64_t body_len = get<uint32_t>(p + 64);
  if (header_size + topic_len + id_len + props_len + body_len != length)
    return decode_status::bad_length;
  if (crc32c::unmask(stored_crc) != crc32c::value(p + 4, length - 4))
    return decode_status::bad_crc;
  if (type != static_cast<uint8_t>(record_type::message) || version != format_version)
    return decode_status::bad_type;
  out.type = static_cast<record_type>(type);
  out.length = length;
  out.f.queue_id = get<uint16_t>(p + 10);
  out.f.flags = get<uint32_t>(p + 12);
  out.f.commit_log_offset = get<uint64_t>(p + 16);
  out.f.queue_offset = get<uint64_t>(p + 24);
  out.f.store_timestamp_ms = get<int64_t>(p + 32);
  out.f.producer_id = get<uint64_t>(p + 40);
  out.f.sequence = get<uint64_t>(p + 48);
  const char* q = p + header_size;
  out.topic = {q, topic_len};
  q += topic_len;
  out.msg_id = {q, id_len};
  q += id_len;
  out.properties = {q, props_len};
  // A record with a matching crc whose properties do not frame would be kept by recovery and
  // indexed, and then every read of its queue would fail ("corrupt"): such a record is bad
  // like one with a wrong length, wherever it is decoded.
  if (!properties_well_formed(q, q + props_len))
    return decode_status::bad_length;
  q += props_len;
  out.body = {q, body_len};
  return decode_status::ok;
}

bool to_stored_message(const view& v, stored_message& out) {
  out.topic.assign(v.topic);
  out.queue_id = v.f.queue_id;
  out.queue_offset = v.f.queue_offset;
  out.commit_log_offset = v.f.commit_log_offset;
  out.store_timestamp_ms = v.f.store_timestamp_ms;
  out.msg_id.assign(v.msg_id);
  out.properties.clear();
  const char* q = v.properties.data();
  const char* end = q + v.properties.size();
  while (q < end) {
    if (end - q < 2)
      return false;
    auto klen = get<uint16_t>(q);
    q += 2;
    if (static_cast<size_t>(end - q) < klen + 4u)
      return false;
    std::string key(q, klen);
    q += klen;
    auto vlen = get<uint32_t>(q);
    q += 4;
    if (static_cast<size_t>(end - q) < vlen)
      return false;
    out.properties.emplace(std::move(key), std::string(q, vlen));
    q += vlen;
  }
  out.body.assign(v.body.begin(), v.body.end());
  return true;
}

} // namespace holdfast::record
