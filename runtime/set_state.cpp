#include "runtime/set_state.hpp"

#include <algorithm>
#include <charconv>

namespace holdfast {

namespace {

constexpr std::string_view state_magic = "holdfast-set-state v1";
constexpr std::string_view member_magic = "holdfast-member v1";

// Far above any real node (a full set of max_set_members long host names is under 10 KiB),
// checked before anything else so a huge input costs nothing.
constexpr size_t max_text_bytes = 16 * 1024;

bool is_host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.'
         || c == '-' || c == '_';
}

bool is_v6_char(char c) {
  return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || (c >= '0' && c <= '9') || c == ':'
         || c == '.';
}

// A decimal without sign or leading zeros that fits in `T`.
template <class T>
bool parse_number(std::string_view s, T& out) {
  if (s.empty() || (s.size() > 1 && s[0] == '0'))
    return false;
  if (!std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

// Walks the lines of an encoding, each "key value\n", in the order the caller asks for them.
class line_reader {
public:
  explicit line_reader(std::string_view text) : rest_(text) {}

  // The next line without its '\n'; false (with why_) at the end or on a line without one.
  bool next(std::string_view& line) {
    ++line_no_;
    if (rest_.empty())
      return fail("missing");
    auto nl = rest_.find('\n');
    if (nl == std::string_view::npos)
      return fail("does not end in a newline");
    line = rest_.substr(0, nl);
    rest_.remove_prefix(nl + 1);
    if (line.find('\r') != std::string_view::npos)
      return fail("contains a carriage return");
    return true;
  }

  // The value of the next line, which must be "<key> <value>".
  bool value(std::string_view key, std::string_view& v) {
    std::string_view line;
    if (!next(line))
      return false;
    if (line.size() <= key.size() || line.substr(0, key.size()) != key
        || line[key.size()] != ' ')
      return fail("is not '" + std::string(key) + " <value>'");
    v = line.substr(key.size() + 1);
    if (v.empty())
      return fail("has an empty value");
    return true;
  }

  bool at_end() {
    if (rest_.empty())
      return true;
    ++line_no_;
    return fail("is after the last key");
  }

  bool fail(const std::string& why) {
    why_ = "line " + std::to_string(line_no_) + " " + why;
    return false;
  }

  status error(std::string_view what) const {
    return {errc::corrupt, std::string(what) + ": " + why_};
  }

private:
  std::string_view rest_;
  int line_no_ = 0;
  std::string why_;
};

// Why `s` breaks an invariant of broker_set_state, or empty.
std::string check(const broker_set_state& s) {
  if (s.sync_state_set.size() > max_set_members)
    return "syncStateSet has " + std::to_string(s.sync_state_set.size())
           + " members, at most " + std::to_string(max_set_members) + " allowed";
  for (size_t i = 0; i < s.sync_state_set.size(); ++i) {
    auto& m = s.sync_state_set[i];
    if (!valid_broker_address(m))
      return "syncStateSet member '" + m + "' is not host:port";
    if (i > 0 && !(s.sync_state_set[i - 1] < m))
      return "syncStateSet is not sorted without duplicates at '" + m + "'";
  }
  if (!s.master.empty()) {
    if (!valid_broker_address(s.master))
      return "master '" + s.master + "' is not host:port";
    if (!std::binary_search(s.sync_state_set.begin(), s.sync_state_set.end(), s.master))
      return "master " + s.master + " is not in the syncStateSet";
  }
  return {};
}

std::string check(const broker_member& m) {
  if (!valid_broker_address(m.address))
    return "address '" + m.address + "' is not host:port";
  if (!valid_broker_address(m.ha_address))
    return "haAddress '" + m.ha_address + "' is not host:port";
  return {};
}

} // namespace

bool valid_broker_address(std::string_view a) noexcept {
  auto colon = a.rfind(':');
  if (colon == std::string_view::npos || colon == 0)
    return false;
  auto host = a.substr(0, colon);
  uint32_t port = 0;
  if (!parse_number(a.substr(colon + 1), port) || port == 0 || port > 65535)
    return false;
  if (host.front() == '[') {
    // "[v6]": at least one character between the brackets, none of them a bracket.
    return host.size() > 2 && host.size() <= 47 && host.back() == ']'
           && std::all_of(host.begin() + 1, host.end() - 1, is_v6_char);
  }
  return host.size() <= 253 && std::all_of(host.begin(), host.end(), is_host_char);
}

status encode(const broker_set_state& s, std::string& out) {
  if (auto why = check(s); !why.empty())
    return {errc::invalid_argument, "broker set state: " + why};
  out.clear();
  out += state_magic;
  out += "\nepoch " + std::to_string(s.epoch);
  out += "\nmaster " + (s.master.empty() ? std::string("-") : s.master);
  out += "\nsyncStateSet ";
  if (s.sync_state_set.empty())
    out += "-";
  for (size_t i = 0; i < s.sync_state_set.size(); ++i)
    out += (i ? "," : "") + s.sync_state_set[i];
  out += "\n";
  return {};
}

status decode(std::string_view text, broker_set_state& out) {
  constexpr std::string_view what = "broker set state";
  if (text.size() > max_text_bytes)
    return {errc::corrupt, std::string(what) + ": " + std::to_string(text.size())
                             + " bytes, at most " + std::to_string(max_text_bytes)};
  line_reader r(text);
  std::string_view line, v;
  if (!r.next(line))
    return r.error(what);
  if (line != state_magic) {
    r.fail("is not '" + std::string(state_magic) + "'");
    return r.error(what);
  }
  broker_set_state s;
  if (!r.value("epoch", v))
    return r.error(what);
  if (!parse_number(v, s.epoch)) {
    r.fail("epoch is not a number");
    return r.error(what);
  }
  if (!r.value("master", v))
    return r.error(what);
  if (v != "-")
    s.master = v;
  if (!r.value("syncStateSet", v))
    return r.error(what);
  if (v != "-") {
    for (;;) {
      if (s.sync_state_set.size() == max_set_members) {
        r.fail("syncStateSet has more than " + std::to_string(max_set_members) + " members");
        return r.error(what);
      }
      auto comma = v.find(',');
      s.sync_state_set.emplace_back(v.substr(0, comma));
      if (comma == std::string_view::npos)
        break;
      v.remove_prefix(comma + 1);
    }
  }
  if (!r.at_end())
    return r.error(what);
  if (auto why = check(s); !why.empty())
    return {errc::corrupt, std::string(what) + ": " + why};
  out = std::move(s);
  return {};
}

status encode(const broker_member& m, std::string& out) {
  if (auto why = check(m); !why.empty())
    return {errc::invalid_argument, "broker member: " + why};
  out.clear();
  out += member_magic;
  out += "\naddress " + m.address;
  out += "\nhaAddress " + m.ha_address;
  out += "\nlastEpoch " + std::to_string(m.last_epoch);
  out += "\nlogEnd " + std::to_string(m.log_end);
  out += "\n";
  return {};
}

status decode(std::string_view text, broker_member& out) {
  constexpr std::string_view what = "broker member";
  if (text.size() > max_text_bytes)
    return {errc::corrupt, std::string(what) + ": " + std::to_string(text.size())
                             + " bytes, at most " + std::to_string(max_text_bytes)};
  line_reader r(text);
  std::string_view line, v;
  if (!r.next(line))
    return r.error(what);
  if (line != member_magic) {
    r.fail("is not '" + std::string(member_magic) + "'");
    return r.error(what);
  }
  broker_member m;
  if (!r.value("address", v))
    return r.error(what);
  m.address = v;
  if (!r.value("haAddress", v))
    return r.error(what);
  m.ha_address = v;
  if (!r.value("lastEpoch", v))
    return r.error(what);
  if (!parse_number(v, m.last_epoch)) {
    r.fail("lastEpoch is not a number");
    return r.error(what);
  }
  if (!r.value("logEnd", v))
    return r.error(what);
  if (!parse_number(v, m.log_end)) {
    r.fail("logEnd is not a number");
    return r.error(what);
  }
  if (!r.at_end())
    return r.error(what);
  if (auto why = check(m); !why.empty())
    return {errc::corrupt, std::string(what) + ": " + why};
  out = std::move(m);
  return {};
}

} // namespace holdfast
