#pragma once

#include <cstddef>
#include <cstdint>

namespace holdfast::crc32c {

/// CRC-32C (Castagnoli) of `n` bytes, continuing from `init` (0 to start). Uses the SSE4.2
/// instruction when the CPU has it (several GB/s, so recovery scans are disk-bound), a table
/// otherwise.
[[nodiscard]] uint32_t extend(uint32_t init, const char* data, size_t n) noexcept;

[[nodiscard]] inline uint32_t value(const char* data, size_t n) noexcept {
  return extend(0, data, n);
}

// Masking (LevelDB's trick): a CRC stored next to the data it covers is rotated and offset so
// that computing the CRC of a string that itself contains embedded CRCs stays well distributed.
constexpr uint32_t mask_delta = 0xa282ead8u;

[[nodiscard]] constexpr uint32_t mask(uint32_t crc) noexcept {
  return ((crc >> 15) | (crc << 17)) + mask_delta;
}

[[nodiscard]] constexpr uint32_t unmask(uint32_t masked) noexcept {
  uint32_t rot = masked - mask_delta;
  return (rot >> 17) | (rot << 15);
}

} // namespace holdfast::crc32c
