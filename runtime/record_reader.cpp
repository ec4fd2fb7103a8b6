#include "runtime/record_reader.hpp"

#include <algorithm>

namespace holdfast {

namespace {

// The length field ends here: fewer bytes say nothing about a record's size.
constexpr uint64_t length_end = 8;

} // namespace

record_reader::record_reader(std::shared_ptr<const file> f, uint64_t base, uint64_t from,
                             uint64_t end, options opts)
  : f_(std::move(f)), base_(base), from_(from), end_(end), opts_(opts), pos_(from),
    buf_pos_(from), last_(from) {
  if (!f_ || from < base || from > end) {
    error_ = errc::out_of_range;
    reason_ = stop_reason::read_error;
  }
}

record_reader record_reader::failed(uint64_t at, errc e) {
  record_reader r;
  r.from_ = r.end_ = r.pos_ = r.buf_pos_ = r.last_ = at;
  r.error_ = e;
  r.reason_ = stop_reason::read_error;
  return r;
}

bool record_reader::next(record::view& out) {
  if (reason_ != stop_reason::none)
    return false;
  for (;;) {
    if (pos_ >= end_)
      return stop(stop_reason::end);
    auto avail = buf_pos_ + buf_.size() - pos_;
    std::span<const char> data(buf_.data() + (pos_ - buf_pos_), avail);
    // How many bytes the record here needs before the decoder can judge it. An impossible
    // length (too small, or running past `end`) is judged at once on what is buffered.
    uint64_t need = std::min(length_end, end_ - pos_);
    bool plausible = true;
    if (avail >= length_end) {
      uint64_t len = record::peek_length(data);
      plausible = len >= record::header_size && len <= record::max_record_size
                  && len <= end_ - pos_;
      need = len;
      if (plausible && pos_ > from_ && pos_ - from_ + len > opts_.max_bytes)
        return stop(stop_reason::budget);
    }
    if (plausible && avail < need) {
      if (!refill(need))
        return false;
      continue;
    }
    auto st = record::decode(data, out);
    if (st == record::decode_status::ok && opts_.check_offsets
        && out.f.commit_log_offset != pos_)
      st = record::decode_status::bad_length;
    if (st != record::decode_status::ok) {
      status_ = st;
      return stop(stop_reason::bad_record);
    }
    last_ = pos_;
    last_len_ = out.length;
    pos_ += out.length;
    return true;
  }
}

bool record_reader::refill(uint64_t need) {
  uint64_t want = std::max<uint64_t>(opts_.chunk, need);
  if (opts_.max_bytes != UINT64_MAX) {
    auto left = pos_ - from_ < opts_.max_bytes ? opts_.max_bytes - (pos_ - from_) : 0;
    want = std::max(need, std::min(want, left));
  }
  want = std::min(want, end_ - pos_);
  buf_.resize(want);
  size_t n = 0;
  if (auto e = f_->read_at(pos_ - base_, std::span<char>(buf_.data(), want), n); e != errc::ok) {
    buf_.clear();
    buf_pos_ = pos_;
    error_ = e;
    return stop(stop_reason::read_error);
  }
  buf_.resize(n);
  buf_pos_ = pos_;
  if (n < need) {
    // The file is shorter than the log believes.
    error_ = errc::corrupt;
    return stop(stop_reason::read_error);
  }
  return true;
}

std::string_view to_string(record_reader::stop_reason x) noexcept {
  switch (x) {
    case record_reader::stop_reason::none: return "not stopped";
    case record_reader::stop_reason::end: return "end";
    case record_reader::stop_reason::budget: return "byte budget reached";
    case record_reader::stop_reason::bad_record: return "bad record";
    case record_reader::stop_reason::read_error: return "read error";
  }
  return "?";
}

} // namespace holdfast
