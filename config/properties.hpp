#pragma once

// Generic machinery for declaring config keys once: a key's name, kind, default, unit, one-line
// doc and validation live in one property entry, and everything else (loading, printing, the
// generated reference) is derived from the table of entries. Nothing here knows about the broker
// or about TOML, so a producer or consumer config can reuse it with its own struct.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <ratio>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace holdfast::config {

/// The kinds of value a key can hold; the kind decides which TOML type a source must use.
enum class value_kind : std::uint8_t { string, integer, boolean, enumeration };

/// Returns "string", "integer", "boolean" or "enum", the spellings used in the reference.
[[nodiscard]] std::string to_string(value_kind kind);

/// A value of any kind after it has been read from a source. Enumerations travel as their
/// spelling so that one type carries every key through the type-erased loader.
using scalar = std::variant<bool, std::int64_t, std::string>;

/// Formats `value` as a TOML literal: strings quoted and escaped, integers in decimal.
[[nodiscard]] std::string to_toml_literal(const scalar& value);

/// An extra rule on a value beyond its kind, range and allowed spellings.
struct value_rule {
  /// What the rule demands, for the reference's "allowed" column (e.g. "non-empty").
  std::string description;
  /// Returns why `value` is rejected, or nothing when it is fine.
  std::function<std::optional<std::string>(const scalar& value)> check;
};

/// Rejects the empty string, for names and paths where "" would silently mean something odd.
[[nodiscard]] value_rule non_empty();

/// Everything about one key that does not depend on the config struct it lives in. Kept apart
/// from the struct accessors so that loading and printing compile once, not once per struct.
struct property_info {
  std::string name;  ///< as written in files and `--set`, RocketMQ spelling (`flushDiskType`)
  value_kind kind = value_kind::string;
  scalar default_value;
  std::string unit;  ///< "ms", "bytes", "pages" or "" when the number is a plain count
  std::string doc;   ///< one line; says why as much as what
  /// Integer keys: inclusive bounds a value must lie in.
  std::int64_t min = 0;
  std::int64_t max = 0;
  /// Integer keys: what the struct member can hold. Filled by the factory so that a declared
  /// range wider than the member type is caught by declaration_problems(), not by truncation.
  std::int64_t representable_min = 0;
  std::int64_t representable_max = 0;
  /// Enumeration keys: the accepted spellings, in declaration order.
  std::vector<std::string> allowed;
  std::vector<value_rule> rules;
};

/// Checks a value of the right kind against the key's range, spellings and rules. Returns the
/// reason it is rejected, phrased to follow "key 'name': ".
[[nodiscard]] std::optional<std::string> check_value(const property_info& info,
                                                     const scalar& value);

/// Describes what a key accepts beyond its kind: "[1, 600000]", "ASYNC_FLUSH, SYNC_FLUSH",
/// "non-empty", or "" when anything of the right kind will do.
[[nodiscard]] std::string describe_allowed(const property_info& info);

/// Describes the kind a source must use for the key, with an article: "an integer",
/// "a string (one of ASYNC_FLUSH, SYNC_FLUSH)".
[[nodiscard]] std::string describe_expected(const property_info& info);

/// Returns the declared key a user most likely meant by `key`, if one is close: the same
/// letters ignoring case, '_' and '-', or a small edit distance.
[[nodiscard]] std::optional<std::string> closest_key(std::span<const property_info> props,
                                                     std::string_view key);

/// Returns the position of `name` in `props` (exact spelling), or nothing.
[[nodiscard]] std::optional<std::size_t> find_key(std::span<const property_info> props,
                                                  std::string_view name);

/// Finds mistakes in a declaration table: duplicate or near-duplicate names, empty or
/// multi-line docs, ranges the member cannot hold, defaults that fail their own validation.
/// Empty when the table is sound; tests assert that for every schema.
[[nodiscard]] std::vector<std::string> declaration_problems(std::span<const property_info> props);

/// One key of `Config`: its description plus how to read and write it in the struct.
template <class Config>
struct property {
  property_info info;
  /// Stores `value`, which has already passed check_value() for this key.
  std::function<void(Config&, const scalar&)> set;
  std::function<scalar(const Config&)> get;

  /// Adds a rule; lets a table entry read `string_property(...).require(non_empty())`.
  property&& require(value_rule rule) && {
    info.rules.push_back(std::move(rule));
    return std::move(*this);
  }
};

/// A rule over several keys of `Config`, checked after every single key has been applied.
template <class Config>
struct cross_check {
  /// The keys the rule reads. An error is reported at the one whose value was given last,
  /// since that is the assignment that broke the rule.
  std::vector<std::string> keys;
  /// One line for the reference.
  std::string description;
  /// Returns why `config` breaks the rule, naming every key involved, or nothing.
  std::function<std::optional<std::string>(const Config& config)> check;
};

/// Spelling of one enumerator in config files.
template <class Enum>
struct enum_spelling {
  Enum value;
  std::string_view name;
};

namespace detail {

template <class Int>
constexpr std::int64_t representable_min() {
  if constexpr (std::cmp_less(std::numeric_limits<Int>::min(),
                              std::numeric_limits<std::int64_t>::min()))
    return std::numeric_limits<std::int64_t>::min();
  else
    return static_cast<std::int64_t>(std::numeric_limits<Int>::min());
}

template <class Int>
constexpr std::int64_t representable_max() {
  if constexpr (std::cmp_greater(std::numeric_limits<Int>::max(),
                                 std::numeric_limits<std::int64_t>::max()))
    return std::numeric_limits<std::int64_t>::max();
  else
    return static_cast<std::int64_t>(std::numeric_limits<Int>::max());
}

template <class Period>
constexpr std::string_view duration_unit() {
  if constexpr (std::is_same_v<Period, std::nano>)
    return "ns";
  else if constexpr (std::is_same_v<Period, std::micro>)
    return "us";
  else if constexpr (std::is_same_v<Period, std::milli>)
    return "ms";
  else if constexpr (std::is_same_v<Period, std::ratio<1>>)
    return "s";
  else
    static_assert(std::is_same_v<Period, std::milli>, "give this duration period a unit name");
}

inline property_info make_info(std::string name, value_kind kind, scalar default_value,
                               std::string unit, std::string doc) {
  property_info info;
  info.name = std::move(name);
  info.kind = kind;
  info.default_value = std::move(default_value);
  info.unit = std::move(unit);
  info.doc = std::move(doc);
  return info;
}

} // namespace detail

// The factories below take the member pointer so that the key's C++ type is checked at compile
// time and its range at test time (declaration_problems). The setters ignore a scalar of the
// wrong alternative instead of throwing: the loader has already checked it, and a config load
// must not throw.

/// Declares a string key stored in `member`.
template <class Config>
[[nodiscard]] property<Config> string_property(std::string name, std::string Config::*member,
                                               std::string default_value, std::string doc) {
  property<Config> p;
  p.info = detail::make_info(std::move(name), value_kind::string, std::move(default_value), "",
                             std::move(doc));
  p.set = [member](Config& config, const scalar& value) {
    if (auto str = std::get_if<std::string>(&value))
      config.*member = *str;
  };
  p.get = [member](const Config& config) { return scalar{config.*member}; };
  return p;
}

/// Declares a boolean key stored in `member`.
template <class Config>
[[nodiscard]] property<Config> boolean_property(std::string name, bool Config::*member,
                                                bool default_value, std::string doc) {
  property<Config> p;
  p.info = detail::make_info(std::move(name), value_kind::boolean, default_value, "",
                             std::move(doc));
  p.set = [member](Config& config, const scalar& value) {
    if (auto b = std::get_if<bool>(&value))
      config.*member = *b;
  };
  p.get = [member](const Config& config) { return scalar{config.*member}; };
  return p;
}

/// Declares an integer key in [min, max] stored in an integral `member`.
template <class Config, class Int>
[[nodiscard]] property<Config>
integer_property(std::string name, Int Config::*member, std::int64_t default_value,
                 std::int64_t min, std::int64_t max, std::string unit, std::string doc) {
  static_assert(std::is_integral_v<Int> && !std::is_same_v<Int, bool>,
                "use boolean_property for bool members");
  property<Config> p;
  p.info = detail::make_info(std::move(name), value_kind::integer, default_value,
                             std::move(unit), std::move(doc));
  p.info.min = min;
  p.info.max = max;
  p.info.representable_min = detail::representable_min<Int>();
  p.info.representable_max = detail::representable_max<Int>();
  p.set = [member](Config& config, const scalar& value) {
    if (auto i = std::get_if<std::int64_t>(&value))
      config.*member = static_cast<Int>(*i);
  };
  p.get = [member](const Config& config) {
    return scalar{static_cast<std::int64_t>(config.*member)};
  };
  return p;
}

/// Declares a duration key in [min, max] counted in the member's own period; the unit ("ms")
/// follows from the member type so the doc and the struct cannot disagree.
template <class Config, class Rep, class Period>
[[nodiscard]] property<Config>
duration_property(std::string name, std::chrono::duration<Rep, Period> Config::*member,
                  std::int64_t default_value, std::int64_t min, std::int64_t max,
                  std::string doc) {
  using duration = std::chrono::duration<Rep, Period>;
  static_assert(std::is_integral_v<Rep>, "durations in config are whole numbers of units");
  property<Config> p;
  p.info = detail::make_info(std::move(name), value_kind::integer, default_value,
                             std::string{detail::duration_unit<Period>()}, std::move(doc));
  p.info.min = min;
  p.info.max = max;
  p.info.representable_min = detail::representable_min<Rep>();
  p.info.representable_max = detail::representable_max<Rep>();
  p.set = [member](Config& config, const scalar& value) {
    if (auto i = std::get_if<std::int64_t>(&value))
      config.*member = duration{static_cast<Rep>(*i)};
  };
  p.get = [member](const Config& config) {
    return scalar{static_cast<std::int64_t>((config.*member).count())};
  };
  return p;
}

/// Declares a key whose value is one of `spellings`, stored as the matching enumerator.
template <class Config, class Enum>
[[nodiscard]] property<Config>
enum_property(std::string name, Enum Config::*member, Enum default_value,
              std::type_identity_t<std::span<const enum_spelling<Enum>>> spellings,
              std::string doc) {
  static_assert(std::is_enum_v<Enum>);
  std::vector<std::pair<std::string, Enum>> table;
  std::string default_name;
  for (const auto& s : spellings) {
    table.emplace_back(std::string{s.name}, s.value);
    if (s.value == default_value)
      default_name = std::string{s.name};
  }
  property<Config> p;
  // An enumerator missing from `spellings` leaves default_name empty, which
  // declaration_problems() reports as a default outside the allowed values.
  p.info = detail::make_info(std::move(name), value_kind::enumeration, default_name, "",
                             std::move(doc));
  for (const auto& entry : table)
    p.info.allowed.push_back(entry.first);
  p.set = [member, table](Config& config, const scalar& value) {
    if (auto str = std::get_if<std::string>(&value))
      for (const auto& [spelling, enumerator] : table)
        if (spelling == *str)
          config.*member = enumerator;
  };
  p.get = [member, table](const Config& config) {
    for (const auto& [spelling, enumerator] : table)
      if (enumerator == config.*member)
        return scalar{spelling};
    return scalar{std::string{}};
  };
  return p;
}

/// The declaration table of one config struct: the single place its keys, defaults and rules
/// are written. Built once (typically in a function-local static) and read-only afterwards, so
/// it may be shared between threads.
template <class Config>
class schema {
public:
  /// Appends a key; declaration order is the order of to_toml output and the reference.
  schema& add(property<Config> p) {
    infos_.push_back(std::move(p.info));
    setters_.push_back(std::move(p.set));
    getters_.push_back(std::move(p.get));
    return *this;
  }

  /// Appends a rule over several keys.
  schema& add_check(cross_check<Config> check) {
    checks_.push_back(std::move(check));
    return *this;
  }

  [[nodiscard]] std::span<const property_info> properties() const noexcept { return infos_; }

  [[nodiscard]] std::span<const cross_check<Config>> cross_checks() const noexcept {
    return checks_;
  }

  /// Sets every key of `config` to its declared default.
  void apply_defaults(Config& config) const {
    for (std::size_t i = 0; i < infos_.size(); ++i)
      setters_[i](config, infos_[i].default_value);
  }

  /// Stores an already validated `value` for the key at `index`.
  void set(Config& config, std::size_t index, const scalar& value) const {
    setters_.at(index)(config, value);
  }

  [[nodiscard]] scalar get(const Config& config, std::size_t index) const {
    return getters_.at(index)(config);
  }

  /// Every key's current value in `config`, in declaration order.
  [[nodiscard]] std::vector<scalar> values(const Config& config) const {
    std::vector<scalar> result;
    result.reserve(getters_.size());
    for (const auto& get : getters_)
      result.push_back(get(config));
    return result;
  }

  /// declaration_problems() plus the checks that need the struct: cross checks must name
  /// declared keys and accept the defaults, and every getter must read back its default.
  [[nodiscard]] std::vector<std::string> problems() const {
    auto result = declaration_problems(infos_);
    for (const auto& check : checks_)
      for (const auto& key : check.keys)
        if (!find_key(infos_, key))
          result.push_back("cross check '" + check.description + "' names unknown key '" + key
                           + "'");
    Config config{};
    apply_defaults(config);
    for (std::size_t i = 0; i < infos_.size(); ++i)
      if (getters_[i](config) != infos_[i].default_value)
        result.push_back("key '" + infos_[i].name + "' does not read back its default "
                         + to_toml_literal(infos_[i].default_value));
    for (const auto& check : checks_)
      if (auto why = check.check(config))
        result.push_back("the defaults break a cross check: " + *why);
    return result;
  }

private:
  std::vector<property_info> infos_;
  std::vector<std::function<void(Config&, const scalar&)>> setters_;
  std::vector<std::function<scalar(const Config&)>> getters_;
  std::vector<cross_check<Config>> checks_;
};

} // namespace holdfast::config
