#include "runtime/producer_table.hpp"

#include "runtime/crc32c.hpp"

#include <algorithm>
#include <cstring>

namespace holdfast {

namespace {

// Snapshot layout (little-endian): u64 magic, u64 covered offset, u32 stream count, streams,
// u32 masked crc32c of everything before it. A stream: u64 producer id, u16 topic length,
// topic, i32 queue, u64 next sequence, i64 last store time, u32 entry count, entries of
// u64 sequence, u64 queue offset, u64 commit-log offset, u32 length, i32 queue id.
constexpr uint64_t snapshot_magic = 0x3150534455464c48ull; // "HLFUDSP1"
constexpr size_t entry_size = 32;

template <class T>
void put(std::string& out, T x) {
  char buf[sizeof(T)];
  std::memcpy(buf, &x, sizeof(T));
  out.append(buf, sizeof(T));
}

struct reader {
  std::string_view in;
  size_t pos = 0;
  template <class T>
  bool get(T& x) {
    if (in.size() - pos < sizeof(T))
      return false;
    std::memcpy(&x, in.data() + pos, sizeof(T));
    pos += sizeof(T);
    return true;
  }
};

} // namespace

uint64_t producer_table::next_sequence(const stream_key& key) const {
  auto i = streams_.find(key);
  return i == streams_.end() ? 0 : i->second.next;
}

std::optional<sequenced_entry> producer_table::find(const stream_key& key,
                                                    uint64_t sequence) const {
  auto i = streams_.find(key);
  if (i == streams_.end())
    return std::nullopt;
  auto& s = i->second;
  if (sequence >= s.next || s.next - sequence > s.entries.size())
    return std::nullopt;
  return s.entries[s.entries.size() - (s.next - sequence)];
}

void producer_table::apply(const stream_key& key, const sequenced_entry& e, int64_t timestamp_ms) {
  auto& s = streams_[key];
  if (e.sequence != s.next || s.entries.empty())
    s.entries.clear();
  s.entries.push_back(e);
  while (s.entries.size() > window_)
    s.entries.pop_front();
  s.next = e.sequence + 1;
  s.last_ms = std::max(s.last_ms, timestamp_ms);
}

void producer_table::truncate(uint64_t offset) {
  for (auto i = streams_.begin(); i != streams_.end();) {
    auto& s = i->second;
    // Entries are in log order: the ones to drop are a suffix.
    auto cut = std::find_if(s.entries.begin(), s.entries.end(), [&](const sequenced_entry& e) {
      return e.commit_log_offset >= offset;
    });
    if (cut != s.entries.end()) {
      s.next = cut->sequence;
      s.entries.erase(cut, s.entries.end());
    }
    if (s.entries.empty() && s.next == 0)
      i = streams_.erase(i);
    else
      ++i;
  }
}

uint64_t producer_table::max_producer_id() const noexcept {
  uint64_t m = 0;
  for (auto& [k, s] : streams_)
    m = std::max(m, k.producer_id);
  return m;
}

int64_t producer_table::newest_ms() const noexcept {
  int64_t m = 0;
  for (auto& [k, s] : streams_)
    m = std::max(m, s.last_ms);
  return m;
}

size_t producer_table::expire(int64_t now_ms, int64_t expiry_ms) {
  return std::erase_if(streams_,
                       [&](const auto& kv) { return now_ms - kv.second.last_ms > expiry_ms; });
}

std::string producer_table::encode(uint64_t covered, int64_t now_ms, int64_t expiry_ms) const {
  std::string out;
  put(out, snapshot_magic);
  put(out, covered);
  auto count_at = out.size();
  put<uint32_t>(out, 0);
  uint32_t count = 0;
  for (auto& [k, s] : streams_) {
    if (now_ms - s.last_ms > expiry_ms)
      continue;
    auto keep = std::find_if(s.entries.begin(), s.entries.end(), [&](const sequenced_entry& e) {
      return e.commit_log_offset + e.length > covered;
    });
    uint64_t next = keep == s.entries.end() ? s.next : keep->sequence;
    auto n = static_cast<uint32_t>(keep - s.entries.begin());
    if (n == 0 && next == 0)
      continue;
    put(out, k.producer_id);
    put<uint16_t>(out, static_cast<uint16_t>(k.topic.size()));
    out += k.topic;
    put(out, k.queue);
    put(out, next);
    put(out, s.last_ms);
    put(out, n);
    for (auto e = s.entries.begin(); e != keep; ++e) {
      put(out, e->sequence);
      put(out, e->queue_offset);
      put(out, e->commit_log_offset);
      put(out, e->length);
      put(out, e->queue_id);
    }
    ++count;
  }
  std::memcpy(out.data() + count_at, &count, sizeof(count));
  put<uint32_t>(out, crc32c::mask(crc32c::value(out.data(), out.size())));
  return out;
}

errc producer_table::decode(std::string_view bytes, uint64_t& covered) {
  if (bytes.size() < 24)
    return errc::corrupt;
  uint32_t stored_crc;
  std::memcpy(&stored_crc, bytes.data() + bytes.size() - 4, 4);
  if (crc32c::unmask(stored_crc) != crc32c::value(bytes.data(), bytes.size() - 4))
    return errc::corrupt;
  reader r{bytes.substr(0, bytes.size() - 4)};
  uint64_t magic = 0, cov = 0;
  uint32_t count = 0;
  if (!r.get(magic) || magic != snapshot_magic || !r.get(cov) || !r.get(count))
    return errc::corrupt;
  std::map<stream_key, stream> streams;
  for (uint32_t i = 0; i < count; ++i) {
    stream_key k;
    uint16_t topic_len = 0;
    if (!r.get(k.producer_id) || !r.get(topic_len) || r.in.size() - r.pos < topic_len)
      return errc::corrupt;
    k.topic.assign(r.in.substr(r.pos, topic_len));
    r.pos += topic_len;
    stream s;
    uint32_t n = 0;
    if (!r.get(k.queue) || !r.get(s.next) || !r.get(s.last_ms) || !r.get(n)
        || (r.in.size() - r.pos) / entry_size < n || n > s.next)
      return errc::corrupt;
    for (uint32_t j = 0; j < n; ++j) {
      sequenced_entry e;
      if (!r.get(e.sequence) || !r.get(e.queue_offset) || !r.get(e.commit_log_offset)
          || !r.get(e.length) || !r.get(e.queue_id))
        return errc::corrupt;
      // The window holds consecutive sequence numbers ending at next - 1.
      if (e.sequence != s.next - n + j)
        return errc::corrupt;
      s.entries.push_back(e);
    }
    while (s.entries.size() > window_)
      s.entries.pop_front();
    streams.emplace(std::move(k), std::move(s));
  }
  if (r.pos != r.in.size())
    return errc::corrupt;
  streams_ = std::move(streams);
  covered = cov;
  return errc::ok;
}

} // namespace holdfast
