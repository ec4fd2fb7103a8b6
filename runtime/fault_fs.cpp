#include "runtime/fault_fs.hpp"

#include "runtime/log.hpp"

#include <filesystem>
#include <thread>
#include <vector>

namespace holdfast {

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
    if (fs_.full_ && !data.empty())
      return half_then_no_space(real_->size(), data);
    return real_->append(data);
  }

  errc write_at(uint64_t pos, std::span<const char> data) override {
    std::lock_guard guard{fs_.mtx_};
    if (auto e = fs_.check_alive(); e != errc::ok)
      return e;
    // Overwriting synced bytes makes them unsynced again.
    st_->synced = std::min(st_->synced, pos);
    if (fs_.full_ && pos + data.size() > real_->size())
      return half_then_no_space(pos, data);
    return real_->write_at(pos, data);
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
    {
      std::lock_guard guard{fs_.mtx_};
      if (auto e = fs_.before_sync(delay); e != errc::ok)
        return e;
      captured = real_->size();
    }
    if (delay.count() > 0)
      std::this_thread::sleep_for(delay);
    if (auto e = real_->sync(); e != errc::ok)
      return e;
    std::lock_guard guard{fs_.mtx_};
    return fs_.after_sync(*st_, captured);
  }

  errc truncate(uint64_t size) override {
    std::lock_guard guard{fs_.mtx_};
    if (auto e = fs_.check_alive(); e != errc::ok)
      return e;
    st_->synced = std::min(st_->synced, size);
    return real_->truncate(size);
  }

  uint64_t size() const override {
    return real_->size();
  }

private:
  errc half_then_no_space(uint64_t pos, std::span<const char> data) {
    (void) real_->write_at(pos, data.first(data.size() / 2));
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

errc fault_fs::before_sync(std::chrono::milliseconds& delay) {
  if (dead_)
    return errc::closed;
  ++sync_calls_;
  if (fail_at_call_ != 0 && sync_calls_ == fail_at_call_) {
    log_warning("fault_fs: failing sync #{} on purpose", sync_calls_);
    return errc::io_error;
  }
  delay = delay_;
  return errc::ok;
}

errc fault_fs::after_sync(file_state& st, uint64_t captured) {
  // A power cut that happened while the real fdatasync ran makes its outcome unknown: report
  // failure so nobody acknowledges bytes that power_cut() may already have dropped.
  if (dead_)
    return errc::closed;
  st.synced = std::max(st.synced, captured);
  ++syncs_;
  return errc::ok;
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
  std::lock_guard guard{mtx_};
  if (auto e = check_alive(); e != errc::ok)
    return e;
  if (auto e = base_.sync_dir(path); e != errc::ok)
    return e;
  auto dir = std::filesystem::path(path).lexically_normal();
  for (auto& [name, st] : files_)
    if (std::filesystem::path(name).parent_path().lexically_normal() == dir)
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
    if (!st->dir_entry_synced) {
      std::error_code ec;
      std::filesystem::remove(path, ec);
      continue;
    }
    std::unique_ptr<file> f;
    if (base_.open(path, open_mode::read_write, f) != errc::ok)
      continue;
    auto size = f->size();
    if (size <= st->synced)
      continue;
    auto unsynced = size - st->synced;
    switch (mode) {
      case tear_mode::drop:
        (void) f->truncate(st->synced);
        break;
      case tear_mode::random_prefix: {
        std::uniform_int_distribution<uint64_t> dist(0, unsynced);
        (void) f->truncate(st->synced + dist(rng_));
        break;
      }
      case tear_mode::zero_fill: {
        std::vector<char> zeros(unsynced, 0);
        (void) f->write_at(st->synced, zeros);
        break;
      }
    }
    (void) f->sync();
  }
}

void fault_fs::fail_nth_sync(uint64_t n) {
  std::lock_guard guard{mtx_};
  fail_at_call_ = n == 0 ? 0 : sync_calls_ + n;
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
