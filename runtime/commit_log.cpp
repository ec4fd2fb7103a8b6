#include "runtime/commit_log.hpp"

#include "runtime/assert.hpp"
#include "runtime/log.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>

namespace holdfast {

namespace {

constexpr size_t name_digits = 20;

bool parse_segment_name(const std::string& name, uint64_t& base) {
  if (name.size() != name_digits)
    return false;
  auto [p, ec] = std::from_chars(name.data(), name.data() + name.size(), base);
  return ec == std::errc{} && p == name.data() + name.size();
}

// Reads chunks big enough that the scan is bound by the disk, not by syscalls.
constexpr size_t scan_chunk = 4u << 20;

} // namespace

std::string segment_name(uint64_t base) {
  char buf[name_digits + 1];
  std::snprintf(buf, sizeof(buf), "%020llu", static_cast<unsigned long long>(base));
  return buf;
}

commit_log::commit_log(file_system& fs, options opts) : fs_(fs), opts_(std::move(opts)) {
}

commit_log::~commit_log() = default;

std::string commit_log::path_of(uint64_t base) const {
  return opts_.dir + "/" + segment_name(base);
}

errc commit_log::open(file_system& fs, options opts, bool clean, uint64_t scan_from,
                      const record_visitor& visit, std::unique_ptr<commit_log>& out,
                      recovery_report& report) {
  if (opts.segment_size < record::header_size)
    return errc::invalid_argument;
  if (auto e = fs.create_dirs(opts.dir); e != errc::ok)
    return e;
  std::unique_ptr<commit_log> log{new commit_log(fs, opts)};
  report = recovery_report{};
  report.clean = clean;
  std::vector<std::string> names;
  if (auto e = fs.list(opts.dir, names); e != errc::ok)
    return e;
  std::vector<uint64_t> bases;
  for (auto& n : names) {
    uint64_t b;
    if (parse_segment_name(n, b))
      bases.push_back(b);
  }
  std::sort(bases.begin(), bases.end());

  // Renames segment i and every later one aside: offsets must stay dense, so nothing after a
  // hole can be served. Never deleted: an operator may still want those bytes.
  auto move_aside_from = [&](size_t i) -> errc {
    for (size_t j = i; j < bases.size(); ++j) {
      auto from = log->path_of(bases[j]);
      auto to = from + ".corrupt";
      log_error("recovery: moving segment {} aside to {}", from, to);
      if (auto e = fs.rename(from, to); e != errc::ok)
        return e;
      report.moved_aside.push_back(to);
    }
    bases.resize(i);
    return fs.sync_dir(opts.dir);
  };

  // Open every segment and check that they are contiguous.
  for (size_t i = 0; i < bases.size(); ++i) {
    auto seg = std::make_shared<segment>();
    seg->base = bases[i];
    std::unique_ptr<file> f;
    if (fs.open(log->path_of(bases[i]), open_mode::read_write, f) != errc::ok) {
      if (auto e = move_aside_from(i); e != errc::ok)
        return e;
      break;
    }
    if (i > 0) {
      auto& prev = log->segments_.back();
      if (prev->base + prev->f->size() != bases[i]) {
        log_error("recovery: segment {} does not continue {} (gap or overlap)",
                  segment_name(bases[i]), segment_name(prev->base));
        f.reset();
        if (auto e = move_aside_from(i); e != errc::ok)
          return e;
        break;
      }
    }
    seg->f = std::move(f);
    log->segments_.push_back(std::move(seg));
  }

  uint64_t end = log->segments_.empty()
                   ? 0
                   : log->segments_.back()->base + log->segments_.back()->f->size();

  if (!clean && !log->segments_.empty()) {
    scan_from = std::clamp(scan_from, log->segments_.front()->base, end);
    report.scanned_from = scan_from;
    size_t i = 0;
    while (i + 1 < log->segments_.size() && log->segments_[i + 1]->base <= scan_from)
      ++i;
    bool stopped = false;
    for (; i < log->segments_.size() && !stopped; ++i) {
      auto& seg = *log->segments_[i];
      uint64_t seg_size = seg.f->size();
      record_reader reader(seg.f, seg.base, std::max(scan_from, seg.base), seg.base + seg_size,
                           {scan_chunk, true});
      record::view v;
      while (reader.next(v)) {
        visit(v);
        ++report.scanned_records;
      }
      if (reader.reason() == record_reader::stop_reason::end)
        continue;
      stopped = true;
      if (reader.reason() != record_reader::stop_reason::bad_record) {
        // An unreadable segment: keep what came before it, move it and the rest aside.
        log->segments_.resize(i);
        if (auto e = move_aside_from(i); e != errc::ok)
          return e;
        break;
      }
      auto st = reader.status();
      uint64_t pos = reader.position() - seg.base;
      report.stop_reason = st;
      auto cut = seg.base + pos;
      log_warning("recovery: {} at commit-log offset {}; truncating {} bytes",
                  record::to_string(st), cut, seg_size - pos);
      if (pos == 0 && seg.base > log->segments_.front()->base) {
        // Not a single good record: the whole file goes aside rather than being emptied.
        log->segments_.resize(i);
        if (auto e = move_aside_from(i); e != errc::ok)
          return e;
        break;
      }
      bool debris = st == record::decode_status::torn || st == record::decode_status::zero_tail;
      if (!debris) {
        // Corruption, not a torn tail: keep a copy of the dropped bytes for forensics.
        std::string tail;
        tail.resize(seg_size - pos);
        size_t n = 0;
        if (seg.f->read_at(pos, std::span<char>(tail.data(), tail.size()), n) == errc::ok) {
          tail.resize(n);
          auto aside = log->path_of(seg.base) + "." + std::to_string(pos) + ".corrupt";
          if (write_file_atomically(fs, aside, tail) == errc::ok)
            report.moved_aside.push_back(aside);
        }
      }
      report.truncated_bytes += seg_size - pos;
      if (auto e = seg.f->truncate(pos); e != errc::ok)
        return e;
      if (auto e = seg.f->sync(); e != errc::ok)
        return e;
      log->segments_.resize(i + 1);
      if (auto e = move_aside_from(i + 1); e != errc::ok)
        return e;
    }
    // With every segment moved aside the log restarts where the scan began: offsets never go back.
    end = log->segments_.empty() ? scan_from
                                 : log->segments_.back()->base + log->segments_.back()->f->size();
  }
  if (log->segments_.empty()) {
    // Also the case of a first start: one empty segment at offset `end`.
    if (auto e = log->roll(end); e != errc::ok)
      return e;
  }
  report.end_offset = end;
  log->write_offset_ = end;
  // What recovery kept is what the disk holds: sync it once so flushed == written.
  for (auto& s : log->segments_)
    if (auto e = s->f->sync(); e != errc::ok)
      return e;
  if (auto e = fs.sync_dir(opts.dir); e != errc::ok)
    return e;
  log->dir_synced_ = log->dir_version_;
  log->flushed_offset_ = end;
  out = std::move(log);
  return errc::ok;
}

uint64_t commit_log::start_offset() const {
  std::lock_guard guard{mtx_};
  return segments_.empty() ? 0 : segments_.front()->base;
}

errc commit_log::roll(uint64_t base) {
  std::unique_ptr<file> f;
  if (auto e = fs_.open(path_of(base), open_mode::read_write, f); e != errc::ok)
    return e;
  if (f->size() != 0) {
    // Left over from a truncation: it must start empty.
    if (auto e = f->truncate(0); e != errc::ok)
      return e;
  }
  auto seg = std::make_shared<segment>();
  seg->base = base;
  seg->f = std::move(f);
  std::lock_guard guard{mtx_};
  segments_.push_back(std::move(seg));
  ++dir_version_;
  return errc::ok;
}

std::shared_ptr<commit_log::segment> commit_log::find(uint64_t offset) const {
  std::lock_guard guard{mtx_};
  auto i = std::upper_bound(segments_.begin(), segments_.end(), offset,
                            [](uint64_t off, const auto& s) { return off < s->base; });
  if (i == segments_.begin())
    return nullptr;
  return *(i - 1);
}

uint64_t commit_log::segment_limit(uint64_t offset, uint64_t& base) const {
  std::lock_guard guard{mtx_};
  auto i = std::upper_bound(segments_.begin(), segments_.end(), offset,
                            [](uint64_t off, const auto& s) { return off < s->base; });
  base = i == segments_.begin() ? 0 : (*(i - 1))->base;
  return i == segments_.end() ? UINT64_MAX : (*i)->base;
}

errc commit_log::append(std::span<const char> bytes, bool new_segment) {
  if (sticky_.load(std::memory_order_acquire))
    return errc::sticky_failure;
  auto off = write_offset();
  std::shared_ptr<segment> active;
  {
    std::lock_guard guard{mtx_};
    active = segments_.back();
  }
  auto used = off - active->base;
  if (used > 0 && (new_segment || used + bytes.size() > opts_.segment_size)) {
    if (auto e = roll(off); e != errc::ok)
      return e;
    std::lock_guard guard{mtx_};
    active = segments_.back();
    used = 0;
  }
  if (auto e = active->f->append(bytes); e != errc::ok) {
    // A partial write (ENOSPC) must not leave half a record in front of the next append.
    if (active->f->truncate(used) != errc::ok) {
      log_error("commit log: cannot undo a failed append; refusing further writes");
      sticky_ = true;
    }
    return e;
  }
  auto prev = write_offset_.exchange(off + bytes.size(), std::memory_order_acq_rel);
  HF_ASSERT(prev == off, "commit log: the write offset moved from {} to {} during an append: "
            "a second writer (one writer thread only)", off, prev);
  return errc::ok;
}

errc commit_log::sync() {
  std::lock_guard sync_guard{sync_mtx_};
  if (sticky_.load(std::memory_order_acquire))
    return errc::sticky_failure;
  // Capture the target first: bytes appended after this point are not covered.
  auto target = write_offset();
  auto flushed = flushed_offset();
  if (target <= flushed)
    return errc::ok;
  std::vector<std::shared_ptr<segment>> dirty;
  uint64_t dir_version = 0;
  bool dir_dirty = false;
  {
    std::lock_guard guard{mtx_};
    for (auto& s : segments_)
      if (s->base + s->f->size() > flushed)
        dirty.push_back(s);
    dir_version = dir_version_;
    dir_dirty = dir_synced_ != dir_version_;
  }
  // Oldest first: a later segment is never durable while an earlier one is not.
  for (auto& s : dirty) {
    if (auto e = s->f->sync(); e != errc::ok) {
      log_error("commit log: fsync failed ({}); refusing further writes until restart",
                to_string(e));
      sticky_ = true;
      return e;
    }
  }
  if (dir_dirty) {
    if (auto e = fs_.sync_dir(opts_.dir); e != errc::ok) {
      log_error("commit log: directory fsync failed ({}); refusing further writes until restart",
                to_string(e));
      sticky_ = true;
      return e;
    }
    // Only the segments created before the sync began count as covered.
    std::lock_guard guard{mtx_};
    dir_synced_ = std::max(dir_synced_, dir_version);
  }
  // sync_mtx_ keeps truncate_to out, so neither offset went back since target was taken.
  HF_ASSERT(flushed_offset() <= target && target <= write_offset(),
            "commit log: flushed offset {} -> {} with write offset {} (offsets only move forward, "
            "flushed never past written)", flushed_offset(), target, write_offset());
  flushed_offset_.store(target, std::memory_order_release);
  syncs_.fetch_add(1, std::memory_order_relaxed);
  return errc::ok;
}

errc commit_log::read(uint64_t offset, size_t len, std::string& out) const {
  if (offset + len > write_offset())
    return errc::out_of_range;
  auto seg = find(offset);
  if (!seg)
    return errc::out_of_range;
  out.resize(len);
  size_t n = 0;
  if (auto e = seg->f->read_at(offset - seg->base, std::span<char>(out.data(), len), n);
      e != errc::ok)
    return e;
  if (n != len)
    return errc::corrupt;
  return errc::ok;
}

record_reader commit_log::reader(uint64_t from, record_reader::options opts) const {
  auto end = write_offset();
  std::lock_guard guard{mtx_};
  auto i = std::upper_bound(segments_.begin(), segments_.end(), from,
                            [](uint64_t off, const auto& s) { return off < s->base; });
  if (i == segments_.begin() || from > end)
    return record_reader::failed(from, errc::out_of_range);
  auto& seg = *(i - 1);
  auto limit = i == segments_.end() ? end : std::min(end, (*i)->base);
  return record_reader(seg->f, seg->base, from, limit, opts);
}

errc commit_log::truncate_to(uint64_t offset) {
  // A sync running meanwhile would set the flushed offset past the cut.
  std::lock_guard sync_guard{sync_mtx_};
  if (sticky_.load(std::memory_order_acquire))
    return errc::sticky_failure;
  if (offset >= write_offset())
    return offset == write_offset() ? errc::ok : errc::out_of_range;
  {
    std::lock_guard guard{mtx_};
    if (offset < segments_.front()->base)
      return errc::out_of_range;
  }
  // From here on a failure leaves the log between two states, on disk and in memory.
  auto fail = [this](const char* what, errc e) {
    log_error("commit log: truncation failed at {} ({}); refusing further writes until restart",
              what, to_string(e));
    sticky_ = true;
    return e;
  };
  std::shared_ptr<segment> last;
  bool renamed = false;
  {
    std::lock_guard guard{mtx_};
    while (segments_.size() > 1 && segments_.back()->base > offset) {
      auto path = path_of(segments_.back()->base);
      auto to = path + ".truncated";
      if (auto e = fs_.rename(path, to); e != errc::ok)
        return fail("rename", e);
      log_warning("commit log: segment {} moved aside to {} by truncation", path, to);
      segments_.pop_back();
      renamed = true;
    }
    last = segments_.back();
  }
  if (auto e = last->f->truncate(offset - last->base); e != errc::ok)
    return fail("ftruncate", e);
  if (auto e = last->f->sync(); e != errc::ok)
    return fail("fsync", e);
  // The renamed segments must stay out of the log after a crash: recovery would append their
  // records again.
  if (renamed)
    if (auto e = fs_.sync_dir(opts_.dir); e != errc::ok)
      return fail("directory fsync", e);
  write_offset_.store(offset, std::memory_order_release);
  if (flushed_offset() > offset)
    flushed_offset_.store(offset, std::memory_order_release);
  return errc::ok;
}

} // namespace holdfast
