#pragma once

#include "runtime/errc.hpp"

#include <string>
#include <utility>

namespace holdfast {

/// An errc and the context a caller needs to report it (LevelDB's Status): which stream, which
/// offset. Compares equal to its errc, so `if (auto s = f(); s != errc::ok)` reads as before.
class [[nodiscard]] status {
public:
  status() = default;
  status(errc code) : code_(code) {} // NOLINT: implicit, an errc is a status without context
  status(errc code, std::string context) : code_(code), context_(std::move(context)) {}

  [[nodiscard]] errc code() const noexcept {
    return code_;
  }
  [[nodiscard]] bool ok() const noexcept {
    return code_ == errc::ok;
  }
  /// Empty when there is nothing to add to to_string(code()).
  [[nodiscard]] const std::string& context() const noexcept {
    return context_;
  }

  friend bool operator==(const status& s, errc e) noexcept {
    return s.code_ == e;
  }

private:
  errc code_ = errc::ok;
  std::string context_;
};

} // namespace holdfast
