// File format of <dir>/consumer_offsets (also in docs/storage-format.md, "Consumer offsets").
// All integers little-endian, written byte by byte so the format does not depend on the host.
//
//   offset  size  field
//   0       8     magic, the ASCII bytes "HFOFFS01" in this order (01 = format version)
//   8       4     u32 entry count
//   12      ...   entries, each:
//                   u16 group length, group bytes,
//                   u16 topic length, topic bytes,
//                   u16 queue id,
//                   u64 offset (the next queue offset the group will consume)
//   end-4   4     u32 masked CRC-32C (runtime/crc32c.hpp) of every byte before it
//
// Entries are sorted by (group, topic, queue id) and unique. The decoder refuses as corrupt:
// a file shorter than header + CRC, a wrong magic, a wrong CRC, a length that runs past the
// CRC, bytes left over after the announced entries, a name that fails valid_group_name /
// valid_topic_name, and a duplicate entry. It never trusts the count to size an allocation.
//
// The whole file is rewritten by every commit (write_file_atomically), so a reader sees the
// old or the new content, never a mix, and no recovery scan is needed. That costs O(entries)
// bytes per commit: a few hundred KB for thousands of (group, topic, queue) entries, which is
// small next to the fsync every commit pays anyway. RocketMQ instead persists every 5 s and
// loses up to 5 s of commits on a crash; we promise that an acknowledged commit survives.

#include "runtime/offset_store.hpp"

#include "runtime/crc32c.hpp"
#include "runtime/log.hpp"
#include "runtime/message.hpp"

#include <filesystem>
#include <utility>

namespace holdfast {

namespace {

constexpr std::string_view file_name = "consumer_offsets";
constexpr std::string_view magic = "HFOFFS01";
constexpr size_t header_size = 12;  // magic + u32 count
constexpr size_t trailer_size = 4;  // u32 masked crc
constexpr int32_t max_queue_id = 65535; // stored as u16; RocketMQ queue counts are far below

// offset_store's map, spelled out because its alias is private.
using offsets_by_key = std::map<std::tuple<std::string, std::string, int32_t>, uint64_t>;

void put_u16(std::string& out, uint16_t x) {
  out.push_back(static_cast<char>(x & 0xff));
  out.push_back(static_cast<char>(x >> 8));
}

void put_u32(std::string& out, uint32_t x) {
  for (int i = 0; i < 4; ++i)
    out.push_back(static_cast<char>((x >> (8 * i)) & 0xff));
}

void put_u64(std::string& out, uint64_t x) {
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<char>((x >> (8 * i)) & 0xff));
}

/// Reads little-endian integers and strings from a byte range, refusing to run past its end.
class reader {
public:
  reader(const char* data, size_t size) : data_(data), size_(size) {
  }

  [[nodiscard]] bool u16(uint16_t& x) {
    uint64_t v = 0;
    if (!uint(2, v))
      return false;
    x = static_cast<uint16_t>(v);
    return true;
  }

  [[nodiscard]] bool u32(uint32_t& x) {
    uint64_t v = 0;
    if (!uint(4, v))
      return false;
    x = static_cast<uint32_t>(v);
    return true;
  }

  [[nodiscard]] bool u64(uint64_t& x) {
    return uint(8, x);
  }

  [[nodiscard]] bool bytes(size_t n, std::string& out) {
    if (n > size_ - pos_)
      return false;
    out.assign(data_ + pos_, n);
    pos_ += n;
    return true;
  }

  [[nodiscard]] bool at_end() const noexcept {
    return pos_ == size_;
  }

private:
  [[nodiscard]] bool uint(size_t n, uint64_t& x) {
    if (n > size_ - pos_)
      return false;
    x = 0;
    for (size_t i = 0; i < n; ++i)
      x |= uint64_t{static_cast<unsigned char>(data_[pos_ + i])} << (8 * i);
    pos_ += n;
    return true;
  }

  const char* data_;
  size_t size_;
  size_t pos_ = 0;
};

bool valid_queue_id(int32_t queue_id) noexcept {
  return queue_id >= 0 && queue_id <= max_queue_id;
}

bool valid_entry(const std::string& group, const std::string& topic, int32_t queue_id) {
  return valid_group_name(group) && valid_topic_name(topic) && valid_queue_id(queue_id);
}

/// Parses a whole file; on failure `why` says what was wrong (for the log).
bool decode(const std::string& in, offsets_by_key& out, std::string_view& why) {
  out.clear();
  if (in.size() < header_size + trailer_size) {
    why = "shorter than header and checksum";
    return false;
  }
  if (std::string_view(in.data(), magic.size()) != magic) {
    why = "bad magic";
    return false;
  }
  auto body = in.size() - trailer_size;
  reader crc_reader(in.data() + body, trailer_size);
  uint32_t stored_crc = 0;
  (void) crc_reader.u32(stored_crc);
  if (crc32c::unmask(stored_crc) != crc32c::value(in.data(), body)) {
    why = "bad checksum";
    return false;
  }
  reader r(in.data() + magic.size(), body - magic.size());
  uint32_t count = 0;
  (void) r.u32(count); // the size check above guarantees the header is there
  for (uint32_t i = 0; i < count; ++i) {
    uint16_t group_len = 0;
    uint16_t topic_len = 0;
    uint16_t queue_id = 0;
    uint64_t offset = 0;
    std::string group;
    std::string topic;
    if (!r.u16(group_len) || !r.bytes(group_len, group) || !r.u16(topic_len)
        || !r.bytes(topic_len, topic) || !r.u16(queue_id) || !r.u64(offset)) {
      why = "an entry runs past the end";
      return false;
    }
    if (!valid_group_name(group) || !valid_topic_name(topic)) {
      why = "invalid group or topic name";
      return false;
    }
    if (!out.try_emplace({std::move(group), std::move(topic), int32_t{queue_id}}, offset)
           .second) {
      why = "duplicate entry";
      return false;
    }
  }
  if (!r.at_end()) {
    why = "bytes after the last entry";
    return false;
  }
  return true;
}

std::string encode(const offsets_by_key& m) {
  std::string out;
  out.append(magic);
  put_u32(out, static_cast<uint32_t>(m.size()));
  for (const auto& [k, offset] : m) {
    const auto& [group, topic, queue_id] = k;
    // Lengths fit u16 and queue ids fit u16: commit() validated every entry.
    put_u16(out, static_cast<uint16_t>(group.size()));
    out.append(group);
    put_u16(out, static_cast<uint16_t>(topic.size()));
    out.append(topic);
    put_u16(out, static_cast<uint16_t>(queue_id));
    put_u64(out, offset);
  }
  put_u32(out, crc32c::mask(crc32c::value(out.data(), out.size())));
  return out;
}

std::string parent_of(const std::string& dir) {
  auto p = std::filesystem::path(dir).lexically_normal();
  if (!p.has_filename()) // "a/b/" normalises to "a/b/", whose parent is "a/b"
    p = p.parent_path();
  auto parent = p.parent_path().string();
  return parent.empty() ? "." : parent;
}

} // namespace

offset_store::offset_store(file_system& fs, std::string dir)
  : fs_(fs), dir_(std::move(dir)), path_(dir_ + "/" + std::string(file_name)) {
}

errc offset_store::open(file_system& fs, std::string dir, std::unique_ptr<offset_store>& out) {
  out.reset();
  if (dir.empty())
    return errc::invalid_argument;
  if (!fs.exists(dir)) {
    if (auto e = fs.create_dirs(dir); e != errc::ok)
      return e;
    // write_file_atomically syncs `dir` itself, but a new `dir` also needs its own entry in
    // the parent made durable, or a power cut could take the directory and its offsets away.
    if (auto e = fs.sync_dir(parent_of(dir)); e != errc::ok)
      return e;
  }
  std::unique_ptr<offset_store> st(new offset_store(fs, std::move(dir)));
  if (auto e = st->load(); e != errc::ok)
    return e;
  out = std::move(st);
  return errc::ok;
}

errc offset_store::load() {
  // consumer_offsets.tmp is deliberately not looked at: it is either a write that never got
  // renamed (so never acknowledged) or garbage, and the next commit truncates it.
  if (!fs_.exists(path_))
    return errc::ok;
  std::string bytes;
  // An I/O error is no proof of corruption: refuse to start rather than move good offsets aside.
  if (auto e = read_whole_file(fs_, path_, bytes); e != errc::ok)
    return e;
  std::string_view why;
  if (decode(bytes, offsets_, why))
    return errc::ok;
  offsets_.clear();
  return move_corrupt_aside(why, bytes.size());
}

errc offset_store::move_corrupt_aside(std::string_view why, size_t size) {
  // Never overwrite an earlier .corrupt file: each one may be the only copy of someone's
  // offsets that an operator wants to recover by hand.
  auto target = path_ + ".corrupt";
  for (int n = 1; fs_.exists(target); ++n)
    target = path_ + ".corrupt." + std::to_string(n);
  // If the rename fails we must not start: the first commit would replace the corrupt file.
  if (auto e = fs_.rename(path_, target); e != errc::ok) {
    log_error("consumer offsets {} are corrupt ({}, {} bytes) and cannot be moved aside: {}",
              path_, why, size, to_string(e));
    return e;
  }
  log_error("consumer offsets {} are corrupt ({}, {} bytes): kept as {}; starting empty, so "
            "consumer groups restart from their configured start position",
            path_, why, size, target);
  // Not needed for correctness (the next commit syncs the directory, and a corrupt file that a
  // power cut brought back would just be moved aside again), but it makes the disk match the
  // log line an operator reads.
  return fs_.sync_dir(dir_);
}

std::optional<uint64_t> offset_store::get(const std::string& group, const std::string& topic,
                                          int32_t queue_id) const {
  auto i = offsets_.find(key{group, topic, queue_id});
  if (i == offsets_.end())
    return std::nullopt;
  return i->second;
}

errc offset_store::commit(const std::string& group, const std::string& topic, int32_t queue_id,
                          uint64_t offset, bool allow_rewind) {
  if (failed_)
    return errc::sticky_failure;
  if (!valid_entry(group, topic, queue_id))
    return errc::invalid_argument;
  auto i = offsets_.find(key{group, topic, queue_id});
  if (i != offsets_.end()) {
    if (offset < i->second && !allow_rewind)
      return errc::out_of_range;
    // Consumers re-commit unchanged offsets periodically; the value is already durable.
    if (offset == i->second && !disk_uncertain_)
      return errc::ok;
  }
  // Work on a copy so a failed write leaves offsets_ untouched without undo bookkeeping; the
  // copy is O(entries), like the encoding that follows.
  auto next = offsets_;
  next[key{group, topic, queue_id}] = offset;
  return persist(std::move(next));
}

errc offset_store::commit_all(const std::vector<entry>& entries) {
  if (failed_)
    return errc::sticky_failure;
  for (const auto& x : entries)
    if (!valid_entry(x.group, x.topic, x.queue_id))
      return errc::invalid_argument;
  auto next = offsets_;
  bool changed = false;
  for (const auto& x : entries) {
    auto [i, inserted] = next.try_emplace(key{x.group, x.topic, x.queue_id}, x.offset);
    if (inserted) {
      changed = true;
      continue;
    }
    if (x.offset < i->second)
      return errc::out_of_range; // nothing written: `next` is dropped
    changed = changed || x.offset != i->second;
    i->second = x.offset;
  }
  if (!changed && !disk_uncertain_)
    return errc::ok;
  return persist(std::move(next));
}

errc offset_store::merge_max(const std::vector<entry>& entries) {
  if (failed_)
    return errc::sticky_failure;
  auto next = offsets_;
  bool changed = false;
  for (const auto& x : entries) {
    if (!valid_entry(x.group, x.topic, x.queue_id))
      continue; // a master never sends one; skipping keeps the rest of the copy
    auto [i, inserted] = next.try_emplace(key{x.group, x.topic, x.queue_id}, x.offset);
    if (!inserted && x.offset <= i->second)
      continue;
    i->second = x.offset;
    changed = true;
  }
  if (!changed && !disk_uncertain_)
    return errc::ok;
  return persist(std::move(next));
}

errc offset_store::clamp(const std::function<uint64_t(const std::string&, int32_t)>& end_of,
                         std::vector<entry>& lowered) {
  lowered.clear();
  auto next = offsets_;
  for (auto& [k, off] : next) {
    auto end = end_of(std::get<1>(k), std::get<2>(k));
    if (off <= end)
      continue;
    lowered.push_back(entry{std::get<0>(k), std::get<1>(k), std::get<2>(k), off});
    off = end;
  }
  if (lowered.empty() && !disk_uncertain_)
    return errc::ok;
  return persist(std::move(next));
}

std::vector<offset_store::entry> offset_store::all() const {
  std::vector<entry> out;
  out.reserve(offsets_.size());
  for (auto& [k, off] : offsets_)
    out.push_back(entry{std::get<0>(k), std::get<1>(k), std::get<2>(k), off});
  return out;
}

std::vector<offset_store::entry> offset_store::group_offsets(const std::string& group) const {
  std::vector<entry> out;
  // "" sorts before every topic and queue ids are >= 0, so this is the group's first entry.
  for (auto i = offsets_.lower_bound(key{group, std::string{}, -1});
       i != offsets_.end() && std::get<0>(i->first) == group; ++i)
    out.push_back(entry{group, std::get<1>(i->first), std::get<2>(i->first), i->second});
  return out;
}

errc offset_store::persist(offset_map next) {
  if (failed_)
    return errc::sticky_failure;
  auto bytes = encode(next);
  atomic_write_step step = atomic_write_step::none;
  if (auto e = write_file_atomically(fs_, path_, bytes, step); e != errc::ok) {
    log_error("consumer offsets: write of {} failed: {}", path_, to_string(e));
    if (is_fsync(step)) {
      // Sticky, like the commit log. Each commit rewrites a fresh temp file, so a later fsync
      // would cover all of its bytes; but after a failed directory fsync nobody knows which
      // file the name points to after a crash, and a disk that fails an fsync once cannot be
      // trusted to have written what the next one claims. A restart reads what is there.
      log_error("consumer offsets: fsync failed; refusing every later commit until restart");
      failed_ = true;
    }
    // The rename may have happened before the directory sync failed, so the file may now hold
    // `next` while memory keeps the old state (memory never claims more than the disk). Until
    // a write succeeds, an unchanged commit must still be written to pin the file down.
    disk_uncertain_ = true;
    return e;
  }
  offsets_ = std::move(next);
  disk_uncertain_ = false;
  return errc::ok;
}

} // namespace holdfast
