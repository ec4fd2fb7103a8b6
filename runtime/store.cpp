#include "runtime/store.hpp"

#include "runtime/assert.hpp"
#include "runtime/crc32c.hpp"
#include "runtime/log.hpp"
#include "runtime/secret.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>

namespace holdfast {

namespace {

constexpr uint64_t checkpoint_magic = 0x484f4c44464b5031ull; // "HOLDFKP1"
constexpr size_t max_msg_id = 128;
constexpr size_t max_key = 255;
constexpr size_t max_value = 32767;
constexpr size_t max_properties_bytes = 64 * 1024;

std::string encode_checkpoint(uint64_t offset) {
  std::string out(20, '\0');
  std::memcpy(out.data(), &checkpoint_magic, 8);
  std::memcpy(out.data() + 8, &offset, 8);
  uint32_t crc = crc32c::mask(crc32c::value(out.data(), 16));
  std::memcpy(out.data() + 16, &crc, 4);
  return out;
}

bool decode_checkpoint(const std::string& in, uint64_t& offset) {
  if (in.size() != 20)
    return false;
  uint64_t magic;
  uint32_t crc;
  std::memcpy(&magic, in.data(), 8);
  std::memcpy(&offset, in.data() + 8, 8);
  std::memcpy(&crc, in.data() + 16, 4);
  return magic == checkpoint_magic && crc32c::unmask(crc) == crc32c::value(in.data(), 16);
}

} // namespace

std::string_view to_string(message_check x) noexcept {
  switch (x) {
    case message_check::ok: return "ok";
    case message_check::bad_topic: return "topic name must match [A-Za-z0-9_%-]{1,127}";
    case message_check::bad_queue: return "queue id out of range";
    case message_check::too_large: return "message body exceeds maxMessageSize";
    case message_check::bad_msg_id: return "message id longer than 128 bytes";
    case message_check::bad_property: return "invalid message property";
  }
  return "?";
}

message_store::message_store(file_system& fs, store_options opts)
  : fs_(fs), opts_(std::move(opts)),
    index_files_(std::make_unique<index_file_cache>(fs, opts_.max_open_index_files)) {
  // Generated ids: start time plus a counter is unique per broker without coordination.
  auto now = std::chrono::system_clock::now().time_since_epoch();
  char buf[32];
  std::snprintf(buf, sizeof(buf), "B%llX-",
                static_cast<unsigned long long>(
                  std::chrono::duration_cast<std::chrono::microseconds>(now).count()));
  id_prefix_ = buf;
}

message_store::~message_store() = default;

errc message_store::open(file_system& fs, store_options opts,
                         std::unique_ptr<message_store>& out, recovery_report& report) {
  std::unique_ptr<message_store> st{new message_store(fs, opts)};
  auto& root = st->opts_.root;
  if (auto e = fs.create_dirs(root + "/consumequeue"); e != errc::ok)
    return e;
  auto marker = root + "/clean_shutdown";
  bool clean = fs.exists(marker);
  if (clean) {
    // From here on a crash must count as unclean again.
    if (auto e = fs.remove(marker); e != errc::ok)
      return e;
    if (auto e = fs.sync_dir(root); e != errc::ok)
      return e;
  }
  uint64_t cp = 0;
  std::string cp_bytes;
  if (fs.exists(root + "/checkpoint")) {
    if (read_whole_file(fs, root + "/checkpoint", cp_bytes) != errc::ok
        || !decode_checkpoint(cp_bytes, cp)) {
      log_warning("recovery: checkpoint unreadable; scanning the whole commit log");
      cp = 0;
      clean = false;
    }
  }
  if (auto e = st->load_topic_table(); e != errc::ok)
    return e;
  if (auto e = st->load_topics(); e != errc::ok)
    return e;
  if (clean && st->rebuild_inconsistent_) {
    log_warning("recovery: an index file is missing; not trusting the clean shutdown");
    clean = false;
  }
  if (!clean) {
    for (auto& [name, t] : st->topics_)
      for (auto& q : t.queues)
        if (auto e = q.index->truncate_from_log_offset(cp); e != errc::ok)
          return e;
  }
  commit_log::options lo{root + "/commitlog", opts.segment_size};
  std::unique_ptr<commit_log> log;
  auto visit = [&](const record::view& v) {
    if (st->rebuild(v) != errc::ok)
      st->rebuild_inconsistent_ = true;
  };
  if (auto e = commit_log::open(fs, lo, clean, cp, visit, log, report); e != errc::ok)
    return e;
  if (!clean && (st->rebuild_inconsistent_ || cp > log->write_offset())) {
    // The indexes disagree with the log (lost index file, a checkpoint past a log that lost its
    // tail): rebuild every index from the start of the log.
    log_warning("recovery: indexes inconsistent with the commit log; rebuilding all of them");
    st->rebuild_inconsistent_ = false;
    for (auto& [name, t] : st->topics_)
      for (auto& q : t.queues)
        if (auto e = q.index->truncate(0); e != errc::ok)
          return e;
    log.reset();
    recovery_report again;
    if (auto e = commit_log::open(fs, lo, false, 0, visit, log, again); e != errc::ok)
      return e;
    again.moved_aside.insert(again.moved_aside.begin(), report.moved_aside.begin(),
                             report.moved_aside.end());
    again.truncated_bytes += report.truncated_bytes;
    if (again.stop_reason == record::decode_status::ok)
      again.stop_reason = report.stop_reason;
    report = std::move(again);
    if (st->rebuild_inconsistent_)
      return errc::corrupt;
  }
  st->log_ = std::move(log);
  st->checkpoint_at_ = cp;
  if (auto e = st->load_producers(); e != errc::ok)
    return e;
  if (auto e = epoch_history::open(fs, root + "/epochs", st->epochs_); e != errc::ok) {
    log_error("recovery: the epoch history {}/epochs is unreadable: {}", root, to_string(e));
    return e;
  }
  // Terms that start past the recovered end lost all their records.
  if (auto e = st->epochs_->truncate_to(st->log_->write_offset() + 1); e != errc::ok)
    return e;
  if (auto e = st->load_producer_key(); e != errc::ok)
    return e;
  if (st->opts_.master)
    if (auto e = st->begin_term(); e != errc::ok)
      return e;
  if (!clean) {
    if (auto e = st->checkpoint(); e != errc::ok)
      return e;
  }
  out = std::move(st);
  return errc::ok;
}

errc message_store::scan(uint64_t from,
                         const std::function<void(const record::view&)>& fn) {
  // Segment by segment. Offsets are not checked: this replays records recovery already
  // verified (or a clean shutdown vouched for), as before there was one reader.
  const record_reader::options ro{std::max<size_t>(opts_.scan_chunk_bytes, 8), false};
  auto end = log_->write_offset();
  for (uint64_t pos = from; pos < end;) {
    auto reader = log_->reader(pos, ro);
    record::view v;
    while (reader.next(v))
      fn(v);
    switch (reader.reason()) {
      case record_reader::stop_reason::end:
        break;
      case record_reader::stop_reason::read_error:
        return reader.error();
      default:
        return errc::corrupt;
    }
    pos = reader.position();
  }
  return errc::ok;
}

void message_store::apply_producer(const record::view& v) {
  if (v.f.producer_id == 0)
    return;
  stream_key key{v.f.producer_id, std::string(v.topic),
                 (v.f.flags & record::flag_broker_queue) != 0 ? -1 : v.f.queue_id};
  producers_.apply(key,
                   sequenced_entry{v.f.sequence, v.f.queue_offset, v.f.commit_log_offset, v.length,
                                   v.f.queue_id},
                   v.f.store_timestamp_ms);
}

errc message_store::load_producers() {
  // The snapshot, then the records written after it; without a usable snapshot, the whole log.
  auto path = opts_.root + "/producer_state";
  uint64_t from = log_->start_offset();
  if (fs_.exists(path)) {
    std::string bytes;
    uint64_t covered = 0;
    if (read_whole_file(fs_, path, bytes) == errc::ok
        && producers_.decode(bytes, covered) == errc::ok) {
      if (covered > log_->write_offset()) {
        // The log lost a tail the snapshot had seen (it covers only flushed records, so only
        // a truncation by a master can do this): forget what is gone.
        producers_.truncate(log_->write_offset());
        covered = log_->write_offset();
      }
      from = std::max(from, covered);
    } else {
      log_warning("recovery: producer state snapshot unreadable; rebuilding it from the log");
      producers_ = producer_table{};
    }
  }
  if (from < log_->write_offset()) {
    if (auto e = scan(from, [this](const record::view& v) { apply_producer(v); });
        e != errc::ok) {
      log_error("recovery: replaying producer state from offset {} failed: {}", from,
                to_string(e));
      return e;
    }
  }
  producer_snapshot_at_ = from;
  return errc::ok;
}

errc message_store::load_producer_key() {
  // 16 key bytes and their masked crc32c; made once per store, replaced only by a master's.
  auto path = opts_.root + "/producer_key";
  std::string bytes;
  if (fs_.exists(path) && read_whole_file(fs_, path, bytes) == errc::ok && bytes.size() == 20) {
    uint32_t crc;
    std::memcpy(&crc, bytes.data() + 16, 4);
    if (crc32c::unmask(crc) == crc32c::value(bytes.data(), 16)) {
      std::memcpy(producer_key_.data(), bytes.data(), 16);
      return errc::ok;
    }
    log_warning("store: producer key unreadable; making a new one (producers of the last run "
                "get new ids)");
  }
  return set_producer_key(secret::random_key());
}

errc message_store::set_producer_key(const secret::key& k) {
  if (k == producer_key_ && fs_.exists(opts_.root + "/producer_key"))
    return errc::ok;
  std::string bytes(reinterpret_cast<const char*>(k.data()), k.size());
  uint32_t crc = crc32c::mask(crc32c::value(bytes.data(), bytes.size()));
  bytes.append(reinterpret_cast<const char*>(&crc), 4);
  if (failed())
    return errc::sticky_failure;
  atomic_write_step step = atomic_write_step::none;
  if (auto e = write_file_atomically(fs_, opts_.root + "/producer_key", bytes, step);
      e != errc::ok)
    return is_fsync(step) ? fail("the producer key", e) : e;
  producer_key_ = k;
  return errc::ok;
}

errc message_store::begin_term() {
  // Above every epoch this store has seen: its history, the producer ids in its log (a
  // promoted slave's log holds its old master's), and the epoch file of stores written before
  // terms existed, whose producer ids used it.
  uint64_t epoch = producers_.max_producer_id() >> 32;
  if (auto last = epochs_->last())
    epoch = std::max(epoch, last->epoch);
  std::string legacy;
  if (fs_.exists(opts_.root + "/producer_epoch")
      && read_whole_file(fs_, opts_.root + "/producer_epoch", legacy) == errc::ok)
    epoch = std::max<uint64_t>(epoch, std::strtoull(legacy.c_str(), nullptr, 10));
  uint64_t term = 0;
  while (term == 0) {
    auto k = secret::random_key();
    std::memcpy(&term, k.data(), 8);
  }
  leader_epoch next{epoch + 1, term, log_->write_offset()};
  // Durable before any record or producer id of the term exists.
  if (failed())
    return errc::sticky_failure;
  if (auto e = epochs_->append(next); e != errc::ok)
    return fail("the epoch history", e);
  producer_counter_ = 0;
  return errc::ok;
}

uint64_t message_store::current_epoch() const noexcept {
  auto last = epochs_->last();
  return last ? last->epoch : 0;
}

errc message_store::fail(std::string_view what, errc e) {
  log_error("store: fsync of {} failed ({}); refusing every write until restart", what,
            to_string(e));
  flags_->sticky.store(true, std::memory_order_release);
  return e;
}

errc message_store::new_producer_id(uint64_t& out) {
  if (!opts_.master)
    return errc::invalid_argument;
  // Ids carry the leader epoch, so a promoted slave (a new term) never repeats one of the old
  // master's; a term that ran out of ids gives way to a new one.
  if (producer_counter_ >= 0xffffffffull)
    if (auto e = begin_term(); e != errc::ok)
      return e;
  out = (current_epoch() << 32) | ++producer_counter_;
  return errc::ok;
}

errc message_store::record_terms(const std::vector<leader_epoch>& terms) {
  for (auto& t : terms) {
    auto last = epochs_->last();
    if (last && *last == t)
      continue;
    if (failed())
      return errc::sticky_failure;
    if (auto e = epochs_->append(t); e != errc::ok)
      return fail("the epoch history", e);
  }
  return errc::ok;
}

uint64_t message_store::confirmed_queue_end(const std::string& topic_name, int32_t queue_id,
                                            uint64_t confirmed) const {
  auto i = topics_.find(topic_name);
  if (i == topics_.end() || queue_id < 0
      || static_cast<size_t>(queue_id) >= i->second.queues.size())
    return 0;
  auto& idx = *i->second.queues[queue_id].index;
  // Only the newest entries can lie past the confirmed offset: walk back from the end.
  auto end = idx.count();
  std::vector<index_entry> one;
  while (end > 0) {
    if (idx.read(end - 1, 1, one) != errc::ok || one.empty())
      break;
    if (one[0].commit_log_offset + one[0].size <= confirmed)
      break;
    --end;
  }
  return end;
}

errc message_store::load_topics() {
  auto dir = opts_.root + "/consumequeue";
  std::vector<std::string> names;
  if (auto e = fs_.list(dir, names); e != errc::ok)
    return e;
  for (auto& name : names) {
    if (!valid_topic_name(name))
      continue;
    std::vector<std::string> qs;
    if (fs_.list(dir + "/" + name, qs) != errc::ok)
      continue;
    // One directory scan at a time, and no index file stays open past the cache's bound.
    auto listed = topic_table_.find(name);
    int32_t n = listed != topic_table_.end() ? listed->second : opts_.queue_nums_for(name);
    for (auto& q : qs) {
      char* end = nullptr;
      long id = std::strtol(q.c_str(), &end, 10);
      if (end != q.c_str() && *end == '\0' && id >= 0 && id < 65536)
        n = std::max<int32_t>(n, static_cast<int32_t>(id) + 1);
    }
    topic t;
    t.queues.resize(n);
    for (int32_t i = 0; i < n; ++i) {
      auto path = dir + "/" + name + "/" + std::to_string(i);
      // A topic without one of its index files lost it (deleted, or created after the last
      // checkpoint and not durable): its entries below the checkpoint are gone and no record
      // past it may show that. Only a rebuild of every index from the log can restore them.
      if (!fs_.exists(path))
        rebuild_inconsistent_ = true;
      if (auto e = queue_index::open(*index_files_, path, t.queues[i].index); e != errc::ok)
        return e;
    }
    topics_.emplace(name, std::move(t));
  }
  // A topic the table names but whose directory is gone lost its index files.
  for (auto& [name, n] : topic_table_) {
    if (topics_.count(name) > 0)
      continue;
    rebuild_inconsistent_ = true;
    topic* t = nullptr;
    if (auto e = get_topic(name, t); e != errc::ok)
      return e;
  }
  return errc::ok;
}

namespace {

// root/topics: one "name queues" line per topic created by create_topic, then a line
// "crc32c <masked crc of the lines above, decimal>". Written atomically.
constexpr std::string_view topic_table_crc = "crc32c ";

} // namespace

errc message_store::load_topic_table() {
  auto path = opts_.root + "/topics";
  if (!fs_.exists(path))
    return errc::ok;
  std::string bytes;
  if (auto e = read_whole_file(fs_, path, bytes); e != errc::ok)
    return e;
  auto at = bytes.rfind(topic_table_crc);
  bool ok = at != std::string::npos && (at == 0 || bytes[at - 1] == '\n');
  if (ok) {
    auto crc = std::strtoul(bytes.c_str() + at + topic_table_crc.size(), nullptr, 10);
    ok = crc32c::unmask(static_cast<uint32_t>(crc)) == crc32c::value(bytes.data(), at);
  }
  std::map<std::string, int32_t, std::less<>> table;
  for (size_t pos = 0; ok && pos < at;) {
    auto nl = bytes.find('\n', pos);
    auto line = bytes.substr(pos, nl - pos);
    pos = nl + 1;
    auto sp = line.find(' ');
    char* end = nullptr;
    long n = sp == std::string::npos ? 0 : std::strtol(line.c_str() + sp + 1, &end, 10);
    ok = sp != std::string::npos && valid_topic_name(line.substr(0, sp)) && n >= 1
         && n <= max_topic_queues && end != nullptr && *end == '\0';
    if (ok)
      table[line.substr(0, sp)] = static_cast<int32_t>(n);
  }
  if (!ok) {
    // Written atomically, so this is damage, not a torn write: guessing queue counts could
    // hide queues, so the operator must look.
    log_error("store: {} is corrupt (queue counts of the topics made by updateTopic); restore "
              "it or remove it to fall back to defaultTopicQueueNums",
              path);
    return errc::corrupt;
  }
  topic_table_ = std::move(table);
  return errc::ok;
}

errc message_store::write_topic_table() {
  std::string bytes;
  for (auto& [name, n] : topic_table_)
    bytes += name + " " + std::to_string(n) + "\n";
  auto crc = crc32c::mask(crc32c::value(bytes.data(), bytes.size()));
  bytes += std::string(topic_table_crc) + std::to_string(crc) + "\n";
  atomic_write_step step = atomic_write_step::none;
  if (auto e = write_file_atomically(fs_, opts_.root + "/topics", bytes, step); e != errc::ok)
    return is_fsync(step) ? fail("the topic table", e) : e;
  return errc::ok;
}

bool message_store::has_topic(std::string_view name) const {
  return topics_.find(name) != topics_.end();
}

errc message_store::create_topic(const std::string& name, int32_t queues) {
  if (!valid_topic_name(name) || queues < 1 || queues > max_topic_queues)
    return errc::invalid_argument;
  if (closed_)
    return errc::closed;
  if (failed())
    return errc::sticky_failure;
  if (system_topic_queue_nums(name, opts_.delay_levels) > 0)
    return errc::invalid_argument; // their queue counts follow their own rule
  auto dir = opts_.root + "/consumequeue/" + name;
  auto it = topics_.find(name);
  if (it != topics_.end() && static_cast<int32_t>(it->second.queues.size()) > queues)
    return errc::invalid_argument;
  if (it != topics_.end() && static_cast<int32_t>(it->second.queues.size()) == queues) {
    auto listed = topic_table_.find(name);
    if (listed != topic_table_.end() && listed->second == queues)
      return errc::ok;
  }
  if (auto e = fs_.create_dirs(dir); e != errc::ok)
    return e;
  // The index files first, durable with their directory entries, then the table that names
  // the count: a crash in between leaves a topic the default rule still reads.
  std::vector<std::unique_ptr<queue_index>> fresh;
  auto have = it != topics_.end() ? static_cast<int32_t>(it->second.queues.size()) : 0;
  for (int32_t i = have; i < queues; ++i) {
    std::unique_ptr<queue_index> idx;
    if (auto e = queue_index::open(*index_files_, dir + "/" + std::to_string(i), idx);
        e != errc::ok)
      return e;
    fresh.push_back(std::move(idx));
  }
  if (auto e = fs_.sync_dir(dir); e != errc::ok)
    return fail(dir, e);
  if (auto e = fs_.sync_dir(opts_.root + "/consumequeue"); e != errc::ok)
    return fail(opts_.root + "/consumequeue", e);
  auto before = topic_table_;
  topic_table_[name] = queues;
  if (auto e = write_topic_table(); e != errc::ok) {
    topic_table_ = std::move(before);
    return e;
  }
  auto& t = topics_[name];
  for (auto& idx : fresh)
    t.queues.push_back(queue{std::move(idx)});
  return errc::ok;
}

errc message_store::get_topic(const std::string& name, topic*& out) {
  if (auto i = topics_.find(name); i != topics_.end()) {
    out = &i->second;
    return errc::ok;
  }
  auto dir = opts_.root + "/consumequeue/" + name;
  if (auto e = fs_.create_dirs(dir); e != errc::ok)
    return e;
  topic t;
  auto n = queue_count(name);
  t.queues.resize(n);
  for (int32_t i = 0; i < n; ++i)
    if (auto e = queue_index::open(*index_files_, dir + "/" + std::to_string(i),
                                   t.queues[i].index);
        e != errc::ok)
      return e;
  new_dirs_.push_back(dir);
  out = &topics_.emplace(name, std::move(t)).first->second;
  return errc::ok;
}

errc message_store::rebuild(const record::view& v) {
  // The topic names a directory: a record that passed its crc but breaks the name rules (never
  // written by us; a bug or a crafted file) must not create one outside consumequeue/.
  if (!valid_topic_name(v.topic))
    return errc::corrupt;
  topic* t = nullptr;
  if (auto e = get_topic(std::string(v.topic), t); e != errc::ok)
    return e;
  if (!opts_.master && v.f.queue_id >= 0 && v.f.queue_id < max_topic_queues
      && static_cast<size_t>(v.f.queue_id) >= t->queues.size()) {
    // A slave learns a topic's queues from its master's records: the master may have grown it
    // (updateTopic) past the count the default rule gives here.
    auto dir = opts_.root + "/consumequeue/" + std::string(v.topic);
    for (auto i = static_cast<int32_t>(t->queues.size()); i <= v.f.queue_id; ++i) {
      queue q;
      if (auto e = queue_index::open(*index_files_, dir + "/" + std::to_string(i), q.index);
          e != errc::ok)
        return e;
      t->queues.push_back(std::move(q));
    }
    new_dirs_.push_back(dir);
  }
  if (v.f.queue_id < 0 || static_cast<size_t>(v.f.queue_id) >= t->queues.size())
    return errc::corrupt;
  auto& idx = *t->queues[v.f.queue_id].index;
  if (v.f.queue_offset < idx.count()) {
    // Already indexed (the index was ahead of the checkpoint): then by this very record. A
    // checksummed record repeating a queue offset would otherwise stay in the log reachable
    // through no queue, so it makes the indexes count as inconsistent.
    std::vector<index_entry> have;
    if (idx.read(v.f.queue_offset, 1, have) != errc::ok || have.empty()
        || have[0].commit_log_offset != v.f.commit_log_offset)
      return errc::corrupt;
    return errc::ok;
  }
  if (v.f.queue_offset > idx.count())
    return errc::corrupt;
  idx.append({v.f.commit_log_offset, v.length});
  return errc::ok;
}

message_check message_store::check(const message& m) const {
  if (!valid_topic_name(m.topic))
    return message_check::bad_topic;
  int32_t n = queue_count(m.topic);
  if (m.queue_id < -1 || m.queue_id >= n)
    return message_check::bad_queue;
  if (m.body.size() > opts_.max_message_size)
    return message_check::too_large;
  if (m.msg_id.size() > max_msg_id)
    return message_check::bad_msg_id;
  size_t props = 0;
  for (auto& [k, v] : m.properties) {
    if (k.empty() || k.size() > max_key || v.size() > max_value)
      return message_check::bad_property;
    props += k.size() + v.size() + 6;
  }
  if (props > max_properties_bytes)
    return message_check::bad_property;
  return message_check::ok;
}

status message_store::append(std::vector<message>& batch, int64_t now_ms,
                             std::vector<send_result>& out, uint64_t& end) {
  out.clear();
  if (closed_)
    return errc::closed;
  if (failed())
    return errc::sticky_failure;
  for (auto& m : batch)
    if (check(m) != message_check::ok)
      return errc::invalid_argument;
  // autoCreateTopicEnable = false: only the system topics (retry, dead-letter, delay), which the
  // broker makes itself, appear by a send. Refused before anything is written.
  if (!opts_.auto_create_topics)
    for (auto& m : batch)
      if (!has_topic(m.topic) && system_topic_queue_nums(m.topic, opts_.delay_levels) == 0)
        return status{errc::not_found, "topic '" + m.topic.substr(0, 127)
                                         + "' does not exist and autoCreateTopicEnable is "
                                           "false: create it with `holdfast admin updateTopic`"};
  // Idempotent producers: which messages were stored before (answered from the table), which
  // continue their stream; a gap fails the whole batch before anything is written.
  std::vector<std::optional<sequenced_entry>> dup(batch.size());
  std::vector<stream_key> keys(batch.size());
  std::map<stream_key, uint64_t> next_seq;
  uint64_t dup_end = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    auto& m = batch[i];
    if (m.producer_id == 0)
      continue;
    keys[i] = stream_key{m.producer_id, m.topic, m.queue_id};
    auto [it, fresh] = next_seq.try_emplace(keys[i], 0);
    if (fresh)
      it->second = producers_.next_sequence(keys[i]);
    if (m.sequence == it->second) {
      ++it->second;
      continue;
    }
    auto known = m.sequence < it->second ? producers_.find(keys[i], m.sequence) : std::nullopt;
    if (!known) {
      // A gap means "not stored"; an old number means "stored, result forgotten".
      if (m.sequence < it->second)
        return status{errc::out_of_range,
                      "producer " + std::to_string(m.producer_id) + " topic '"
                        + m.topic.substr(0, 127) + "' queue " + std::to_string(m.queue_id)
                        + ": sequence " + std::to_string(m.sequence)
                        + " was stored but is older than the results this broker keeps"};
      return status{errc::out_of_sequence,
                    "producer " + std::to_string(m.producer_id) + " topic '"
                      + m.topic.substr(0, 127) + "' queue " + std::to_string(m.queue_id)};
    }
    dup[i] = known;
    dup_end = std::max(dup_end, known->commit_log_offset + known->length);
  }
  auto base = log_->write_offset();
  auto offset = base;
  std::string buf;
  size_t total = 0;
  for (auto& m : batch)
    total += record::encoded_size(m) + (m.msg_id.empty() ? 24 : 0);
  buf.reserve(total);
  // Queue offsets are taken tentatively and committed to the indexes only after the write.
  std::map<std::pair<topic*, int32_t>, uint64_t> next;
  std::vector<std::pair<topic*, index_entry>> entries;
  entries.reserve(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    auto& m = batch[i];
    if (dup[i]) {
      auto& d = *dup[i];
      out.push_back(send_result{send_status::send_ok, m.msg_id, d.queue_id, d.queue_offset,
                                d.commit_log_offset});
      entries.emplace_back(nullptr, index_entry{});
      continue;
    }
    topic* t = nullptr;
    if (auto e = get_topic(m.topic, t); e != errc::ok)
      return e;
    record::fields f;
    if (m.queue_id < 0) {
      m.queue_id = static_cast<int32_t>(t->next_rr++ % t->queues.size());
      f.flags |= record::flag_broker_queue;
    }
    if (m.msg_id.empty())
      m.msg_id = id_prefix_ + std::to_string(++id_counter_);
    auto key = std::make_pair(t, m.queue_id);
    auto [it, fresh] = next.try_emplace(key, 0);
    if (fresh)
      it->second = t->queues[m.queue_id].index->count();
    f.queue_id = m.queue_id;
    f.producer_id = m.producer_id;
    f.sequence = m.sequence;
    f.commit_log_offset = offset;
    f.queue_offset = it->second++;
    f.store_timestamp_ms = now_ms;
    auto before = buf.size();
    record::encode(m, f, buf);
    auto len = static_cast<uint32_t>(buf.size() - before);
    entries.emplace_back(t, index_entry{offset, len});
    out.push_back(send_result{send_status::send_ok, m.msg_id, m.queue_id, f.queue_offset, offset});
    offset += len;
  }
  if (!buf.empty()) {
    if (auto e = log_->append(buf); e != errc::ok) {
      out.clear();
      return e;
    }
  }
  HF_ASSERT(log_->write_offset() == offset,
            "store: records encoded for offsets [{}, {}) but the log ends at {} (one writer)", base,
            offset, log_->write_offset());
  for (size_t i = 0; i < batch.size(); ++i) {
    if (dup[i]) {
      ++duplicates_;
      continue;
    }
    entries[i].first->queues[batch[i].queue_id].index->append(entries[i].second);
    if (batch[i].producer_id != 0)
      producers_.apply(keys[i],
                       sequenced_entry{batch[i].sequence, out[i].queue_offset,
                                       entries[i].second.commit_log_offset,
                                       entries[i].second.size, batch[i].queue_id},
                       now_ms);
  }
  end = std::max(offset, dup_end);
  return errc::ok;
}

errc message_store::read(const std::string& topic_name, int32_t queue_id, uint64_t from,
                         size_t max, uint64_t confirmed, std::vector<stored_message>& out,
                         uint64_t& next, uint64_t max_bytes) {
  out.clear();
  next = from;
  auto i = topics_.find(topic_name);
  if (i == topics_.end() || queue_id < 0
      || static_cast<size_t>(queue_id) >= i->second.queues.size())
    return errc::ok;
  auto& idx = *i->second.queues[queue_id].index;
  std::vector<index_entry> entries;
  if (auto e = idx.read(from, max, entries); e != errc::ok)
    return e;
  std::string buf;
  uint64_t bytes = 0;
  for (auto& ent : entries) {
    if (ent.commit_log_offset + ent.size > confirmed)
      break;
    if (!out.empty() && bytes + ent.size > max_bytes)
      break;
    bytes += ent.size;
    if (auto e = log_->read(ent.commit_log_offset, ent.size, buf); e != errc::ok)
      return e;
    record::view v;
    if (record::decode(buf, v) != record::decode_status::ok)
      return errc::corrupt;
    stored_message m;
    if (!record::to_stored_message(v, m))
      return errc::corrupt;
    out.push_back(std::move(m));
    ++next;
  }
  return errc::ok;
}

errc message_store::append_raw(std::span<const char> bytes, bool new_segment) {
  if (closed_)
    return errc::closed;
  if (failed())
    return errc::sticky_failure;
  auto base = log_->write_offset();
  // Check everything first: a batch from the network is stored whole or not at all.
  size_t pos = 0;
  std::vector<record::view> views;
  while (pos < bytes.size()) {
    record::view v;
    if (record::decode(bytes.subspan(pos), v) != record::decode_status::ok)
      return errc::corrupt;
    if (v.f.commit_log_offset != base + pos || !valid_topic_name(v.topic) || v.f.queue_id < 0)
      return errc::corrupt;
    views.push_back(v);
    pos += v.length;
  }
  // Queue offsets must continue each index (the master assigned them densely).
  std::map<std::pair<std::string_view, int32_t>, uint64_t> next;
  for (auto& v : views) {
    auto key = std::make_pair(v.topic, v.f.queue_id);
    auto it = next.find(key);
    if (it == next.end()) {
      auto q = static_cast<int32_t>(v.f.queue_id);
      it = next.emplace(key, q < queue_count(std::string(v.topic))
                               ? queue_end(std::string(v.topic), q) : 0).first;
      // A slave grows a topic to its master's queue count (rebuild()).
      if (q >= (opts_.master ? queue_count(std::string(v.topic)) : max_topic_queues))
        return errc::corrupt;
    }
    if (v.f.queue_offset != it->second++)
      return errc::corrupt;
  }
  if (auto e = log_->append(bytes, new_segment); e != errc::ok)
    return e;
  for (auto& v : views) {
    if (auto e = rebuild(v); e != errc::ok)
      return e;
    apply_producer(v);
  }
  return errc::ok;
}

errc message_store::read_raw(uint64_t from, size_t max_bytes, std::string& out,
                             bool& new_segment) {
  out.clear();
  auto end = log_->write_offset();
  if (from > end)
    return errc::out_of_range;
  uint64_t base = 0;
  (void) log_->segment_limit(from, base);
  new_segment = base == from;
  if (from == end)
    return errc::ok;
  // A record never spans segments, a range of them may. Reads are bounded by the budget (and
  // at most 1 MiB at a time): `max_bytes` comes from the network.
  record_reader::options ro{std::clamp<size_t>(max_bytes, 8, 1 << 20), true, max_bytes};
  auto reader = log_->reader(from, ro);
  record::view v;
  while (reader.next(v)) {
    auto bytes = reader.record_bytes();
    out.append(bytes.data(), bytes.size());
  }
  // `from` comes from the network (a slave's fetch): it must name a record of this log.
  bool first = reader.position() == from;
  switch (reader.reason()) {
    case record_reader::stop_reason::end:
    case record_reader::stop_reason::budget:
      return errc::ok;
    case record_reader::stop_reason::read_error:
      return first && reader.error() == errc::out_of_range ? errc::invalid_argument
                                                           : reader.error();
    default:
      return first ? errc::invalid_argument : errc::corrupt;
  }
}

errc message_store::truncate_to(uint64_t offset, uint64_t& dropped) {
  dropped = 0;
  if (failed())
    return errc::sticky_failure;
  auto end = log_->write_offset();
  dropped = end > offset ? end - offset : 0;
  if (dropped == 0) {
    // A term without records may still start there.
    if (auto e = epochs_->truncate_to(offset); e != errc::ok)
      return fail("the epoch history", e);
    return errc::ok;
  }
  // Before a byte goes, nothing durable may point past the cut: recovery would start its scan
  // (checkpoint) or trust producer state (snapshot) at offsets that the bytes appended after
  // the cut give another meaning.
  atomic_write_step step = atomic_write_step::none;
  if (checkpoint_at_ > offset) {
    if (auto e = write_file_atomically(fs_, opts_.root + "/checkpoint", encode_checkpoint(offset),
                                       step);
        e != errc::ok)
      return is_fsync(step) ? fail("the checkpoint", e) : e;
    checkpoint_at_ = offset;
  }
  producers_.truncate(offset);
  if (producer_snapshot_at_ > offset) {
    auto snapshot = producers_.encode(offset, producers_.newest_ms(), opts_.producer_expiry_ms);
    if (auto e = write_file_atomically(fs_, opts_.root + "/producer_state", snapshot, step);
        e != errc::ok)
      return is_fsync(step) ? fail("the producer snapshot", e) : e;
    producer_snapshot_at_ = offset;
  }
  // Half-done, the indexes and the log disagree: like a failed fsync, only a restart's
  // recovery can sort that out. (The log makes itself sticky on its own failures.)
  for (auto& [name, t] : topics_)
    for (auto& q : t.queues)
      if (auto e = q.index->truncate_from_log_offset(offset); e != errc::ok)
        return fail("an index truncation", e);
  if (auto e = log_->truncate_to(offset); e != errc::ok)
    return e;
  if (auto e = epochs_->truncate_to(offset); e != errc::ok)
    return fail("the epoch history", e);
  return errc::ok;
}

uint64_t message_store::queue_end(const std::string& topic_name, int32_t queue_id) const {
  auto i = topics_.find(topic_name);
  if (i == topics_.end() || queue_id < 0
      || static_cast<size_t>(queue_id) >= i->second.queues.size())
    return 0;
  return i->second.queues[queue_id].index->count();
}

int32_t message_store::queue_count(const std::string& topic_name) const {
  auto i = topics_.find(topic_name);
  if (i != topics_.end())
    return static_cast<int32_t>(i->second.queues.size());
  if (auto listed = topic_table_.find(topic_name); listed != topic_table_.end())
    return listed->second;
  return opts_.queue_nums_for(topic_name);
}

std::vector<topic_info> message_store::topics() const {
  std::vector<topic_info> out;
  for (auto& [name, t] : topics_) {
    topic_info ti{name, {}};
    for (auto& q : t.queues)
      ti.queue_ends.push_back(q.index->count());
    out.push_back(std::move(ti));
  }
  return out;
}

errc checkpoint_job::run() {
  if (!flags)
    return result = errc::invalid_argument;
  std::lock_guard guard{flags->running};
  return result = run_steps();
}

errc checkpoint_job::run_steps() {
  if (flags->sticky.load(std::memory_order_acquire))
    return errc::sticky_failure;
  auto fsync_failed = [this](std::string_view what, errc e) {
    log_error("checkpoint: fsync of {} failed ({}); the store refuses every write until restart",
              what, to_string(e));
    flags->sticky.store(true, std::memory_order_release);
    return e;
  };
  for (auto& f : files)
    if (auto e = f->sync(); e != errc::ok)
      return fsync_failed("an index file", e);
  for (auto& d : dirs)
    if (auto e = fs->sync_dir(d); e != errc::ok)
      return fsync_failed(d, e);
  atomic_write_step step = atomic_write_step::none;
  if (!snapshot.empty())
    if (auto e = write_file_atomically(*fs, root + "/producer_state", snapshot, step);
        e != errc::ok)
      return is_fsync(step) ? fsync_failed("producer_state", e) : e;
  if (auto e = write_file_atomically(*fs, root + "/checkpoint", encode_checkpoint(offset), step);
      e != errc::ok)
    return is_fsync(step) ? fsync_failed("checkpoint", e) : e;
  return errc::ok;
}

std::unique_ptr<checkpoint_job> message_store::begin_checkpoint() {
  // Everything below the flushed offset is already indexed in memory: once those index bytes
  // are durable, recovery may start there.
  auto job = std::make_unique<checkpoint_job>();
  if (auto gone = producers_.expire(producers_.newest_ms(), opts_.producer_expiry_ms); gone > 0)
    log_info("store: {} idle producer streams forgotten", gone);
  job->fs = &fs_;
  job->root = opts_.root;
  job->flags = flags_;
  job->offset = log_->flushed_offset();
  if (failed()) {
    job->result = errc::sticky_failure;
    return job;
  }
  // Only index files written since their last sync: each of them is open in the cache (an
  // evicted one was synced before it was closed), so a job holds at most maxOpenIndexFiles.
  for (auto& [name, t] : topics_)
    for (auto& q : t.queues)
      if (q.index->has_pending())
        if (auto e = q.index->flush(); e != errc::ok)
          job->result = e;
  if (index_files_->failed()) {
    job->result = errc::sticky_failure;
    return job;
  }
  for (auto& d : index_files_->dirty_files(job->file_generation)) {
    job->file_paths.push_back(std::move(d.path));
    job->files.push_back(std::move(d.f));
  }
  job->dirs = std::move(new_dirs_);
  new_dirs_.clear();
  if (!job->dirs.empty())
    job->dirs.push_back(opts_.root + "/consumequeue");
  if (job->offset - std::min(job->offset, producer_snapshot_at_) >= opts_.producer_snapshot_bytes
      || closed_) {
    job->snapshot = producers_.encode(job->offset, producers_.newest_ms(),
                                      opts_.producer_expiry_ms);
    job->snapshot_offset = job->offset;
  }
  return job;
}

void message_store::end_checkpoint(const checkpoint_job& job) {
  if (job.result != errc::ok) {
    // The directories still need their sync; the next job retries everything else anyway.
    for (auto& d : job.dirs)
      new_dirs_.push_back(d);
    return;
  }
  checkpoint_at_ = job.offset;
  index_files_->mark_synced(job.file_paths, job.file_generation);
  if (!job.snapshot.empty())
    producer_snapshot_at_ = std::max(producer_snapshot_at_, job.snapshot_offset);
}

errc message_store::checkpoint() {
  auto job = begin_checkpoint();
  if (job->result == errc::ok)
    job->run();
  end_checkpoint(*job);
  return job->result;
}

errc message_store::close() {
  if (closed_)
    return errc::ok;
  // No clean-shutdown marker after a failed fsync: the next start must run recovery.
  if (failed())
    return errc::sticky_failure;
  closed_ = true;
  if (auto e = log_->sync(); e != errc::ok)
    return e;
  // closed_ is set: this checkpoint writes the producer snapshot as well.
  if (auto e = checkpoint(); e != errc::ok)
    return e;
  auto marker = opts_.root + "/clean_shutdown";
  atomic_write_step step = atomic_write_step::none;
  if (auto e = write_file_atomically(fs_, marker, std::string_view("clean\n"), step);
      e != errc::ok)
    return is_fsync(step) ? fail("the clean_shutdown marker", e) : e;
  return errc::ok;
}

} // namespace holdfast
