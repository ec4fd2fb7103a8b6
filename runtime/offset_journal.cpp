#include "runtime/offset_journal.hpp"

#include "runtime/crc32c.hpp"
#include "runtime/log.hpp"

#include <filesystem>
#include <vector>

namespace holdfast {

namespace {

constexpr uint8_t record_type_entries = 1; // zero is never written: a zero tail is recognisable

void put_u32(char* out, uint32_t x) {
  for (int i = 0; i < 4; ++i)
    out[i] = static_cast<char>((x >> (8 * i)) & 0xff);
}

uint32_t get_u32(const char* in) {
  uint32_t x = 0;
  for (int i = 0; i < 4; ++i)
    x |= uint32_t{static_cast<unsigned char>(in[i])} << (8 * i);
  return x;
}

std::string dir_of(const std::string& path) {
  auto parent = std::filesystem::path(path).parent_path().string();
  return parent.empty() ? "." : parent;
}

/// Writes a fresh journal (just the magic) at `path` and makes it and its name durable.
errc create(file_system& fs, const std::string& path, std::unique_ptr<file>& out) {
  if (auto e = fs.open(path, open_mode::read_write, out); e != errc::ok)
    return e;
  if (auto e = out->truncate(0); e != errc::ok)
    return e;
  if (auto e = out->append({offset_journal::magic.data(), offset_journal::magic.size()});
      e != errc::ok)
    return e;
  if (auto e = out->sync(); e != errc::ok)
    return e;
  return fs.sync_dir(dir_of(path));
}

} // namespace

offset_journal::offset_journal(std::unique_ptr<file> f, std::string path)
  : file_(std::move(f)), path_(std::move(path)) {
}

errc offset_journal::open(file_system& fs, std::string path,
                          const std::function<bool(std::string_view)>& apply,
                          std::unique_ptr<offset_journal>& out, replay_report& report) {
  out.reset();
  report = {};
  std::unique_ptr<file> f;
  std::string bytes;
  if (fs.exists(path)) {
    if (auto e = read_whole_file(fs, path, bytes); e != errc::ok)
      return e;
  }
  // A journal shorter than its magic, or zeros where the magic goes, is one whose creation a
  // crash interrupted before its first sync: it never held a record.
  bool fresh = bytes.size() < header_size
               || bytes.substr(0, header_size) == std::string(header_size, '\0');
  if (fresh) {
    if (auto e = create(fs, path, f); e != errc::ok)
      return e;
    out.reset(new offset_journal(std::move(f), std::move(path)));
    out->end_ = out->synced_ = header_size;
    return errc::ok;
  }
  if (std::string_view(bytes.data(), header_size) != magic)
    return errc::corrupt;
  size_t pos = header_size;
  while (pos < bytes.size()) {
    auto left = bytes.size() - pos;
    if (left < record_header_size) {
      report.why = "a record header is incomplete";
      break;
    }
    auto length = get_u32(bytes.data() + pos + 4);
    auto type = static_cast<uint8_t>(bytes[pos + 8]);
    if (length == 0 && type == 0) {
      report.why = "zeros where a record should start";
      break;
    }
    if (length < record_header_size || length > max_record_size || type != record_type_entries) {
      report.why = "a record's length or type is impossible";
      break;
    }
    if (length > left) {
      report.why = "the last record is incomplete";
      break;
    }
    auto crc = crc32c::value(bytes.data() + pos + 4, length - 4);
    if (crc32c::unmask(get_u32(bytes.data() + pos)) != crc) {
      report.why = "a record fails its checksum";
      break;
    }
    std::string_view payload(bytes.data() + pos + record_header_size,
                             length - record_header_size);
    if (!apply(payload)) {
      report.why = "a record's checksum matches but its content does not decode";
      break;
    }
    ++report.records;
    pos += length;
  }
  if (auto e = fs.open(path, open_mode::read_write, f); e != errc::ok)
    return e;
  if (pos < bytes.size()) {
    report.dropped_bytes = bytes.size() - pos;
    // Cut now, durably: the next record goes at `pos`, and a reader must not find the old
    // garbage behind it after another crash.
    if (auto e = f->truncate(pos); e != errc::ok)
      return e;
    if (auto e = f->sync(); e != errc::ok)
      return e;
  }
  out.reset(new offset_journal(std::move(f), std::move(path)));
  out->end_ = out->synced_ = pos;
  return errc::ok;
}

errc offset_journal::append(std::string_view payload) {
  if (failed_)
    return errc::sticky_failure;
  if (payload.size() > max_record_size - record_header_size)
    return errc::too_large;
  auto length = static_cast<uint32_t>(record_header_size + payload.size());
  std::string rec(length, '\0');
  put_u32(rec.data() + 4, length);
  rec[8] = static_cast<char>(record_type_entries);
  std::copy(payload.begin(), payload.end(), rec.begin() + record_header_size);
  put_u32(rec.data(), crc32c::mask(crc32c::value(rec.data() + 4, length - 4)));
  if (auto e = file_->write_at(end_, rec); e != errc::ok) {
    // A full disk may have taken part of the record: cut it off, or the next record would
    // start behind garbage and recovery would stop before it.
    if (file_->truncate(end_) != errc::ok) {
      log_error("consumer offsets journal {}: cannot cut back a failed append; refusing every "
                "later commit until restart",
                path_);
      failed_ = true;
    }
    return e;
  }
  end_ += length;
  return errc::ok;
}

errc offset_journal::sync() {
  if (failed_)
    return errc::sticky_failure;
  if (auto e = file_->sync(); e != errc::ok) {
    log_error("consumer offsets journal {}: fsync failed ({}); refusing every later commit "
              "until restart",
              path_, to_string(e));
    failed_ = true;
    return e;
  }
  synced_ = end_;
  return errc::ok;
}

errc offset_journal::reset() {
  if (failed_)
    return errc::sticky_failure;
  if (auto e = file_->truncate(header_size); e != errc::ok)
    return e;
  end_ = header_size;
  return sync();
}

} // namespace holdfast
