#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace holdfast::secret {

/// A 128-bit key for keyed hashes. Never logged.
using key = std::array<uint8_t, 16>;

/// A fresh key from the OS's random source.
[[nodiscard]] key random_key();

/// SipHash-2-4 (Aumasson and Bernstein): a keyed hash that is a pseudo-random function, so
/// whoever does not know `k` cannot compute or guess tags (64 bits). Used to prove ownership
/// of a producer id on a new connection without the broker storing per-producer secrets.
[[nodiscard]] uint64_t siphash(const key& k, const void* data, size_t len) noexcept;

/// Compares two secrets in time that depends only on their lengths, so a peer timing the
/// answers learns nothing about how many leading bytes it guessed right.
[[nodiscard]] bool equal(std::string_view a, std::string_view b) noexcept;

} // namespace holdfast::secret
