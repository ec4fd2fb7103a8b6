#pragma once

#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>

namespace holdfast {

/// Severity of a log line. Logs go to stderr with a timestamp: a broker's operator reads them
/// with journald or a terminal, so one line per event and no buffering.
enum class log_level : uint8_t { debug, info, warning, error };

/// Lines below this level are dropped (default: info, or HOLDFAST_LOG=debug|info|warning|error).
void set_log_level(log_level lvl) noexcept;
[[nodiscard]] bool log_enabled(log_level lvl) noexcept;
void log_line(log_level lvl, std::string_view text);

namespace detail {

// g++ 12 has no <format>; this replaces each "{}" with the next argument, which is all the
// formatting our log lines need.
inline void format_rest(std::ostringstream& os, std::string_view fmt) {
  os << fmt;
}

template <class T, class... Ts>
void format_rest(std::ostringstream& os, std::string_view fmt, const T& x, const Ts&... xs) {
  auto pos = fmt.find("{}");
  if (pos == std::string_view::npos) {
    os << fmt;
    return;
  }
  os << fmt.substr(0, pos);
  if constexpr (std::is_same_v<T, uint8_t> || std::is_same_v<T, int8_t>)
    os << static_cast<int>(x);
  else
    os << x;
  format_rest(os, fmt.substr(pos + 2), xs...);
}

} // namespace detail

/// Formats with "{}" placeholders.
template <class... Ts>
std::string format(std::string_view fmt, const Ts&... xs) {
  std::ostringstream os;
  detail::format_rest(os, fmt, xs...);
  return std::move(os).str();
}

template <class... Ts>
void log_at(log_level lvl, std::string_view fmt, const Ts&... xs) {
  if (log_enabled(lvl))
    log_line(lvl, format(fmt, xs...));
}

template <class... Ts>
void log_debug(std::string_view fmt, const Ts&... xs) {
  log_at(log_level::debug, fmt, xs...);
}
template <class... Ts>
void log_info(std::string_view fmt, const Ts&... xs) {
  log_at(log_level::info, fmt, xs...);
}
template <class... Ts>
void log_warning(std::string_view fmt, const Ts&... xs) {
  log_at(log_level::warning, fmt, xs...);
}
template <class... Ts>
void log_error(std::string_view fmt, const Ts&... xs) {
  log_at(log_level::error, fmt, xs...);
}

} // namespace holdfast
