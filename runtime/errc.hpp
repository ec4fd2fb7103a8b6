#pragma once

#include <cstdint>
#include <string_view>

namespace holdfast {

/// Status of every runtime/ operation. One enum for the whole storage layer so a caller can
/// pass a failure upward unchanged; `ok` is zero so `if (auto e = f(); e != errc::ok)` reads well.
enum class errc : uint8_t {
  ok = 0,
  io_error,         ///< the OS reported a failure (EIO, ENOSPC, ...); details were logged
  not_found,        ///< a file or directory that must exist does not
  corrupt,          ///< bytes on disk fail their checksum or framing
  out_of_range,     ///< an offset outside what the log or index holds
  too_large,        ///< a record or batch above the configured limit
  invalid_argument, ///< a caller passed something the API does not accept
  closed,           ///< the object was closed, or the (simulated) power is off
  sticky_failure,   ///< an earlier fsync failed: the store refuses writes until restart
  out_of_sequence,  ///< an idempotent producer's sequence number does not continue its stream
  no_space,         ///< ENOSPC/EDQUOT: the disk is full; a write that failed so is undone and
                    ///< not sticky (docs/architecture.md, "A full disk")
};

/// Human-readable name of a status, for logs and error messages.
std::string_view to_string(errc x) noexcept;

} // namespace holdfast
