#pragma once

#include "runtime/log.hpp"

#include <cstdlib>
#include <string>

/// HF_ASSERT(cond, "format {}", state...): an invariant the storage code relies on (one writer,
/// offsets only move forward, one checkpoint job at a time). When it does not hold, logs the
/// condition, file:line and the formatted message with the state that broke it, then aborts.
///
/// Active in every build type: a broken invariant in a broker must stop it before it
/// acknowledges anything more, not go on in Release and corrupt what it stores. Cheap: one
/// branch the compiler is told is not taken; the message is formatted only on failure. For
/// hot-path invariants; errors the code expects (I/O, bad input) are status values (errc).
#define HF_ASSERT(cond, ...)                                                                     \
  do {                                                                                           \
    if (__builtin_expect(!static_cast<bool>(cond), 0))                                           \
      ::holdfast::detail::assert_failed(#cond, __FILE__, __LINE__,                               \
                                        ::holdfast::format(__VA_ARGS__));                        \
  } while (false)

namespace holdfast::detail {

[[noreturn, gnu::cold, gnu::noinline]] inline void
assert_failed(const char* cond, const char* file, int line, const std::string& msg) noexcept {
  // log_line, not log_error: an assertion is reported whatever the log level.
  log_line(log_level::error, format("assertion failed at {}:{}: {}: {}", file, line, cond, msg));
  std::abort();
}

} // namespace holdfast::detail
