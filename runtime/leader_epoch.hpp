#pragma once

#include <cstdint>

namespace holdfast {

/// One term of a master (Kafka's leader epoch, KIP-101/KIP-279; RocketMQ 5's epoch file): the
/// records from `start_offset` up to the next term's start were written by that master.
///
/// `epoch` numbers terms in order; `term` is random and tells apart two terms that got the
/// same number, which happens when a master is restarted on an older copy of its store (its
/// epoch history is older too) or a slave is promoted by hand while the old master still
/// writes. Two logs agree on a term's bytes only if both know the same (epoch, term).
struct leader_epoch {
  uint64_t epoch = 0;
  uint64_t term = 0;
  uint64_t start_offset = 0;

  friend bool operator==(const leader_epoch&, const leader_epoch&) = default;
};

} // namespace holdfast
