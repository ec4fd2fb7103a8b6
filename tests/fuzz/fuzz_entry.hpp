#pragma once

// The fuzz entry functions, shared by the libFuzzer targets (clang, HOLDFAST_FUZZ=ON) and by
// the ordinary Catch2 suite, which feeds every corpus file through them with g++. Each returns
// an empty string when the input was handled well, or what went wrong: a crash is a crash in
// both harnesses, a broken invariant is a non-empty string (the libFuzzer target aborts on it).

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace holdfast::fuzz {

/// Bytes as commit-log segments on disk, then recovery (message_store::open, which scans the
/// commit log and rebuilds the indexes). The input is
///
///   byte 0      flags: bit 0 split the bytes into two segments, bit 1 recompute the crc of
///               every record the bytes frame (so mutations reach the fields behind the crc),
///               bit 2 a checkpoint file claims bytes 1-2 as its offset
///   bytes 1-2   split position (little-endian, modulo the segment bytes)
///   bytes 3..   the segment bytes
///
/// Checked: recovery never crashes; when it opens, the log ends where its report says, every
/// byte up to there is a chain of valid records at their own offsets, every record is indexed
/// and readable through its queue, and a second recovery (after a crash and after a clean
/// stop) keeps exactly the same log.
[[nodiscard]] std::string recovery_one(std::span<const char> input);

/// Arbitrary text as the broker's TOML config (parse_broker_config); an input that starts
/// with "--set\n" is instead a list of `--set key=value` overrides, one per line. Checked: no
/// crash or exception; an accepted config prints (to_toml) as TOML that parses back to the
/// same config.
[[nodiscard]] std::string config_one(std::string_view input);

/// Arbitrary text as a broker set's state node and as a member node (runtime/set_state.hpp),
/// what a broker reads from ZooKeeper. Checked: no crash; a refused text has a reason; an
/// accepted one is the unique encoding of its value (encode gives the same bytes back).
[[nodiscard]] std::string set_state_one(std::string_view input);

/// A small valid commit log of `records` records over two topics (seed material).
[[nodiscard]] std::string sample_log(int records, int body_size);

} // namespace holdfast::fuzz
