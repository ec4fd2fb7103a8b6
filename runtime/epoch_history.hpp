#pragma once

#include "runtime/errc.hpp"
#include "runtime/file.hpp"
#include "runtime/leader_epoch.hpp"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace holdfast {

/// The terms of masters that wrote a commit log, in order (Kafka's leader-epoch checkpoint,
/// RocketMQ 5's epoch file): each entry says "from this offset on, this master wrote". A
/// master starts a new term at its log end every time it starts; a slave records the master's
/// terms with the records it copies. Comparing a slave's newest term with the master's
/// history tells where the two logs stop agreeing (see divergence()).
///
/// Invariants: epochs strictly increase; start offsets strictly increase, except that the last
/// entry may start at the log end with no records yet. Every change is durable (temp file,
/// fsync, rename, directory fsync) before the call returns: a term must never be in use with
/// records that its own history has forgotten.
///
/// Threading: one owner (the partition), like the store.
class epoch_history {
public:
  /// Loads `path` (missing = no terms yet). A damaged file is an error: guessing terms could
  /// let a diverged slave pass as caught up.
  [[nodiscard]] static errc open(file_system& fs, std::string path,
                                 std::unique_ptr<epoch_history>& out);

  [[nodiscard]] const std::vector<leader_epoch>& entries() const noexcept {
    return entries_;
  }
  [[nodiscard]] std::optional<leader_epoch> last() const;

  /// Records a new term starting at `e.start_offset`. Terms starting at or after it are
  /// dropped first (they have no records: a master restarted, or a slave is told the
  /// master's newer view). `e.epoch` must exceed every epoch kept.
  [[nodiscard]] errc append(const leader_epoch& e);

  /// Forgets the terms that start at or after `offset` (the log was cut back to it).
  [[nodiscard]] errc truncate_to(uint64_t offset);

  /// What a master answers a slave whose newest term is (epoch, term) and whose log ends at
  /// `slave_end`, given its own log end: nothing when the slave's log is a prefix of this one
  /// as far as terms can tell, else where the slave must cut back to.
  struct verdict {
    bool diverged = false;
    bool drop_last_term = false; ///< the slave's term is unknown here: cut to its start
    uint64_t truncate_to = 0;
  };
  [[nodiscard]] verdict divergence(uint64_t epoch, uint64_t term, uint64_t slave_end,
                                   uint64_t log_end) const;

  /// The terms that start in [from, to): what a slave copying those bytes must record.
  [[nodiscard]] std::vector<leader_epoch> starting_in(uint64_t from, uint64_t to) const;

private:
  epoch_history(file_system& fs, std::string path) : fs_(fs), path_(std::move(path)) {}
  [[nodiscard]] errc persist(std::vector<leader_epoch> next);

  file_system& fs_;
  std::string path_;
  std::vector<leader_epoch> entries_;
};

} // namespace holdfast
