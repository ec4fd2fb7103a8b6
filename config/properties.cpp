#include "config/properties.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <set>

namespace holdfast::config {

namespace {

std::string join(const std::vector<std::string>& items, std::string_view separator) {
  std::string result;
  for (const auto& item : items) {
    if (!result.empty())
      result += separator;
    result += item;
  }
  return result;
}

std::string range_text(const property_info& info) {
  auto text = "[" + std::to_string(info.min) + ", " + std::to_string(info.max) + "]";
  if (!info.unit.empty())
    text += " " + info.unit;
  return text;
}

// Folds the differences people make when they half-remember a key: case, and snake_case or
// kebab-case instead of RocketMQ's camelCase.
std::string fold(std::string_view key) {
  std::string result;
  for (char c : key)
    if (c != '_' && c != '-')
      result += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return result;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

} // namespace

std::string to_string(value_kind kind) {
  switch (kind) {
    case value_kind::string:
      return "string";
    case value_kind::integer:
      return "integer";
    case value_kind::boolean:
      return "boolean";
    case value_kind::enumeration:
      return "enum";
  }
  return "?";
}

std::string to_toml_literal(const scalar& value) {
  if (auto b = std::get_if<bool>(&value))
    return *b ? "true" : "false";
  if (auto i = std::get_if<std::int64_t>(&value))
    return std::to_string(*i);
  // A TOML basic string: only the quote, the backslash and control characters need escapes;
  // other UTF-8 passes through unchanged.
  const auto& str = std::get<std::string>(value);
  std::string result = "\"";
  for (char c : str) {
    switch (c) {
      case '"':
        result += "\\\"";
        break;
      case '\\':
        result += "\\\\";
        break;
      case '\b':
        result += "\\b";
        break;
      case '\t':
        result += "\\t";
        break;
      case '\n':
        result += "\\n";
        break;
      case '\f':
        result += "\\f";
        break;
      case '\r':
        result += "\\r";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04X", static_cast<unsigned char>(c));
          result += buf;
        } else {
          result += c;
        }
    }
  }
  result += '"';
  return result;
}

value_rule non_empty() {
  return {"non-empty", [](const scalar& value) -> std::optional<std::string> {
            auto str = std::get_if<std::string>(&value);
            if (str && str->empty())
              return "must not be empty";
            return std::nullopt;
          }};
}

std::optional<std::string> check_value(const property_info& info, const scalar& value) {
  switch (info.kind) {
    case value_kind::string:
      if (!std::holds_alternative<std::string>(value))
        return "expected " + describe_expected(info);
      break;
    case value_kind::boolean:
      if (!std::holds_alternative<bool>(value))
        return "expected " + describe_expected(info);
      break;
    case value_kind::integer: {
      auto i = std::get_if<std::int64_t>(&value);
      if (!i)
        return "expected " + describe_expected(info);
      if (*i < info.min || *i > info.max)
        return "value " + std::to_string(*i) + " is out of range " + range_text(info);
      break;
    }
    case value_kind::enumeration: {
      auto str = std::get_if<std::string>(&value);
      if (!str)
        return "expected " + describe_expected(info);
      if (std::find(info.allowed.begin(), info.allowed.end(), *str) != info.allowed.end())
        break;
      auto why = "value " + to_toml_literal(value) + " is not one of " + join(info.allowed, ", ");
      // Spellings are case-sensitive as in RocketMQ, but "sync_flush" is an obvious slip.
      for (const auto& allowed : info.allowed)
        if (fold(allowed) == fold(*str))
          return why + "; did you mean \"" + allowed + "\"?";
      return why;
    }
  }
  for (const auto& rule : info.rules)
    if (rule.check)
      if (auto why = rule.check(value))
        return why;
  return std::nullopt;
}

std::string describe_allowed(const property_info& info) {
  std::vector<std::string> parts;
  if (info.kind == value_kind::integer)
    parts.push_back("[" + std::to_string(info.min) + ", " + std::to_string(info.max) + "]");
  if (info.kind == value_kind::enumeration)
    parts.push_back(join(info.allowed, ", "));
  for (const auto& rule : info.rules)
    parts.push_back(rule.description);
  return join(parts, "; ");
}

std::string describe_expected(const property_info& info) {
  switch (info.kind) {
    case value_kind::string:
      return "a string";
    case value_kind::integer:
      return "an integer";
    case value_kind::boolean:
      return "a boolean";
    case value_kind::enumeration:
      return "a string (one of " + join(info.allowed, ", ") + ")";
  }
  return "?";
}

std::optional<std::string> closest_key(std::span<const property_info> props,
                                       std::string_view key) {
  const auto folded = fold(key);
  const property_info* best = nullptr;
  std::size_t best_distance = 0;
  for (const auto& info : props) {
    const auto candidate = fold(info.name);
    const auto distance = edit_distance(folded, candidate);
    // A few typos per key, more for long keys, but never so many that an unrelated short key
    // ("port") gets matched to a long one ("listenPort").
    const auto limit = std::max<std::size_t>(2, candidate.size() / 4);
    if (distance <= limit && (!best || distance < best_distance)) {
      best = &info;
      best_distance = distance;
    }
  }
  if (!best)
    return std::nullopt;
  return best->name;
}

std::optional<std::size_t> find_key(std::span<const property_info> props, std::string_view name) {
  for (std::size_t i = 0; i < props.size(); ++i)
    if (props[i].name == name)
      return i;
  return std::nullopt;
}

std::vector<std::string> declaration_problems(std::span<const property_info> props) {
  std::vector<std::string> result;
  std::set<std::string> folded_names;
  for (const auto& info : props) {
    const auto where = "key '" + info.name + "': ";
    if (info.name.empty())
      result.push_back("a key has an empty name");
    // Folded names must be unique too, or the "did you mean" suggestion could pick either.
    if (!folded_names.insert(fold(info.name)).second)
      result.push_back(where + "declared twice (ignoring case, '_' and '-')");
    if (info.doc.empty() || info.doc.find('\n') != std::string::npos)
      result.push_back(where + "doc must be exactly one line");
    if (info.kind == value_kind::integer) {
      if (info.min > info.max)
        result.push_back(where + "min is greater than max");
      if (info.min < info.representable_min || info.max > info.representable_max)
        result.push_back(where + "range " + range_text(info) + " does not fit the member type ["
                         + std::to_string(info.representable_min) + ", "
                         + std::to_string(info.representable_max) + "]");
    }
    if (info.kind == value_kind::enumeration) {
      if (info.allowed.empty())
        result.push_back(where + "enum has no allowed values");
      std::set<std::string> unique(info.allowed.begin(), info.allowed.end());
      if (unique.size() != info.allowed.size())
        result.push_back(where + "enum spelling listed twice");
    }
    if (auto why = check_value(info, info.default_value))
      result.push_back(where + "default " + to_toml_literal(info.default_value)
                       + " is invalid: " + *why);
  }
  return result;
}

} // namespace holdfast::config
