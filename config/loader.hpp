#pragma once

// Loading a config from TOML and `--set key=value` overrides, printing it back as TOML, and
// generating the markdown reference. The templates work for any schema<Config>; the functions
// at the bottom are the broker's. toml++ stays inside loader.cpp because it is slow to compile.

#include "config/broker_config.hpp"
#include "config/properties.hpp"

#include <cstddef>
#include <exception>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace holdfast::config {

/// One problem found while loading a config, located precisely enough to fix it.
struct config_error {
  std::string source;  ///< file path as given, or "--set" for an override
  int line = 0;        ///< 1-based; 0 when there is no line (overrides, unreadable files)
  int column = 0;      ///< 1-based; meaningful only when line > 0
  std::string key;     ///< empty when the problem is not about one key (syntax, missing file)
  std::string message;

  /// Formats as `broker.toml:3:1: key 'syncFlushTimeout': value -5 is out of range
  /// [1, 600000] ms`, leaving out line and column when line is 0 and the key part when there
  /// is no key.
  [[nodiscard]] std::string to_string() const;

  friend bool operator==(const config_error&, const config_error&) = default;
};

/// Every error on its own line, each ending in '\n'; ready for stderr.
[[nodiscard]] std::string to_string(std::span<const config_error> errors);

/// The outcome of loading a `Config`: the values that were valid applied over the defaults,
/// and every problem found, not only the first. Start nothing from `config` unless ok().
template <class Config>
struct basic_load_result {
  Config config{};
  std::vector<config_error> errors;

  [[nodiscard]] bool ok() const noexcept { return errors.empty(); }

  [[nodiscard]] std::string error_text() const { return holdfast::config::to_string(errors); }
};

namespace detail {

/// A value that passed check_value() for the key at `index`, and where it was written.
struct assignment {
  std::size_t index = 0;
  scalar value;
  std::string source;
  int line = 0;
  int column = 0;
};

// The TOML-facing half of the loader. It sees keys only as property_info, so it is compiled
// once in loader.cpp for every schema.

/// Parses a flat TOML document and checks each top-level key against `props`. Valid values
/// go to `out` in file order; every problem goes to `errors`. Returns false when the document
/// as a whole could not be parsed.
[[nodiscard]] bool read_toml(std::span<const property_info> props, std::string_view text,
                             std::string_view source, std::vector<assignment>& out,
                             std::vector<config_error>& errors);

/// Checks `key=value` overrides; each value is TOML if it parses as TOML, else a plain string.
void read_overrides(std::span<const property_info> props,
                    const std::vector<std::string>& overrides, std::vector<assignment>& out,
                    std::vector<config_error>& errors);

/// Reads a whole file into `text`; on failure records an error naming `path`, returns false.
[[nodiscard]] bool read_file(const std::string& path, std::string& text,
                             std::vector<config_error>& errors);

/// Renders `values` (one per key of `props`) as TOML with a comment line above each key.
[[nodiscard]] std::string render_toml(std::span<const property_info> props,
                                      std::span<const scalar> values, std::string_view header);

/// Renders the markdown reference: `title`, `intro`, a table of `props`, then `rules`.
[[nodiscard]] std::string render_markdown(std::span<const property_info> props,
                                          std::span<const std::string> rules,
                                          std::string_view title, std::string_view intro);

/// Turns an unexpected exception (bad_alloc, a throwing setter) into an error, because the
/// public loading functions promise not to throw.
[[nodiscard]] config_error internal_error(std::string_view source, std::exception_ptr what);

template <class Config>
void apply(const schema<Config>& s, const std::vector<assignment>& assignments,
           bool cross_checks_meaningful, basic_load_result<Config>& result) {
  for (const auto& a : assignments)
    s.set(result.config, a.index, a.value);
  if (!cross_checks_meaningful)
    return;
  const auto props = s.properties();
  for (const auto& check : s.cross_checks()) {
    auto involved = [&](std::string_view key) {
      for (const auto& k : check.keys)
        if (k == key)
          return true;
      return false;
    };
    // A rejected value was not applied, so the config does not hold what the user meant and
    // the rule's verdict on it would only add noise.
    bool blocked = false;
    for (const auto& e : result.errors)
      blocked = blocked || involved(e.key);
    if (blocked)
      continue;
    auto why = check.check(result.config);
    if (!why)
      continue;
    const assignment* last = nullptr;
    for (const auto& a : assignments)
      if (involved(props[a.index].name))
        last = &a;
    if (last)
      result.errors.push_back(
        {last->source, last->line, last->column, props[last->index].name, *why});
    else
      result.errors.push_back({"", 0, 0, check.keys.empty() ? "" : check.keys.front(), *why});
  }
}

} // namespace detail

/// Loads a `Config` from TOML text named `source_name` (used in errors), then applies
/// `overrides` ("key=value") in order. Never throws.
template <class Config>
[[nodiscard]] basic_load_result<Config>
parse_config(const schema<Config>& s, std::string_view toml_text, std::string_view source_name,
             const std::vector<std::string>& overrides) {
  basic_load_result<Config> result;
  try {
    s.apply_defaults(result.config);
    std::vector<detail::assignment> assignments;
    bool parsed = detail::read_toml(s.properties(), toml_text, source_name, assignments,
                                    result.errors);
    detail::read_overrides(s.properties(), overrides, assignments, result.errors);
    detail::apply(s, assignments, parsed, result);
  } catch (...) {
    result.errors.push_back(detail::internal_error(source_name, std::current_exception()));
  }
  return result;
}

/// Like parse_config() but reads the file at `path`; without a path, only defaults and
/// overrides apply. An unreadable file is an error, and the overrides are still checked.
template <class Config>
[[nodiscard]] basic_load_result<Config>
load_config(const schema<Config>& s, const std::optional<std::string>& path,
            const std::vector<std::string>& overrides) {
  basic_load_result<Config> result;
  try {
    s.apply_defaults(result.config);
    std::vector<detail::assignment> assignments;
    bool parsed = true;
    if (path) {
      std::string text;
      parsed = detail::read_file(*path, text, result.errors)
               && detail::read_toml(s.properties(), text, *path, assignments, result.errors);
    }
    detail::read_overrides(s.properties(), overrides, assignments, result.errors);
    detail::apply(s, assignments, parsed, result);
  } catch (...) {
    result.errors.push_back(detail::internal_error(path.value_or(""), std::current_exception()));
  }
  return result;
}

/// Prints every key of `config` as TOML, each under a `# doc (unit, default X)` comment, after
/// `header` (a comment block; may be empty). The output parses back to an equal config.
template <class Config>
[[nodiscard]] std::string config_to_toml(const schema<Config>& s, const Config& config,
                                         std::string_view header) {
  const auto values = s.values(config);
  return detail::render_toml(s.properties(), values, header);
}

/// Generates a markdown reference of every key of `s`: `title`, `intro`, then a table with
/// key | type | default | unit | allowed | description, then the cross-key rules.
template <class Config>
[[nodiscard]] std::string config_reference_markdown(const schema<Config>& s,
                                                    std::string_view title,
                                                    std::string_view intro) {
  std::vector<std::string> rules;
  for (const auto& check : s.cross_checks())
    rules.push_back(check.description);
  return detail::render_markdown(s.properties(), rules, title, intro);
}

// ---- the broker's config --------------------------------------------------------------------

/// The outcome of loading a broker_config.
using load_result = basic_load_result<broker_config>;

/// Loads the broker config from the TOML file at `path` (or defaults when there is none),
/// then applies `overrides` from `--set key=value`. Never throws.
[[nodiscard]] load_result load_broker_config(std::optional<std::string> path,
                                             const std::vector<std::string>& overrides = {});

/// Loads the broker config from TOML text; `source_name` stands for the file in errors.
[[nodiscard]] load_result parse_broker_config(std::string_view toml_text,
                                              std::string_view source_name,
                                              const std::vector<std::string>& overrides = {});

/// The effective broker config as commented TOML, e.g. for `--print-config`.
[[nodiscard]] std::string to_toml(const broker_config& config);

/// The content of docs/config.md, printed by `holdfast-broker --config-reference`.
[[nodiscard]] std::string reference_markdown();

} // namespace holdfast::config
