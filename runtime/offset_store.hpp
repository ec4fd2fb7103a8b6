#pragma once

#include "runtime/errc.hpp"
#include "runtime/file.hpp"
#include "runtime/message.hpp" // valid_group_name
#include "runtime/offset_journal.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace holdfast {


/// Consumer-group offsets kept by the broker (RocketMQ's consumerOffset.json): for each
/// (group, topic, queue id) the next queue offset the group will consume.
///
/// On disk: a snapshot (`consumer_offsets`, rewritten atomically now and then) and an
/// append-only journal (`consumer_offsets.journal`, runtime/offset_journal.hpp) of every change
/// since; the state is the snapshot with the journal's records applied in order. Each record
/// sets entries to values, so replaying a journal over a snapshot that already holds it changes
/// nothing (a crash between a compaction's rename and its journal reset is harmless). The
/// snapshot has the format the whole file had before the journal existed, so a store written
/// by an older broker opens as a snapshot with an empty journal.
///
/// A consumer commits only after its handler succeeded, so every commit is durable before it
/// is answered: redelivering a message after a crash is acceptable (at-least-once), but
/// claiming an offset the disk does not hold would skip messages. Invariants:
///  - memory never claims more than the disk: get/all/group_offsets show what the last
///    successful sync() made durable (`durable_`), never what is only staged;
///  - an offset only moves forward, unless an operator rewinds it or clamp() lowers it to its
///    queue's end; forward is checked against the staged state, which includes every change
///    handed over before, durable or not.
///
/// Group commit: the stage_* calls validate and append a journal record without fsync; one
/// sync() then makes every staged change durable at once. commit/commit_all/merge_max/clamp
/// are stage + sync for callers that need no batching.
///
/// A failed fsync (of the journal, of a snapshot or of the directory) is sticky: every later
/// change returns errc::sticky_failure until the broker restarts and reads what the disk holds
/// (fsyncgate). A write that fails for lack of space (errc::no_space) is not: it is cut back
/// off, so the next commit simply tries again.
///
/// Lifecycle: `open` once at broker start, then changes for the life of the broker; the
/// destructor writes nothing because every answered change was already durable.
///
/// Threading: not synchronised. One owner (the offset service's thread) calls everything.
class offset_store {
public:
  /// One committed offset.
  struct entry {
    std::string group;
    std::string topic;
    int32_t queue_id = 0;
    uint64_t offset = 0; ///< the next queue offset the group will consume
  };

  struct options {
    /// Compact once the journal holds at least this many bytes and twice the snapshot's size:
    /// the journal then costs at most about three times the live state on disk, and each
    /// committed byte is rewritten a bounded number of times. 1 MiB is some 20k commits, a
    /// few hundred milliseconds of replay at the worst.
    uint64_t compact_min_bytes = 1u << 20;
  };

  /// Loads `<dir>/consumer_offsets` and replays `<dir>/consumer_offsets.journal` over it
  /// (missing = empty; a missing `dir` is created; the journal is created). A corrupt snapshot
  /// or a journal with a foreign magic is renamed aside to `<name>.corrupt` (never deleted)
  /// and the store starts without it, logging an error; a torn journal tail is cut off (a
  /// write no caller was told had succeeded); a leftover consumer_offsets.tmp is ignored.
  [[nodiscard]] static errc open(file_system& fs, std::string dir,
                                 std::unique_ptr<offset_store>& out);
  [[nodiscard]] static errc open(file_system& fs, std::string dir, options opts,
                                 std::unique_ptr<offset_store>& out);

  offset_store(const offset_store&) = delete;
  offset_store& operator=(const offset_store&) = delete;

  /// The committed (durable) offset, or std::nullopt when the group never committed for that
  /// queue.
  [[nodiscard]] std::optional<uint64_t> get(const std::string& group, const std::string& topic,
                                            int32_t queue_id) const;

  // ---- staged changes: validated and journaled, durable after the next sync() ------------

  /// Several commits, one journal record. All or nothing: one invalid entry (invalid group or
  /// topic name, queue id outside [0, 65535]: errc::invalid_argument) or one that would move an
  /// offset backwards (errc::out_of_range, unless `allow_rewind`: an operator reset) refuses
  /// the whole batch with nothing written. Entries are applied in order, so a later entry for
  /// the same queue must not be smaller than an earlier one. `applied` gets the entries that
  /// changed something (none: nothing was written).
  [[nodiscard]] errc stage_commit(const std::vector<entry>& entries, bool allow_rewind,
                                  std::vector<entry>& applied);
  /// A slave's copy of its master's offsets (RocketMQ's SlaveSynchronize): each entry is
  /// taken where it is ahead of the staged one, never moving an offset backwards; invalid
  /// entries are skipped. `applied` gets those taken.
  [[nodiscard]] errc stage_merge_max(const std::vector<entry>& entries,
                                     std::vector<entry>& applied);
  /// Lowers every offset above its queue's end (`end_of(topic, queue)`) to that end;
  /// `lowered` gets the entries as they were, `applied` as they are now. For a log that lost
  /// its tail (a power cut under ASYNC_FLUSH, a slave cut back to its master): a position past
  /// the end would skip the messages stored there next.
  [[nodiscard]] errc stage_clamp(const std::function<uint64_t(const std::string&, int32_t)>& end_of,
                                 std::vector<entry>& lowered, std::vector<entry>& applied);
  /// Makes every staged change durable (one fsync, however many were staged).
  [[nodiscard]] errc sync();
  /// True while staged changes wait for sync().
  [[nodiscard]] bool dirty() const noexcept;

  // ---- stage + sync ------------------------------------------------------------------------

  /// One commit, durable before it returns (see stage_commit).
  [[nodiscard]] errc commit(const std::string& group, const std::string& topic,
                            int32_t queue_id, uint64_t offset, bool allow_rewind = false);
  /// Several commits, one journal record and one fsync (see stage_commit).
  [[nodiscard]] errc commit_all(const std::vector<entry>& entries);
  /// See stage_merge_max; durable before it returns.
  [[nodiscard]] errc merge_max(const std::vector<entry>& entries);
  /// See stage_clamp; durable before it returns.
  [[nodiscard]] errc clamp(const std::function<uint64_t(const std::string&, int32_t)>& end_of,
                           std::vector<entry>& lowered);

  // ---- compaction --------------------------------------------------------------------------

  /// True when the journal has grown enough to be folded into a new snapshot.
  [[nodiscard]] bool compaction_due() const noexcept;
  /// Writes the durable state as the new snapshot (temp file, fsync, rename, directory fsync)
  /// and empties the journal. Only with nothing staged (errc::invalid_argument otherwise).
  [[nodiscard]] errc compact();

  /// Every durable entry, ordered by group, topic, queue id.
  [[nodiscard]] std::vector<entry> all() const;

  /// All durable entries of one group, ordered by topic then queue id (for status displays
  /// and rebalancing).
  [[nodiscard]] std::vector<entry> group_offsets(const std::string& group) const;

  /// True after a failed fsync: every later change is refused until restart.
  [[nodiscard]] bool failed() const noexcept {
    return failed_;
  }

  /// Number of durable (group, topic, queue) entries held.
  [[nodiscard]] size_t size() const noexcept {
    return durable_.size();
  }

  /// Bytes in the journal, magic included (for tests and status).
  [[nodiscard]] uint64_t journal_size() const noexcept;

private:
  // Ordered so that one group's entries are contiguous (group_offsets) and the snapshot is
  // written in a deterministic order.
  using key = std::tuple<std::string, std::string, int32_t>;
  using offset_map = std::map<key, uint64_t>;

  offset_store(file_system& fs, std::string dir, options opts);

  [[nodiscard]] errc load();
  [[nodiscard]] errc move_aside(const std::string& path, std::string_view what,
                                std::string_view why, size_t size);
  /// Journals `applied` (already checked) and applies it to staged_.
  [[nodiscard]] errc stage(const std::vector<entry>& applied);
  /// Takes a failed fsync into failed_ and drops what was staged.
  void note_failure(errc e);

  file_system& fs_;
  std::string dir_;
  std::string path_;         // dir_ + "/consumer_offsets": the snapshot
  std::string journal_path_; // dir_ + "/consumer_offsets.journal"
  options opts_;
  std::unique_ptr<offset_journal> journal_;
  offset_map durable_; // what the disk holds for sure
  offset_map staged_;  // durable_ plus the changes journaled since the last sync
  uint64_t snapshot_size_ = 0;
  bool failed_ = false; // an fsync failed: sticky until restart
};

} // namespace holdfast
