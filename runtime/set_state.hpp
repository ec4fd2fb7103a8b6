#pragma once

// What controller mode keeps in ZooKeeper about one broker set (docs/failover.md): the set's
// state node and each live broker's member node, with their text encodings. Plain values and
// codecs, no ZooKeeper dependency: the fuzz targets and the tests use them alone.

#include "runtime/status.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace holdfast {

/// The state of a broker set (RocketMQ 5's SyncStateSet record): which epoch, who is master,
/// who may be elected. One ZooKeeper node, changed only by compare-and-set on its version, so
/// two controllers can never both apply a change made from the same old state.
///
/// Brokers are named by their client address ("host:port", their listenPort): the address a
/// client is told to follow and `holdfast status` prints.
///
/// Invariants (checked by encode and decode): the master, when there is one, is a member of
/// the SyncStateSet; the set is sorted, without duplicates, and at most max_members long.
struct broker_set_state {
  /// Raised by one at every change of master; the new master's leader epoch (the terms of
  /// epoch_history) takes this number, so terms and the set's history agree.
  uint64_t epoch = 0;
  /// Empty while the set has no master (lost, and no member could be elected yet).
  std::string master;
  /// The members that hold every acknowledged message: the only brokers that may be elected
  /// (unless enableElectUncleanMaster), and the ones a SEND_OK waits for.
  std::vector<std::string> sync_state_set;

  friend bool operator==(const broker_set_state&, const broker_set_state&) = default;
};

/// What a live broker of a set announces in its ephemeral member node: enough for an election
/// to pick the member with the longest log without asking the brokers themselves.
struct broker_member {
  std::string address;    ///< client door, "host:port": the broker's name in the set
  std::string ha_address; ///< replication door, "host:port": where slaves of it attach
  uint64_t last_epoch = 0; ///< the newest term in its log (epoch_history)
  uint64_t log_end = 0;    ///< its commit log's end offset when it last wrote this node

  friend bool operator==(const broker_member&, const broker_member&) = default;
};

/// A set is a handful of brokers (three in the examples); the bound keeps a damaged or hostile
/// node from making a broker allocate without limit.
inline constexpr size_t max_set_members = 32;

/// The encodings, human-readable so that `zkCli.sh get` shows an operator what the brokers
/// see. Versioned by their first line; one `key value` per line in a fixed order, each line
/// ending in '\n':
///
///   holdfast-set-state v1            holdfast-member v1
///   epoch 7                          address 10.0.0.1:10911
///   master 10.0.0.1:10911            haAddress 10.0.0.1:10912
///   syncStateSet 10.0.0.1:10911,...  lastEpoch 7
///                                    logEnd 1048576
///
/// "-" stands for no master and for an empty SyncStateSet. The encoding of a value is unique
/// (numbers without leading zeros, the set sorted), so decode(encode(x)) == x and
/// encode(decode(t)) == t for every accepted t.
///
/// decode is strict: anything else (another version, a missing, repeated, unknown or
/// reordered key, a bad number or address, a broken invariant, "\r") is errc::corrupt with
/// the line and the reason, never a guess. encode refuses a value that breaks an invariant
/// (errc::invalid_argument).
[[nodiscard]] status encode(const broker_set_state& s, std::string& out);
[[nodiscard]] status decode(std::string_view text, broker_set_state& out);
[[nodiscard]] status encode(const broker_member& m, std::string& out);
[[nodiscard]] status decode(std::string_view text, broker_member& out);

/// Whether `a` is "host:port" as the encodings accept it: a host name or IPv4 address of
/// [A-Za-z0-9.-_] or a bracketed IPv6 address, and a port 1-65535 without leading zeros.
[[nodiscard]] bool valid_broker_address(std::string_view a) noexcept;

} // namespace holdfast
