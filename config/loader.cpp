#include "config/loader.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <variant>

namespace holdfast::config {

namespace {

constexpr std::string_view override_source = "--set";

std::string trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos)
    return {};
  const auto last = text.find_last_not_of(" \t");
  return std::string{text.substr(first, last - first + 1)};
}

// Prints a scalar TOML node the way the user wrote it, for "got an integer (5)".
template <class T>
std::string print_node(const T& node) {
  std::ostringstream out;
  out << node;
  return out.str();
}

// Names what the user wrote, with an article, for "expected X, got Y".
std::string describe_found(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string:
      return "a string (" + to_toml_literal(std::string{node.as_string()->get()}) + ")";
    case toml::node_type::integer:
      return "an integer (" + std::to_string(node.as_integer()->get()) + ")";
    case toml::node_type::floating_point:
      return "a floating-point number (" + print_node(*node.as_floating_point()) + ")";
    case toml::node_type::boolean:
      return node.as_boolean()->get() ? "a boolean (true)" : "a boolean (false)";
    case toml::node_type::date:
      return "a date (" + print_node(*node.as_date()) + ")";
    case toml::node_type::time:
      return "a time (" + print_node(*node.as_time()) + ")";
    case toml::node_type::date_time:
      return "a date-time (" + print_node(*node.as_date_time()) + ")";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

// The node's value if its TOML type is the one `info` needs.
std::optional<scalar> to_scalar(const property_info& info, const toml::node& node) {
  switch (info.kind) {
    case value_kind::string:
    case value_kind::enumeration:
      if (auto str = node.as_string())
        return scalar{std::string{str->get()}};
      break;
    case value_kind::integer:
      if (auto i = node.as_integer())
        return scalar{static_cast<std::int64_t>(i->get())};
      break;
    case value_kind::boolean:
      if (auto b = node.as_boolean())
        return scalar{b->get()};
      break;
  }
  return std::nullopt;
}

struct location {
  std::string_view source;
  int line = 0;
  int column = 0;
};

// Checks one `key = value` from a file or an override against the table.
void judge(std::span<const property_info> props, const std::string& key, const toml::node& node,
           const location& where, std::vector<detail::assignment>& out,
           std::vector<config_error>& errors) {
  auto fail = [&](std::string message) {
    errors.push_back({std::string{where.source}, where.line, where.column, key,
                      std::move(message)});
  };
  const auto index = find_key(props, key);
  if (!index) {
    std::string message = "unknown key";
    if (auto suggestion = closest_key(props, key))
      message += "; did you mean '" + *suggestion + "'?";
    if (node.is_table())
      message += " (config files are flat like RocketMQ's broker.conf: every key goes at the "
                 "top level, not in a [section] or dotted key)";
    fail(std::move(message));
    return;
  }
  const auto& info = props[*index];
  auto value = to_scalar(info, node);
  if (!value) {
    auto message = "expected " + describe_expected(info) + ", got " + describe_found(node);
    // On the command line a bare 123 or true is TOML, not a string; say how to force one.
    if (where.source == override_source
        && (info.kind == value_kind::string || info.kind == value_kind::enumeration)
        && !node.is_table() && !node.is_array())
      message += "; to pass it as a string, quote it: --set '" + key + "=\"...\"'";
    fail(std::move(message));
    return;
  }
  if (auto why = check_value(info, *value)) {
    fail(std::move(*why));
    return;
  }
  out.push_back({*index, std::move(*value), std::string{where.source}, where.line, where.column});
}

std::string escape_markdown_cell(std::string_view text) {
  std::string result;
  for (char c : text) {
    if (c == '|')
      result += '\\';
    result += c;
  }
  return result;
}

std::string markdown_default(const scalar& value) {
  if (auto str = std::get_if<std::string>(&value))
    return str->empty() ? "`\"\"`" : "`" + *str + "`";
  return "`" + to_toml_literal(value) + "`";
}

} // namespace

std::string config_error::to_string() const {
  std::string result = source;
  if (line > 0)
    result += ":" + std::to_string(line) + ":" + std::to_string(column);
  if (!result.empty())
    result += ": ";
  if (!key.empty())
    result += "key '" + key + "': ";
  result += message;
  return result;
}

std::string to_string(std::span<const config_error> errors) {
  std::string result;
  for (const auto& e : errors)
    result += e.to_string() + '\n';
  return result;
}

namespace detail {

bool read_toml(std::span<const property_info> props, std::string_view text,
               std::string_view source, std::vector<assignment>& out,
               std::vector<config_error>& errors) {
  toml::table document;
  try {
    document = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    const auto& begin = e.source().begin;
    errors.push_back({std::string{source}, static_cast<int>(begin.line),
                      static_cast<int>(begin.column), "", std::string{e.description()}});
    return false;
  }
  // toml::table iterates in key order; errors and assignments should follow the file, so
  // that later lines win and the first error printed is the first one in the file.
  std::vector<std::pair<const toml::key*, const toml::node*>> entries;
  for (auto&& [key, node] : document)
    entries.emplace_back(&key, &node);
  std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    const auto& x = a.first->source().begin;
    const auto& y = b.first->source().begin;
    return std::pair{x.line, x.column} < std::pair{y.line, y.column};
  });
  for (const auto& [key, node] : entries) {
    const auto& begin = key->source().begin;
    judge(props, std::string{key->str()}, *node,
          {source, static_cast<int>(begin.line), static_cast<int>(begin.column)}, out, errors);
  }
  return true;
}

void read_overrides(std::span<const property_info> props,
                    const std::vector<std::string>& overrides, std::vector<assignment>& out,
                    std::vector<config_error>& errors) {
  for (const auto& text : overrides) {
    const auto equals = text.find('=');
    const auto key = trim(std::string_view{text}.substr(0, equals));
    if (equals == std::string::npos || key.empty()) {
      errors.push_back({std::string{override_source}, 0, 0, "",
                        "override '" + text + "' is not of the form key=value"});
      continue;
    }
    const auto value_text = trim(std::string_view{text}.substr(equals + 1));
    // Parse the value as the right-hand side of a one-line document; anything that is not
    // exactly one valid TOML value (SYNC_FLUSH, broker-b, ./data) is meant as a string.
    std::optional<toml::table> parsed;
    try {
      parsed = toml::parse("v = " + value_text, override_source);
    } catch (const toml::parse_error&) {
    }
    const location where{override_source, 0, 0};
    if (parsed && parsed->size() == 1 && parsed->contains("v"))
      judge(props, key, *parsed->get("v"), where, out, errors);
    else
      judge(props, key, toml::value<std::string>{value_text}, where, out, errors);
  }
}

bool read_file(const std::string& path, std::string& text, std::vector<config_error>& errors) {
  auto fail = [&](std::string message) {
    errors.push_back({path, 0, 0, "", "cannot read config file: " + std::move(message)});
    return false;
  };
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (status.type() == std::filesystem::file_type::not_found)
    return fail("no such file");
  if (ec)
    return fail(ec.message());
  if (status.type() == std::filesystem::file_type::directory)
    return fail("it is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return fail(std::strerror(errno));
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad())
    return fail(std::strerror(errno));
  text = std::move(content).str();
  return true;
}

std::string render_toml(std::span<const property_info> props, std::span<const scalar> values,
                        std::string_view header) {
  std::string result{header};
  if (!result.empty() && result.back() != '\n')
    result += '\n';
  for (std::size_t i = 0; i < props.size() && i < values.size(); ++i) {
    const auto& info = props[i];
    if (!result.empty())
      result += '\n';
    // The doc is a sentence; drop its full stop so the parenthesis reads as part of it.
    std::string_view doc = info.doc;
    if (!doc.empty() && doc.back() == '.')
      doc.remove_suffix(1);
    result += "# " + std::string{doc} + " (";
    if (!info.unit.empty())
      result += info.unit + ", ";
    result += "default " + to_toml_literal(info.default_value) + ")\n";
    result += info.name + " = " + to_toml_literal(values[i]) + "\n";
  }
  return result;
}

std::string render_markdown(std::span<const property_info> props,
                            std::span<const std::string> rules, std::string_view title,
                            std::string_view intro) {
  std::string result = "# " + std::string{title} + "\n\n" + std::string{intro} + "\n\n";
  result += "| key | type | default | unit | allowed | description |\n";
  result += "|---|---|---|---|---|---|\n";
  for (const auto& info : props) {
    result += "| `" + info.name + "` | " + to_string(info.kind) + " | "
              + escape_markdown_cell(markdown_default(info.default_value)) + " | " + info.unit
              + " | " + escape_markdown_cell(describe_allowed(info)) + " | "
              + escape_markdown_cell(info.doc) + " |\n";
  }
  if (!rules.empty()) {
    result += "\n## Rules across keys\n\n";
    for (const auto& rule : rules)
      result += "- " + rule + "\n";
  }
  return result;
}

config_error internal_error(std::string_view source, std::exception_ptr what) {
  std::string message = "internal error while loading the config";
  try {
    if (what)
      std::rethrow_exception(what);
  } catch (const std::exception& e) {
    message += ": " + std::string{e.what()};
  } catch (...) {
  }
  return {std::string{source}, 0, 0, "", std::move(message)};
}

} // namespace detail

// ---- the broker's config --------------------------------------------------------------------

load_result load_broker_config(std::optional<std::string> path,
                               const std::vector<std::string>& overrides) {
  return load_config(broker_schema(), path, overrides);
}

load_result parse_broker_config(std::string_view toml_text, std::string_view source_name,
                                const std::vector<std::string>& overrides) {
  return parse_config(broker_schema(), toml_text, source_name, overrides);
}

std::string to_toml(const broker_config& config) {
  return config_to_toml(broker_schema(), config,
                        "# Holdfast broker configuration. Every key is listed with its effective "
                        "value;\n# see docs/config.md for the reference.\n");
}

std::string reference_markdown() {
  return config_reference_markdown(
    broker_schema(), "Holdfast broker configuration",
    "This file is generated from `config/broker_config.cpp` by "
    "`build/bin/holdfast-broker --config-reference` and must not be edited by hand.");
}

} // namespace holdfast::config
