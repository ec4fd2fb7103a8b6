#include "runtime/queue_index.hpp"

#include <cstring>

namespace holdfast {

namespace {

// 256 entries = 4 KiB, one page per write.
constexpr size_t flush_batch = 256;

void encode_entry(const index_entry& e, char* p) {
  std::memcpy(p, &e.commit_log_offset, 8);
  std::memcpy(p + 8, &e.size, 4);
  std::memset(p + 12, 0, 4);
}

index_entry decode_entry(const char* p) {
  index_entry e;
  std::memcpy(&e.commit_log_offset, p, 8);
  std::memcpy(&e.size, p + 8, 4);
  return e;
}

} // namespace

queue_index::queue_index(index_file_cache& files, std::string path, uint64_t n)
  : files_(files), path_(std::move(path)), durable_count_(n) {
}

errc queue_index::open(index_file_cache& files, const std::string& path,
                       std::unique_ptr<queue_index>& out) {
  std::shared_ptr<file> f;
  if (auto e = files.get(path, index_file_cache::access::read, f); e != errc::ok)
    return e;
  auto n = f->size() / entry_size;
  if (f->size() % entry_size != 0) {
    if (auto e = files.get(path, index_file_cache::access::write, f); e != errc::ok)
      return e;
    if (auto e = f->truncate(n * entry_size); e != errc::ok)
      return e;
  }
  out.reset(new queue_index(files, path, n));
  return errc::ok;
}

void queue_index::append(index_entry e) {
  pending_.push_back(e);
  if (pending_.size() >= flush_batch)
    (void) flush(); // a failed write stays pending and is retried by the next flush
}

errc queue_index::flush() {
  if (pending_.empty())
    return errc::ok;
  std::string buf(pending_.size() * entry_size, '\0');
  for (size_t i = 0; i < pending_.size(); ++i)
    encode_entry(pending_[i], buf.data() + i * entry_size);
  std::shared_ptr<file> f;
  if (auto e = files_.get(path_, index_file_cache::access::write, f); e != errc::ok)
    return e;
  if (auto e = f->write_at(durable_count_ * entry_size, buf); e != errc::ok)
    return e;
  durable_count_ += pending_.size();
  pending_.clear();
  return errc::ok;
}

errc queue_index::sync() {
  if (auto e = flush(); e != errc::ok)
    return e;
  return files_.sync(path_);
}

errc queue_index::read(uint64_t from, size_t max, std::vector<index_entry>& out) const {
  out.clear();
  if (from >= count() || max == 0)
    return errc::ok;
  auto end = std::min<uint64_t>(count(), from + max);
  if (from < durable_count_) {
    auto n = std::min<uint64_t>(end, durable_count_) - from;
    std::string buf(n * entry_size, '\0');
    size_t got = 0;
    std::shared_ptr<file> f;
    if (auto e = files_.get(path_, index_file_cache::access::read, f); e != errc::ok)
      return e;
    if (auto e = f->read_at(from * entry_size, std::span<char>(buf.data(), buf.size()), got);
        e != errc::ok)
      return e;
    if (got != buf.size())
      return errc::corrupt;
    for (size_t i = 0; i < n; ++i)
      out.push_back(decode_entry(buf.data() + i * entry_size));
  }
  for (auto i = std::max(from, durable_count_); i < end; ++i)
    out.push_back(pending_[i - durable_count_]);
  return errc::ok;
}

errc queue_index::truncate(uint64_t n) {
  if (n >= count())
    return errc::ok;
  if (n >= durable_count_) {
    pending_.resize(n - durable_count_);
    return errc::ok;
  }
  pending_.clear();
  std::shared_ptr<file> f;
  if (auto e = files_.get(path_, index_file_cache::access::write, f); e != errc::ok)
    return e;
  if (auto e = f->truncate(n * entry_size); e != errc::ok)
    return e;
  durable_count_ = n;
  return errc::ok;
}

errc queue_index::truncate_from_log_offset(uint64_t offset) {
  // Entries before the checkpoint are synced and in commit-log order, but the tail past it may
  // be anything a power cut left: entries of records that no longer exist, or zero-filled
  // space (size 0). Walk back from the end, a block at a time, to the last entry that is both
  // real and below `offset`.
  constexpr size_t block = 256;
  auto n = count();
  std::vector<index_entry> buf;
  while (n > 0) {
    auto from = n > block ? n - block : 0;
    if (auto e = read(from, n - from, buf); e != errc::ok)
      return e;
    size_t keep = buf.size();
    while (keep > 0 && (buf[keep - 1].size == 0 || buf[keep - 1].commit_log_offset >= offset))
      --keep;
    if (keep > 0) {
      n = from + keep;
      break;
    }
    n = from;
  }
  return truncate(n);
}

} // namespace holdfast
