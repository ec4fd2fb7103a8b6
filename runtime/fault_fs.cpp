#include "runtime/fault_fs.hpp"

#include "runtime/log.hpp"

#include <algorithm>
#include <filesystem>
#include <thread>
#include <vector>

namespace holdfast {

namespace {

using range = fault_fs::range;

/// Removes [r.begin, r.end) from a sorted list of disjoint ranges.
void subtract(std::vector<range>& v, range r) {
  if (r.begin >= r.end)
    return;
  std::vector<range> out;
  out.reserve(v.size() + 1);
  for (auto& x : v) {
    if (x.end <= r.begin || x.begin >= r.end) {
      out.push_back(x);
      continue;
    }
    if (x.begin < r.begin)
      out.push_back({x.begin, r.begin});
    if (x.end > r.end)
      out.push_back({r.end, x.end});
  }
  v = std::move(out);
}

/// Adds [r.begin, r.end) to a sorted list of disjoint ranges, merging what touches.
void add(std::vector<range>& v, range r) {
  if (r.begin >= r.end)
    return;
  std::vector<range> out;
  out.reserve(v.size() + 1);
  bool placed = false;
  for (auto& x : v) {
    if (x.end < r.begin) {
      out.push_back(x);
    } else if (x.begin > r.end) {
      if (!placed)
        out.push_back(r);
      placed = true;
      out.push_back(x);
    } else {
      r.begin = std::min(r.begin, x.begin);
      r.end = std::max(r.end, x.end);
    }
  }
  if (!placed)
    out.push_back(r);
  v = std::move(out);
}

} // namespace

/// A real file plus the shared bookkeeping of its path.
class fault_file final : public file {
public:
  fault_file(fault_fs& fs, std::unique_ptr<file> real, std::shared_ptr<fault_fs::file_state> st)
    : fs_(fs), real_(std::move(real)), st_(std::move(st)) {
  }

  errc append(std::span<const char> data) override {
    std::lock_guard guard{fs_.mtx_};
    if (auto e = fs_.check_alive(); e != errc::ok)
      return e;
    auto pos = real_->size();
    if (fs_.full_ && !data.empty())
      return half_then_no_space(pos, data);
    auto e = real_->append(data);
    fs_.note_write(*st_, pos, data.size());
    return e;
  }

  errc write_at(uint64_t pos, std::span<const char> data) override {
    std::lock_guard guard{fs_.mtx_};
    if (auto e = fs_.check_alive(); e != errc::ok)
      return e;
    // Overwriting synced bytes makes them unsynced again.
    st_->synced = std::min(st_->synced, pos);
    if (fs_.full_ && pos + data.size() > real_->size())
      return half_then_no_space(pos, data);
    auto e = real_->write_at(pos, data);
    fs_.note_write(*st_, pos, data.size());
    return e;
  }

  errc read_at(uint64_t pos, std::span<char> out, size_t& n) const override {
    std::lock_guard guard{fs_.mtx_};
    if (auto e = fs_.check_alive(); e != errc::ok)
      return e;
    return real_->read_at(pos, out, n);
  }

  errc flush() override {
    std::lock_guard guard{fs_.mtx_};
    return fs_.check_alive();
  }

  errc sync() override {
    std::chrono::milliseconds delay{0};
    uint64_t captured = 0;
    uint64_t from = 0;
    size_t first_write = 0;
    bool inject = false;
    {
      std::lock_guard guard{fs_.mtx_};
      if (auto e = fs_.check_alive(); e != errc::ok)
        return e;
      ++fs_.sync_calls_;
      inject = fs_.fail_at_call_ != 0 && fs_.sync_calls_ == fs_.fail_at_call_;
      delay = fs_.delay_;
      // What this sync covers: the bytes dirty now, [synced, size).
      captured = real_->size();
      from = st_->synced;
      if (st_->syncs_running++ == 0)
        st_->written_during_sync.clear();
      first_write = st_->written_during_sync.size();
    }
    if (delay.count() > 0)
      std::this_thread::sleep_for(delay);
    auto e = inject ? errc::io_error : real_->sync();
    std::lock_guard guard{fs_.mtx_};
    std::vector<range> since(st_->written_during_sync.begin()
                               + static_cast<std::ptrdiff_t>(first_write),
                             st_->written_during_sync.end());
    --st_->syncs_running;
    // A power cut that happened while the real fdatasync ran makes its outcome unknown: report
    // failure so nobody acknowledges bytes that power_cut() may already have dropped.
    if (fs_.dead_)
      return errc::closed;
    if (e != errc::ok) {
      if (inject)
        log_warning("fault_fs: failing sync #{} of {} on purpose", fs_.sync_calls_, st_->path);
      // Linux marks the dirty pages clean after a failed write-back: the bytes stay in the
      // page cache (reads still see them) but no later sync writes them.
      std::vector<range> lost{{from, std::min(captured, real_->size())}};
      for (auto& w : since)
        subtract(lost, w);
      for (auto& r : lost)
        add(st_->lost, r);
      return e;
    }
    // Bytes rewritten while the sync ran may or may not have made it: not durable.
    auto upto = captured;
    for (auto& w : since)
      upto = std::min(upto, w.begin);
    st_->synced = std::max(st_->synced, upto);
    ++fs_.syncs_;
    return errc::ok;
  }

  errc truncate(uint64_t size) override {
    std::lock_guard guard{fs_.mtx_};
    if (auto e = fs_.check_alive(); e != errc::ok)
      return e;
    st_->synced = std::min(st_->synced, size);
    subtract(st_->lost, {size, UINT64_MAX});
    return real_->truncate(size);
  }

  uint64_t size() const override {
    return real_->size();
  }

private:
  errc half_then_no_space(uint64_t pos, std::span<const char> data) {
    auto half = data.first(data.size() / 2);
    (void) real_->write_at(pos, half);
    fs_.note_write(*st_, pos, half.size());
    return errc::no_space;
  }

  fault_fs& fs_;
  std::unique_ptr<file> real_;
  std::shared_ptr<fault_fs::file_state> st_;
};

fault_fs::fault_fs(uint64_t seed, file_system& base) : base_(base), rng_(seed) {
}

fault_fs::~fault_fs() = default;

void fault_fs::set_disk_full(bool full) {
  std::lock_guard guard{mtx_};
  full_ = full;
}

errc fault_fs::check_alive() const {
  return dead_ ? errc::closed : errc::ok;
}

void fault_fs::note_write(file_state& st, uint64_t pos, uint64_t len) {
  // Rewritten bytes are dirty again: the next sync writes them like any others.
  subtract(st.lost, {pos, pos + len});
  if (st.syncs_running > 0)
    st.written_during_sync.push_back({pos, pos + len});
}

std::shared_ptr<fault_fs::file_state> fault_fs::state_for(const std::string& path,
                                                          bool created) {
  auto& slot = files_[path];
  if (!slot) {
    slot = std::make_shared<file_state>();
    slot->path = path;
    slot->dir_entry_synced = !created;
  }
  return slot;
}

errc fault_fs::open(const std::string& path, open_mode mode, std::unique_ptr<file>& out) {
  std::lock_guard guard{mtx_};
  if (auto e = check_alive(); e != errc::ok)
    return e;
  bool existed = base_.exists(path);
  std::unique_ptr<file> real;
  if (auto e = base_.open(path, mode, real); e != errc::ok)
    return e;
  bool tracked = files_.count(path) != 0;
  auto st = state_for(path, !existed);
  if (existed && !tracked)
    st->synced = real->size(); // a file from before this fault_fs existed counts as durable
  out = std::make_unique<fault_file>(*this, std::move(real), std::move(st));
  return errc::ok;
}

errc fault_fs::rename(const std::string& from, const std::string& to) {
  std::lock_guard guard{mtx_};
  if (auto e = check_alive(); e != errc::ok)
    return e;
  if (auto e = base_.rename(from, to); e != errc::ok)
    return e;
  if (auto i = files_.find(from); i != files_.end()) {
    auto st = i->second;
    files_.erase(i);
    st->path = to;
    st->dir_entry_synced = true; // renames count as durable at once (see header)
    st->dir_entry_lost = false;
    files_[to] = st;
  }
  return errc::ok;
}

errc fault_fs::remove(const std::string& path) {
  std::lock_guard guard{mtx_};
  if (auto e = check_alive(); e != errc::ok)
    return e;
  files_.erase(path);
  return base_.remove(path);
}

errc fault_fs::create_dirs(const std::string& path) {
  std::lock_guard guard{mtx_};
  if (auto e = check_alive(); e != errc::ok)
    return e;
  return base_.create_dirs(path);
}

errc fault_fs::sync_dir(const std::string& path) {
  auto dir = std::filesystem::path(path).lexically_normal();
  auto in_dir = [&dir](const file_state& st) {
    return std::filesystem::path(st.path).parent_path().lexically_normal() == dir;
  };
  std::vector<std::shared_ptr<file_state>> covered;
  std::function<void(const std::string&)> hook;
  bool inject = false;
  {
    std::lock_guard guard{mtx_};
    if (auto e = check_alive(); e != errc::ok)
      return e;
    ++dir_sync_calls_;
    inject = fail_at_dir_call_ != 0 && dir_sync_calls_ == fail_at_dir_call_;
    for (auto& [name, st] : files_)
      if (!st->dir_entry_synced && in_dir(*st))
        covered.push_back(st);
    hook = dir_sync_hook_;
  }
  if (hook)
    hook(path);
  auto e = inject ? errc::io_error : base_.sync_dir(path);
  std::lock_guard guard{mtx_};
  if (dead_)
    return errc::closed;
  if (e != errc::ok) {
    if (inject)
      log_warning("fault_fs: failing directory sync #{} of {} on purpose", dir_sync_calls_, path);
    // As with files: the entries it should have written are not written by a later sync.
    for (auto& st : covered)
      if (!st->dir_entry_synced && in_dir(*st))
        st->dir_entry_lost = true;
    return e;
  }
  for (auto& st : covered)
    if (!st->dir_entry_lost)
      st->dir_entry_synced = true;
  return errc::ok;
}

errc fault_fs::list(const std::string& path, std::vector<std::string>& out) {
  std::lock_guard guard{mtx_};
  if (auto e = check_alive(); e != errc::ok)
    return e;
  return base_.list(path, out);
}

bool fault_fs::exists(const std::string& path) {
  std::lock_guard guard{mtx_};
  return !dead_ && base_.exists(path);
}

void fault_fs::power_cut(tear_mode mode) {
  std::lock_guard guard{mtx_};
  if (dead_)
    return;
  dead_ = true;
  for (auto& [path, st] : files_) {
    if (!st->dir_entry_synced || st->dir_entry_lost) {
      std::error_code ec;
      std::filesystem::remove(path, ec);
      continue;
    }
    std::unique_ptr<file> f;
    if (base_.open(path, open_mode::read_write, f) != errc::ok)
      continue;
    auto zero = [&f](uint64_t from, uint64_t to) {
      std::vector<char> zeros(to - from, 0);
      (void) f->write_at(from, zeros);
    };
    // The tail written since the last sync.
    auto end = f->size();
    if (end > st->synced) {
      auto unsynced = end - st->synced;
      switch (mode) {
        case tear_mode::drop:
          end = st->synced;
          (void) f->truncate(end);
          break;
        case tear_mode::random_prefix: {
          std::uniform_int_distribution<uint64_t> dist(0, unsynced);
          end = st->synced + dist(rng_);
          (void) f->truncate(end);
          break;
        }
        case tear_mode::zero_fill:
          zero(st->synced, end);
          break;
      }
    }
    // Ranges a failed sync covered: not on disk even where a later sync moved `synced` past
    // them. Last first, so a lost tail shortens the file before the range before it is looked at.
    for (auto r = st->lost.rbegin(); r != st->lost.rend(); ++r) {
      auto b = r->begin;
      auto e = std::min(r->end, end);
      if (b >= e)
        continue;
      if (mode == tear_mode::zero_fill) {
        zero(b, e);
        continue;
      }
      auto keep = b;
      if (mode == tear_mode::random_prefix) {
        std::uniform_int_distribution<uint64_t> dist(0, e - b);
        keep = b + dist(rng_);
      }
      if (e == end) {
        end = keep;
        (void) f->truncate(end);
      } else {
        zero(keep, e);
      }
    }
    (void) f->sync();
  }
}

void fault_fs::fail_nth_sync(uint64_t n) {
  std::lock_guard guard{mtx_};
  fail_at_call_ = n == 0 ? 0 : sync_calls_ + n;
}

void fault_fs::fail_nth_dir_sync(uint64_t n) {
  std::lock_guard guard{mtx_};
  fail_at_dir_call_ = n == 0 ? 0 : dir_sync_calls_ + n;
}

void fault_fs::set_dir_sync_hook(std::function<void(const std::string& dir)> hook) {
  std::lock_guard guard{mtx_};
  dir_sync_hook_ = std::move(hook);
}

void fault_fs::set_sync_delay(std::chrono::milliseconds d) {
  std::lock_guard guard{mtx_};
  delay_ = d;
}

uint64_t fault_fs::sync_count() const {
  std::lock_guard guard{mtx_};
  return syncs_;
}

bool fault_fs::powered_off() const {
  std::lock_guard guard{mtx_};
  return dead_;
}

} // namespace holdfast
