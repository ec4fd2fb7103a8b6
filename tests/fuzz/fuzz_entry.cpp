#include "tests/fuzz/fuzz_entry.hpp"

#include "config/loader.hpp"
#include "runtime/commit_log.hpp"
#include "runtime/crc32c.hpp"
#include "runtime/file.hpp"
#include "runtime/log.hpp"
#include "runtime/record.hpp"
#include "runtime/set_state.hpp"
#include "runtime/store.hpp"

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <unistd.h>

namespace holdfast::fuzz {

namespace {

// One scratch directory per process, emptied for every input. On tmpfs (/dev/shm) when there
// is one: recovery fsyncs, and a real fsync per input would slow the fuzzer a hundredfold.
const std::string& scratch() {
  // Never destroyed: the atexit cleanup below runs after static destructors would have.
  static const std::string* dir = [] {
    std::string base = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    auto* path = new std::string(base + "/holdfast-fuzz-XXXXXX");
    if (::mkdtemp(path->data()) == nullptr)
      std::abort();
    set_log_level(log_level::error); // recovery's warnings are expected here, by the thousand
    return path;
  }();
  static const bool cleanup_registered = [] {
    return std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(*dir, ec);
    }) == 0;
  }();
  (void) cleanup_registered;
  return *dir;
}

void write_file(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

uint32_t get32(const char* p) {
  uint32_t x;
  std::memcpy(&x, p, 4);
  return x;
}

// Gives every record the bytes frame a correct crc, so the fuzzer gets past the checksum.
void fix_crcs(std::string& b) {
  size_t pos = 0;
  while (pos + record::header_size <= b.size()) {
    uint32_t len = get32(b.data() + pos + 4);
    if (len < record::header_size || len > b.size() - pos)
      break;
    uint32_t crc = crc32c::mask(crc32c::value(b.data() + pos + 4, len - 4));
    std::memcpy(b.data() + pos, &crc, 4);
    pos += len;
  }
}

// What the store holds after recovery, to compare two recoveries.
struct snapshot {
  uint64_t start = 0, end = 0;
  std::map<std::string, std::vector<uint64_t>> queue_ends;
  bool operator==(const snapshot&) const = default;
};

// Walks the recovered log record by record and checks each against its queue. Empty when fine.
std::string check_store(message_store& st, const recovery_report& rep, snapshot& snap) {
  auto& log = *st.log();
  snap.start = log.start_offset();
  snap.end = log.write_offset();
  if (rep.end_offset != snap.end)
    return "report.end_offset " + std::to_string(rep.end_offset) + " != write_offset "
           + std::to_string(snap.end);
  if (log.flushed_offset() != snap.end)
    return "recovery left flushed_offset != write_offset";
  std::map<std::pair<std::string, int32_t>, uint64_t> seen;
  std::string head, rec;
  for (uint64_t pos = snap.start; pos < snap.end;) {
    if (log.read(pos, 8, head) != errc::ok)
      return "cannot read the header at " + std::to_string(pos);
    auto len = record::peek_length(head);
    if (len < record::header_size || pos + len > snap.end)
      return "a kept record at " + std::to_string(pos) + " has a bad length";
    if (log.read(pos, len, rec) != errc::ok)
      return "cannot read the kept record at " + std::to_string(pos);
    record::view v;
    if (auto s = record::decode(rec, v); s != record::decode_status::ok)
      return "a kept record at " + std::to_string(pos) + " does not decode: "
             + std::string(record::to_string(s));
    if (v.f.commit_log_offset != pos)
      return "a kept record claims offset " + std::to_string(v.f.commit_log_offset) + " at "
             + std::to_string(pos);
    std::string topic(v.topic);
    if (!valid_topic_name(topic))
      return "a kept record has an invalid topic name";
    auto& n = seen[{topic, v.f.queue_id}];
    if (v.f.queue_offset != n)
      return "queue offsets are not dense";
    ++n;
    std::vector<stored_message> msgs;
    uint64_t next = 0;
    if (st.read(topic, v.f.queue_id, v.f.queue_offset, 1, snap.end, msgs, next) != errc::ok
        || msgs.size() != 1 || msgs[0].commit_log_offset != pos)
      return "record at " + std::to_string(pos) + " is not reachable through its queue";
    pos += len;
  }
  for (auto& [key, n] : seen)
    if (st.queue_end(key.first, key.second) != n)
      return "queue end of " + key.first + " disagrees with the log";
  for (auto& t : st.topics())
    snap.queue_ends[t.name] = t.queue_ends;
  return {};
}

std::string reopen_same(const std::string& root, const snapshot& want, const char* when) {
  std::unique_ptr<message_store> st;
  recovery_report rep;
  if (auto e = message_store::open(posix_fs(), store_options{root, 1ull << 20, 4u << 20, 4}, st,
                                   rep);
      e != errc::ok)
    return std::string("second recovery ") + when + " failed: " + std::string(to_string(e));
  if (rep.truncated_bytes != 0 || !rep.moved_aside.empty())
    return std::string("second recovery ") + when + " cut more off the log";
  snapshot again;
  if (auto err = check_store(*st, rep, again); !err.empty())
    return std::string("second recovery ") + when + ": " + err;
  if (!(again == want))
    return std::string("second recovery ") + when + " sees a different log";
  return {};
}

} // namespace

std::string recovery_one(std::span<const char> input) {
  if (input.size() < 3)
    return {};
  auto flags = static_cast<uint8_t>(input[0]);
  uint16_t split;
  std::memcpy(&split, input.data() + 1, 2);
  std::string bytes(input.begin() + 3, input.end());
  if (flags & 2)
    fix_crcs(bytes);

  auto root = scratch() + "/store";
  std::error_code ec;
  std::filesystem::remove_all(root, ec);
  std::filesystem::create_directories(root + "/commitlog");
  if ((flags & 1) && !bytes.empty()) {
    size_t at = split % bytes.size();
    write_file(root + "/commitlog/" + segment_name(0), std::string_view(bytes).substr(0, at));
    write_file(root + "/commitlog/" + segment_name(at), std::string_view(bytes).substr(at));
  } else {
    write_file(root + "/commitlog/" + segment_name(0), bytes);
  }
  if (flags & 4) {
    // A checkpoint claiming an arbitrary offset, with a valid checksum (store.cpp's format),
    // over indexes that a first recovery built. (Without those index files, records below the
    // checkpoint in queues with nothing above it cannot be found: losing consumequeue/ is
    // outside the crash model, see docs/hostile-input.md.)
    {
      std::unique_ptr<message_store> st;
      recovery_report rep;
      if (message_store::open(posix_fs(), store_options{root, 1ull << 20, 4u << 20, 4}, st, rep)
          != errc::ok)
        return {};
    }
    std::string cp(20, '\0');
    uint64_t magic = 0x484f4c44464b5031ull, off = split;
    std::memcpy(cp.data(), &magic, 8);
    std::memcpy(cp.data() + 8, &off, 8);
    uint32_t crc = crc32c::mask(crc32c::value(cp.data(), 16));
    std::memcpy(cp.data() + 16, &crc, 4);
    write_file(root + "/checkpoint", cp);
  }

  snapshot snap;
  {
    std::unique_ptr<message_store> st;
    recovery_report rep;
    // A 1 MiB segment size: inputs are far smaller, but a kept segment may exceed it.
    auto e = message_store::open(posix_fs(), store_options{root, 1ull << 20, 4u << 20, 4}, st,
                                 rep);
    if (e != errc::ok)
      return {}; // refusing to start is a clear error (e.g. indexes that cannot be rebuilt)
    if (auto err = check_store(*st, rep, snap); !err.empty())
      return err;
  } // dropped without close(): a crash
  if (auto err = reopen_same(root, snap, "after a crash"); !err.empty())
    return err;
  {
    std::unique_ptr<message_store> st;
    recovery_report rep;
    if (message_store::open(posix_fs(), store_options{root, 1ull << 20, 4u << 20, 4}, st, rep)
          != errc::ok
        || st->close() != errc::ok)
      return "could not open and close the recovered store";
  }
  return reopen_same(root, snap, "after a clean stop");
}

std::string config_one(std::string_view input) {
  config::load_result r;
  constexpr std::string_view set_prefix = "--set\n";
  if (input.substr(0, set_prefix.size()) == set_prefix) {
    std::vector<std::string> sets;
    std::string_view rest = input.substr(set_prefix.size());
    while (!rest.empty()) {
      auto nl = rest.find('\n');
      sets.emplace_back(rest.substr(0, nl));
      rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    }
    r = config::parse_broker_config("", "fuzz.toml", sets);
  } else {
    r = config::parse_broker_config(input, "fuzz.toml");
  }
  if (!r.ok()) {
    if (r.error_text().empty())
      return "a refused config has no error text";
    return {};
  }
  auto printed = config::to_toml(r.config);
  auto again = config::parse_broker_config(printed, "printed.toml");
  if (!again.ok())
    return "an accepted config prints as TOML that does not load: " + again.error_text();
  if (config::to_toml(again.config) != printed)
    return "an accepted config does not survive print and parse";
  return {};
}

namespace {

// decode, and for an accepted text: encode gives the same bytes back and decodes to the same
// value (the encoding is unique); a refused one says why.
template <class T>
std::string round_trip(std::string_view input) {
  T value;
  auto s = decode(input, value);
  if (!s.ok())
    return s.context().empty() ? "a refused input has no reason" : "";
  std::string text;
  if (auto e = encode(value, text); !e.ok())
    return "an accepted input does not encode: " + e.context();
  if (text != input)
    return "an accepted input is not the unique encoding of its value: " + text;
  T again;
  if (!decode(text, again).ok() || !(again == value))
    return "an accepted input does not survive encode and decode";
  return {};
}

} // namespace

std::string set_state_one(std::string_view input) {
  // The first line decides which node the text claims to be; both decoders see every input,
  // so each also meets the other's (and any) text.
  auto a = round_trip<broker_set_state>(input);
  if (!a.empty())
    return "set state: " + a;
  auto b = round_trip<broker_member>(input);
  if (!b.empty())
    return "member: " + b;
  return {};
}

std::string sample_log(int records, int body_size) {
  std::string out;
  std::map<std::pair<std::string, int32_t>, uint64_t> next;
  for (int i = 0; i < records; ++i) {
    message m;
    m.topic = i % 3 == 0 ? "orders" : "%RETRY%g-1";
    m.queue_id = i % 2;
    m.msg_id = "id-" + std::to_string(i);
    if (i % 2 == 0)
      m.properties["KEYS"] = "k" + std::to_string(i);
    m.body.assign(static_cast<size_t>(body_size), static_cast<char>('a' + i % 26));
    record::fields f;
    f.queue_id = m.queue_id;
    f.commit_log_offset = out.size();
    f.queue_offset = next[{m.topic, m.queue_id}]++;
    f.store_timestamp_ms = 1700000000000 + i;
    record::encode(m, f, out);
  }
  return out;
}

} // namespace holdfast::fuzz
