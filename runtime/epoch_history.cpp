#include "runtime/epoch_history.hpp"

#include "runtime/crc32c.hpp"

#include <cstring>

namespace holdfast {

namespace {

constexpr uint64_t magic = 0x4844464550434831ull; // "HDFEPCH1"
constexpr size_t entry_size = 24;

void put64(std::string& out, uint64_t v) {
  char b[8];
  std::memcpy(b, &v, 8);
  out.append(b, 8);
}

uint64_t get64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// magic | count | entries (epoch, term, start) | masked crc32c of everything before it.
std::string encode(const std::vector<leader_epoch>& entries) {
  std::string out;
  put64(out, magic);
  put64(out, entries.size());
  for (auto& e : entries) {
    put64(out, e.epoch);
    put64(out, e.term);
    put64(out, e.start_offset);
  }
  uint32_t crc = crc32c::mask(crc32c::value(out.data(), out.size()));
  char b[4];
  std::memcpy(b, &crc, 4);
  out.append(b, 4);
  return out;
}

bool decode(const std::string& in, std::vector<leader_epoch>& out) {
  if (in.size() < 20)
    return false;
  auto n = get64(in.data() + 8);
  if (get64(in.data()) != magic || n > (1u << 20) || in.size() != 16 + n * entry_size + 4)
    return false;
  uint32_t crc;
  std::memcpy(&crc, in.data() + in.size() - 4, 4);
  if (crc32c::unmask(crc) != crc32c::value(in.data(), in.size() - 4))
    return false;
  out.clear();
  for (size_t i = 0; i < n; ++i) {
    auto p = in.data() + 16 + i * entry_size;
    leader_epoch e{get64(p), get64(p + 8), get64(p + 16)};
    if (!out.empty() && (e.epoch <= out.back().epoch || e.start_offset <= out.back().start_offset))
      return false;
    out.push_back(e);
  }
  return true;
}

} // namespace

errc epoch_history::open(file_system& fs, std::string path, std::unique_ptr<epoch_history>& out) {
  std::unique_ptr<epoch_history> h{new epoch_history(fs, std::move(path))};
  if (fs.exists(h->path_)) {
    std::string bytes;
    if (auto e = read_whole_file(fs, h->path_, bytes); e != errc::ok)
      return e;
    if (!decode(bytes, h->entries_))
      return errc::corrupt;
  }
  out = std::move(h);
  return errc::ok;
}

std::optional<leader_epoch> epoch_history::last() const {
  if (entries_.empty())
    return std::nullopt;
  return entries_.back();
}

errc epoch_history::persist(std::vector<leader_epoch> next) {
  auto bytes = encode(next);
  if (auto e = write_file_atomically(fs_, path_, bytes); e != errc::ok)
    return e;
  entries_ = std::move(next);
  return errc::ok;
}

errc epoch_history::append(const leader_epoch& e) {
  auto next = entries_;
  while (!next.empty() && next.back().start_offset >= e.start_offset)
    next.pop_back();
  if (!next.empty() && next.back().epoch >= e.epoch)
    return errc::invalid_argument;
  next.push_back(e);
  return persist(std::move(next));
}

errc epoch_history::truncate_to(uint64_t offset) {
  auto next = entries_;
  while (!next.empty() && next.back().start_offset >= offset)
    next.pop_back();
  if (next.size() == entries_.size())
    return errc::ok;
  return persist(std::move(next));
}

epoch_history::verdict epoch_history::divergence(uint64_t epoch, uint64_t term,
                                                 uint64_t slave_end, uint64_t log_end) const {
  // Where the slave's newest term ends here: the next term's start, or our log end.
  std::optional<uint64_t> end;
  if (epoch == 0) {
    // A slave without terms holds only records older than every term (a log from before
    // epochs existed, or nothing): they end where our first term starts.
    end = entries_.empty() ? log_end : entries_.front().start_offset;
  } else {
    for (size_t i = 0; i < entries_.size(); ++i) {
      if (entries_[i].epoch == epoch && entries_[i].term == term) {
        end = i + 1 < entries_.size() ? entries_[i + 1].start_offset : log_end;
        break;
      }
    }
  }
  if (!end)
    return verdict{true, true, 0}; // a term this log never had: all of it must go
  if (slave_end <= *end)
    return verdict{};
  return verdict{true, false, *end};
}

std::vector<leader_epoch> epoch_history::starting_in(uint64_t from, uint64_t to) const {
  std::vector<leader_epoch> out;
  for (auto& e : entries_)
    if (e.start_offset >= from && e.start_offset < to)
      out.push_back(e);
  return out;
}

} // namespace holdfast
