#include "runtime/index_file_cache.hpp"

#include "runtime/assert.hpp"
#include "runtime/log.hpp"

#include <algorithm>

namespace holdfast {

index_file_cache::index_file_cache(file_system& fs, size_t capacity)
  : fs_(fs), capacity_(std::max<size_t>(capacity, 1)) {
}

errc index_file_cache::get(const std::string& path, access a, std::shared_ptr<file>& out) {
  if (a == access::write && failed_)
    return errc::sticky_failure;
  if (auto i = map_.find(path); i != map_.end()) {
    lru_.splice(lru_.begin(), lru_, i->second);
  } else {
    if (auto e = make_room(); e != errc::ok)
      return e;
    std::unique_ptr<file> f;
    if (auto e = fs_.open(path, open_mode::read_write, f); e != errc::ok)
      return e;
    lru_.push_front(entry{path, std::shared_ptr<file>(std::move(f)), 0});
    map_.emplace(path, lru_.begin());
  }
  HF_ASSERT(map_.size() <= capacity_, "index_file_cache: {} handles open, bound {}", map_.size(),
            capacity_);
  auto& ent = lru_.front();
  if (a == access::write)
    ent.written = ++generation_; // before the write: a failed one may still have left bytes
  out = ent.f;
  return errc::ok;
}

errc index_file_cache::make_room() {
  while (map_.size() >= capacity_) {
    // The least recently used clean handle; only if there is none, the least recently used.
    auto victim = std::prev(lru_.end());
    for (auto i = lru_.rbegin(); i != lru_.rend(); ++i) {
      if (i->written == 0) {
        victim = std::prev(i.base());
        break;
      }
    }
    if (victim->written != 0 && !failed_) {
      ++eviction_syncs_;
      if (auto e = victim->f->sync(); e != errc::ok) {
        // Never retried as if it could succeed (fsyncgate): the pages may be gone already.
        log_error("index files: fsync of {} before closing it failed ({}); refusing every "
                  "write until restart",
                  victim->path, to_string(e));
        failed_ = true;
        map_.erase(victim->path);
        lru_.erase(victim);
        ++evictions_;
        return e;
      }
    }
    ++evictions_;
    map_.erase(victim->path);
    lru_.erase(victim);
  }
  return errc::ok;
}

std::vector<index_file_cache::dirty_file> index_file_cache::dirty_files(uint64_t& generation) const {
  generation = generation_;
  std::vector<dirty_file> out;
  for (auto& ent : lru_)
    if (ent.written != 0)
      out.push_back(dirty_file{ent.path, ent.f});
  return out;
}

void index_file_cache::mark_synced(const std::vector<std::string>& paths, uint64_t generation) {
  for (auto& p : paths)
    if (auto i = map_.find(p); i != map_.end() && i->second->written <= generation)
      i->second->written = 0;
}

errc index_file_cache::sync(const std::string& path) {
  auto i = map_.find(path);
  if (i == map_.end() || i->second->written == 0)
    return errc::ok;
  if (failed_)
    return errc::sticky_failure;
  if (auto e = i->second->f->sync(); e != errc::ok) {
    failed_ = true;
    return e;
  }
  i->second->written = 0;
  return errc::ok;
}

} // namespace holdfast
