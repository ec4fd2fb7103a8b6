// File formats of <dir>/consumer_offsets (the snapshot) and the payload of each record in
// <dir>/consumer_offsets.journal (also in docs/storage-format.md, "Consumer offsets").
// All integers little-endian, written byte by byte so the format does not depend on the host.
//
// Snapshot (the format of the whole offsets file before the journal existed, unchanged):
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
// A snapshot is only ever replaced whole (write_file_atomically), so a reader sees the old or
// the new one.
//
// Journal record payload (framing and CRC: runtime/offset_journal.hpp):
//   u32 entry count, then entries encoded as in the snapshot. Each entry sets its key to its
//   offset; entries apply in order. Validated like snapshot entries (duplicates allowed).
//
// Why a journal: rewriting the whole file per commit cost O(entries) bytes and two fsyncs,
// on whichever thread committed. Appending a record costs its own bytes and one fsync, which
// the offset service shares among every commit that arrived meanwhile (group commit).
// RocketMQ instead persists every 5 s and loses up to 5 s of commits on a crash; we promise
// that an acknowledged commit survives.

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

/// One entry (group, topic, queue id, offset), as the snapshot and the journal's records
/// both carry it; false with `why` when it runs past the end or names something invalid.
bool decode_entry(reader& r, offsets_by_key::key_type& key, uint64_t& offset,
                  std::string_view& why) {
  uint16_t group_len = 0;
  uint16_t topic_len = 0;
  uint16_t queue_id = 0;
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
  key = {std::move(group), std::move(topic), int32_t{queue_id}};
  return true;
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
    offsets_by_key::key_type key;
    uint64_t offset = 0;
    if (!decode_entry(r, key, offset, why))
      return false;
    if (!out.try_emplace(std::move(key), offset).second) {
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

void encode_entry(std::string& out, const std::string& group, const std::string& topic,
                  int32_t queue_id, uint64_t offset);

std::string encode(const offsets_by_key& m) {
  std::string out;
  out.append(magic);
  put_u32(out, static_cast<uint32_t>(m.size()));
  for (const auto& [k, offset] : m) {
    const auto& [group, topic, queue_id] = k;
    encode_entry(out, group, topic, queue_id, offset);
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


void encode_entry(std::string& out, const std::string& group, const std::string& topic,
                  int32_t queue_id, uint64_t offset) {
  // Lengths fit u16 and queue ids fit u16: every entry was validated before.
  put_u16(out, static_cast<uint16_t>(group.size()));
  out.append(group);
  put_u16(out, static_cast<uint16_t>(topic.size()));
  out.append(topic);
  put_u16(out, static_cast<uint16_t>(queue_id));
  put_u64(out, offset);
}

/// Applies a journal record's payload to `m`, all or nothing; false (and `m` untouched)
/// when it does not decode.
bool apply_payload(std::string_view payload, offsets_by_key& m) {
  reader r(payload.data(), payload.size());
  uint32_t count = 0;
  if (!r.u32(count))
    return false;
  std::vector<std::pair<std::tuple<std::string, std::string, int32_t>, uint64_t>> parsed;
  std::string_view why;
  for (uint32_t i = 0; i < count; ++i) {
    offsets_by_key::key_type key;
    uint64_t offset = 0;
    if (!decode_entry(r, key, offset, why))
      return false;
    parsed.push_back({std::move(key), offset});
  }
  if (!r.at_end())
    return false;
  for (auto& [k, off] : parsed)
    m[std::move(k)] = off;
  return true;
}

} // namespace

offset_store::offset_store(file_system& fs, std::string dir, options opts)
  : fs_(fs),
    dir_(std::move(dir)),
    path_(dir_ + "/" + std::string(file_name)),
    journal_path_(path_ + ".journal"),
    opts_(opts) {
}

errc offset_store::open(file_system& fs, std::string dir, std::unique_ptr<offset_store>& out) {
  return open(fs, std::move(dir), options{}, out);
}

errc offset_store::open(file_system& fs, std::string dir, options opts,
                        std::unique_ptr<offset_store>& out) {
  out.reset();
  if (dir.empty())
    return errc::invalid_argument;
  if (!fs.exists(dir)) {
    if (auto e = fs.create_dirs(dir); e != errc::ok)
      return e;
    // A new `dir` also needs its own entry in the parent made durable, or a power cut could
    // take the directory and its offsets away.
    if (auto e = fs.sync_dir(parent_of(dir)); e != errc::ok)
      return e;
  }
  std::unique_ptr<offset_store> st(new offset_store(fs, std::move(dir), opts));
  if (auto e = st->load(); e != errc::ok)
    return e;
  out = std::move(st);
  return errc::ok;
}

errc offset_store::load() {
  // consumer_offsets.tmp is deliberately not looked at: it is either a snapshot that never got
  // renamed (its journal was never reset, so nothing is missing) or garbage, and the next
  // compaction truncates it.
  if (fs_.exists(path_)) {
    std::string bytes;
    // An I/O error is no proof of corruption: refuse to start rather than move good offsets
    // aside.
    if (auto e = read_whole_file(fs_, path_, bytes); e != errc::ok)
      return e;
    std::string_view why;
    if (decode(bytes, durable_, why)) {
      snapshot_size_ = bytes.size();
    } else {
      durable_.clear();
      if (auto e = move_aside(path_, "snapshot", why, bytes.size()); e != errc::ok)
        return e;
    }
  }
  auto apply = [this](std::string_view payload) { return apply_payload(payload, durable_); };
  offset_journal::replay_report report;
  auto e = offset_journal::open(fs_, journal_path_, apply, journal_, report);
  if (e == errc::corrupt) {
    // Not our journal (another magic): keep it for an operator, start a fresh one.
    if (auto moved = move_aside(journal_path_, "journal", "bad magic", 0); moved != errc::ok)
      return moved;
    e = offset_journal::open(fs_, journal_path_, apply, journal_, report);
  }
  if (e != errc::ok) {
    log_error("consumer offsets: cannot open the journal {}: {}", journal_path_, to_string(e));
    return e;
  }
  if (report.dropped_bytes > 0)
    log_warning("consumer offsets journal {}: {} records replayed, {} bytes of torn tail cut "
                "off ({}): a commit that was never answered",
                journal_path_, report.records, report.dropped_bytes, report.why);
  staged_ = durable_;
  return errc::ok;
}

errc offset_store::move_aside(const std::string& path, std::string_view what,
                              std::string_view why, size_t size) {
  // Never overwrite an earlier .corrupt file: each one may be the only copy of someone's
  // offsets that an operator wants to recover by hand.
  auto target = path + ".corrupt";
  for (int n = 1; fs_.exists(target); ++n)
    target = path + ".corrupt." + std::to_string(n);
  // If the rename fails we must not start: the next write would replace the corrupt file.
  if (auto e = fs_.rename(path, target); e != errc::ok) {
    log_error("consumer offsets {} {} is corrupt ({}, {} bytes) and cannot be moved aside: {}",
              what, path, why, size, to_string(e));
    return e;
  }
  log_error("consumer offsets {} {} is corrupt ({}, {} bytes): kept as {}; starting without "
            "it, so consumer groups restart from their configured start position",
            what, path, why, size, target);
  // Makes the disk match the log line an operator reads; a corrupt file a power cut brought
  // back would just be moved aside again.
  return fs_.sync_dir(dir_);
}

std::optional<uint64_t> offset_store::get(const std::string& group, const std::string& topic,
                                          int32_t queue_id) const {
  auto i = durable_.find(key{group, topic, queue_id});
  if (i == durable_.end())
    return std::nullopt;
  return i->second;
}

errc offset_store::stage(const std::vector<entry>& applied) {
  if (applied.empty())
    return errc::ok;
  std::string payload;
  put_u32(payload, static_cast<uint32_t>(applied.size()));
  for (const auto& x : applied)
    encode_entry(payload, x.group, x.topic, x.queue_id, x.offset);
  if (auto e = journal_->append(payload); e != errc::ok) {
    log_error("consumer offsets: journal append failed: {}", to_string(e));
    if (journal_->failed())
      note_failure(e);
    return e;
  }
  for (const auto& x : applied)
    staged_[key{x.group, x.topic, x.queue_id}] = x.offset;
  return errc::ok;
}

errc offset_store::stage_commit(const std::vector<entry>& entries, bool allow_rewind,
                                std::vector<entry>& applied) {
  applied.clear();
  if (failed_)
    return errc::sticky_failure;
  for (const auto& x : entries)
    if (!valid_entry(x.group, x.topic, x.queue_id))
      return errc::invalid_argument;
  // Checked against a scratch copy of only the touched keys, so a refused batch changes
  // nothing and a batch may move one queue several times.
  std::map<key, uint64_t> next;
  for (const auto& x : entries) {
    key k{x.group, x.topic, x.queue_id};
    auto i = next.find(k);
    std::optional<uint64_t> current;
    if (i != next.end())
      current = i->second;
    else if (auto s = staged_.find(k); s != staged_.end())
      current = s->second;
    if (current && x.offset < *current && !allow_rewind)
      return errc::out_of_range;
    next[k] = x.offset;
  }
  for (auto& [k, off] : next) {
    auto s = staged_.find(k);
    // Consumers re-commit unchanged offsets periodically; the value is already journaled.
    if (s != staged_.end() && s->second == off)
      continue;
    applied.push_back(entry{std::get<0>(k), std::get<1>(k), std::get<2>(k), off});
  }
  if (auto e = stage(applied); e != errc::ok) {
    applied.clear();
    return e;
  }
  return errc::ok;
}

errc offset_store::stage_merge_max(const std::vector<entry>& entries,
                                   std::vector<entry>& applied) {
  applied.clear();
  if (failed_)
    return errc::sticky_failure;
  std::map<key, uint64_t> next;
  for (const auto& x : entries) {
    if (!valid_entry(x.group, x.topic, x.queue_id))
      continue; // a master never sends one; skipping keeps the rest of the copy
    key k{x.group, x.topic, x.queue_id};
    uint64_t current = 0;
    bool known = false;
    if (auto i = next.find(k); i != next.end()) {
      current = i->second;
      known = true;
    } else if (auto s = staged_.find(k); s != staged_.end()) {
      current = s->second;
      known = true;
    }
    if (known && x.offset <= current)
      continue;
    next[k] = x.offset;
  }
  for (auto& [k, off] : next)
    applied.push_back(entry{std::get<0>(k), std::get<1>(k), std::get<2>(k), off});
  if (auto e = stage(applied); e != errc::ok) {
    applied.clear();
    return e;
  }
  return errc::ok;
}

errc offset_store::stage_clamp(
  const std::function<uint64_t(const std::string&, int32_t)>& end_of,
  std::vector<entry>& lowered, std::vector<entry>& applied) {
  lowered.clear();
  applied.clear();
  if (failed_)
    return errc::sticky_failure;
  for (auto& [k, off] : staged_) {
    auto end = end_of(std::get<1>(k), std::get<2>(k));
    if (off <= end)
      continue;
    lowered.push_back(entry{std::get<0>(k), std::get<1>(k), std::get<2>(k), off});
    applied.push_back(entry{std::get<0>(k), std::get<1>(k), std::get<2>(k), end});
  }
  if (auto e = stage(applied); e != errc::ok) {
    lowered.clear();
    applied.clear();
    return e;
  }
  return errc::ok;
}

bool offset_store::dirty() const noexcept {
  return journal_->dirty();
}

void offset_store::note_failure(errc e) {
  // Sticky, like the commit log: the pages the failed fsync covered may be gone while the
  // kernel reports the next fsync as a success (fsyncgate). Memory keeps what was durable
  // before; a restart reads what the disk really holds.
  log_error("consumer offsets: a write could not be made durable or undone ({}); refusing "
            "every later commit until restart",
            to_string(e));
  failed_ = true;
  staged_ = durable_;
}

errc offset_store::sync() {
  if (failed_)
    return errc::sticky_failure;
  if (!journal_->dirty())
    return errc::ok;
  if (auto e = journal_->sync(); e != errc::ok) {
    note_failure(e);
    return e;
  }
  durable_ = staged_;
  return errc::ok;
}

errc offset_store::commit(const std::string& group, const std::string& topic, int32_t queue_id,
                          uint64_t offset, bool allow_rewind) {
  std::vector<entry> applied;
  if (auto e = stage_commit({entry{group, topic, queue_id, offset}}, allow_rewind, applied);
      e != errc::ok)
    return e;
  return sync();
}

errc offset_store::commit_all(const std::vector<entry>& entries) {
  std::vector<entry> applied;
  if (auto e = stage_commit(entries, false, applied); e != errc::ok)
    return e;
  return sync();
}

errc offset_store::merge_max(const std::vector<entry>& entries) {
  std::vector<entry> applied;
  if (auto e = stage_merge_max(entries, applied); e != errc::ok)
    return e;
  return sync();
}

errc offset_store::clamp(const std::function<uint64_t(const std::string&, int32_t)>& end_of,
                         std::vector<entry>& lowered) {
  std::vector<entry> applied;
  if (auto e = stage_clamp(end_of, lowered, applied); e != errc::ok)
    return e;
  return sync();
}

bool offset_store::compaction_due() const noexcept {
  auto size = journal_->size();
  return size >= opts_.compact_min_bytes && size >= 2 * snapshot_size_;
}

errc offset_store::compact() {
  if (failed_)
    return errc::sticky_failure;
  if (journal_->dirty())
    return errc::invalid_argument; // the snapshot would miss what is staged
  auto bytes = encode(durable_);
  atomic_write_step step = atomic_write_step::none;
  if (auto e = write_file_atomically(fs_, path_, bytes, step); e != errc::ok) {
    log_error("consumer offsets: writing the snapshot {} failed: {}", path_, to_string(e));
    // A failed write or rename left the old snapshot and the whole journal in place: nothing
    // is lost and the next compaction tries again. A failed fsync is sticky.
    if (is_fsync(step))
      note_failure(e);
    return e;
  }
  snapshot_size_ = bytes.size();
  // The snapshot holds every journaled change now. A crash before the reset replays the
  // journal over it, which changes nothing (records set values, in order).
  if (auto e = journal_->reset(); e != errc::ok) {
    if (journal_->failed())
      note_failure(e);
    return e;
  }
  return errc::ok;
}

uint64_t offset_store::journal_size() const noexcept {
  return journal_->size();
}

std::vector<offset_store::entry> offset_store::all() const {
  std::vector<entry> out;
  out.reserve(durable_.size());
  for (auto& [k, off] : durable_)
    out.push_back(entry{std::get<0>(k), std::get<1>(k), std::get<2>(k), off});
  return out;
}

std::vector<offset_store::entry> offset_store::group_offsets(const std::string& group) const {
  std::vector<entry> out;
  // "" sorts before every topic and queue ids are >= 0, so this is the group's first entry.
  for (auto i = durable_.lower_bound(key{group, std::string{}, -1});
       i != durable_.end() && std::get<0>(i->first) == group; ++i)
    out.push_back(entry{group, std::get<1>(i->first), std::get<2>(i->first), i->second});
  return out;
}

} // namespace holdfast
