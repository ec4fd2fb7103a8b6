#pragma once

#include "runtime/commit_log.hpp"
#include "runtime/epoch_history.hpp"
#include "runtime/message.hpp"
#include "runtime/producer_table.hpp"
#include "runtime/queue_index.hpp"
#include "runtime/secret.hpp"
#include "runtime/status.hpp"

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace holdfast {

/// Where a broker keeps its data and how big things may be.
struct store_options {
  std::string root;                     ///< storePathRootDir
  uint64_t segment_size = 1ull << 30;   ///< mappedFileSizeCommitLog
  uint64_t max_message_size = 4u << 20; ///< maxMessageSize, body bytes
  int32_t default_queue_nums = 4;       ///< defaultTopicQueueNums
  /// A producer-state snapshot is written at a checkpoint once the log has grown this much
  /// since the last one (and at every clean shutdown): recovery replays at most this much.
  uint64_t producer_snapshot_bytes = 64ull << 20;
  /// Read size of that replay (tests make it small to cut records at every possible place).
  size_t scan_chunk_bytes = 1 << 20;
  /// Idempotent producer streams idle this long (store time) leave memory at the next
  /// checkpoint: 7 days, longer than any producer's retries (Kafka's default is 1 day).
  int64_t producer_expiry_ms = 7ll * 24 * 3600 * 1000;
  int32_t delay_levels = 18;            ///< messageDelayLevel count: SCHEDULE_TOPIC_XXXX's queues
  /// maxOpenIndexFiles: index files held open at once (index_file_cache); a checkpoint job
  /// may keep as many again open while it runs.
  size_t max_open_index_files = 1024;
  /// autoCreateTopicEnable: a send to an unknown topic creates it. When false it is refused
  /// (errc::not_found) and topics come from create_topic() (holdfast admin updateTopic).
  /// Records replicated from a master and recovery create their topics either way.
  bool auto_create_topics = true;
  /// A master's store begins a new term (leader epoch) every time it is opened; a slave's only
  /// records the terms of its master.
  bool master = true;

  /// Queues a topic gets when it is created: the system topics' own rule, else the default.
  [[nodiscard]] int32_t queue_nums_for(std::string_view topic) const noexcept {
    auto n = system_topic_queue_nums(topic, delay_levels);
    return n > 0 ? n : default_queue_nums;
  }
};

/// Most queues a topic may have (defaultTopicQueueNums and updateTopic's bound).
inline constexpr int32_t max_topic_queues = 1024;

/// Why a message is refused before anything is written.
enum class message_check : uint8_t {
  ok,
  bad_topic,    ///< not [A-Za-z0-9_%-]{1,127}
  bad_queue,    ///< queue id not in [0, queue count) and not -1
  too_large,    ///< body above maxMessageSize
  bad_msg_id,   ///< message id over 128 bytes
  bad_property, ///< empty or over-long key, over-long value, too many bytes of properties
};

[[nodiscard]] std::string_view to_string(message_check x) noexcept;


/// State a store shares with its checkpoint jobs, which run on another thread.
struct store_flags {
  /// Set by a failed fsync; checked before a job syncs or writes anything, so no checkpoint ever
  /// covers index bytes a failed fsync may have dropped (a later "successful" fdatasync does
  /// not write them again).
  std::atomic<bool> sticky{false};
  /// Held while a job runs: two would race on the same temporary files. Not an assertion: a
  /// clean shutdown's own checkpoint can meet a job the checkpoint service has not started yet
  /// (it waits only for a running one); one after the other, both are harmless.
  std::mutex running;
};

/// The slow half of a checkpoint (fsyncs and atomic file writes), prepared by the store's
/// writer thread and runnable on any other thread, so a slow disk does not stall the writer.
/// Jobs of one store run one at a time.
struct checkpoint_job {
  file_system* fs = nullptr;
  std::string root;
  uint64_t offset = 0;                       ///< recovery may start here once the job is done
  std::vector<std::shared_ptr<file>> files;  ///< index files, already written, to fdatasync
  std::vector<std::string> file_paths;       ///< their paths (index_file_cache::mark_synced)
  uint64_t file_generation = 0;              ///< the cache's write generation they cover
  std::vector<std::string> dirs;             ///< directories created since the last checkpoint
  std::string snapshot;                      ///< producer-state snapshot to write, or empty
  uint64_t snapshot_offset = 0;
  std::shared_ptr<store_flags> flags;         ///< the store's; null only in a bare job
  errc result = errc::ok;

  /// Syncs the files and directories, then writes the snapshot and the checkpoint atomically.
  /// A failed fsync on the way makes the store sticky (message_store::failed()); a failed
  /// write (errc::no_space) does not, and the next job does it all again.
  errc run();

private:
  errc run_steps();
};

/// The broker's storage: the commit log, one index per topic queue, a recovery checkpoint and
/// a clean-shutdown marker, under one root directory:
///
///   root/commitlog/<20-digit base offset>     segments
///   root/consumequeue/<topic>/<queue id>       indexes
///   root/checkpoint                            commit-log offset up to which indexes are durable
///   root/clean_shutdown                        present only between a clean stop and next start
///   root/producer_state                        idempotent producers as of an offset (snapshot)
///   root/epochs                                the terms of the masters that wrote the log
///   root/producer_key                          key of idempotent producers' ownership tags
///   root/producer_epoch                        (read only) epoch of ids before terms existed
///
/// A failed fsync anywhere in the store (commit log, index files, directories, checkpoint,
/// producer snapshot or epoch, a truncation) is sticky: from then on every write (append,
/// append_raw, truncate_to, checkpoint, close) returns errc::sticky_failure until a restart,
/// whose recovery is the only way to know what the disk holds (fsyncgate). A write that fails
/// for lack of space (errc::no_space) is undone and is not sticky.
///
/// Threading: owned by the partition actor (the single writer). The commit log inside is shared
/// with the flush service, which only calls commit_log::sync().
class message_store {
public:
  [[nodiscard]] static errc open(file_system& fs, store_options opts,
                                 std::unique_ptr<message_store>& out, recovery_report& report);

  ~message_store();

  [[nodiscard]] message_check check(const message& m) const;

  /// Appends a batch as one write: all of it or none. Queue ids of -1 are resolved round robin,
  /// empty message ids are generated. `out` gets one result per message (status SEND_OK: the
  /// caller decides the final status after flush/replication). `end` is the log offset just
  /// past the batch: the batch is durable once the commit log's flushed offset reaches it.
  ///
  /// Messages of an idempotent producer (producer_id != 0) that were stored before are not
  /// written again: their result is the original one, and `end` covers the original record,
  /// so the caller waits for its durability like for a new one. A sequence number that skips
  /// ahead fails the batch with errc::out_of_sequence (nothing stored), one older than the
  /// stream's window with errc::out_of_range (stored once, its result forgotten); the
  /// status's context names the stream.
  status append(std::vector<message>& batch, int64_t now_ms, std::vector<send_result>& out,
                uint64_t& end);

  /// A producer id never handed out before, by this broker or any other whose records this
  /// log holds: (leader epoch << 32) | counter. Masters only (errc::invalid_argument else).
  [[nodiscard]] errc new_producer_id(uint64_t& out);

  /// The key producers' ownership tags are made with (runtime/secret.hpp), made once per
  /// store; a slave takes its master's so that it recognises them after a promotion.
  [[nodiscard]] const secret::key& producer_key() const noexcept {
    return producer_key_;
  }
  [[nodiscard]] errc set_producer_key(const secret::key& k);

  /// The terms of the masters that wrote this log, newest last.
  [[nodiscard]] const epoch_history& epochs() const noexcept {
    return *epochs_;
  }
  /// The newest leader epoch this log knows (0: none).
  [[nodiscard]] uint64_t current_epoch() const noexcept;
  /// A slave records its master's terms (those that start in bytes it is about to append),
  /// durably, before the bytes.
  [[nodiscard]] errc record_terms(const std::vector<leader_epoch>& terms);

  /// Queue offset just past the last message of the queue whose record ends at or below the
  /// commit-log offset `confirmed`: what consumers may have seen of it.
  [[nodiscard]] uint64_t confirmed_queue_end(const std::string& topic, int32_t queue_id,
                                             uint64_t confirmed) const;

  /// Retried sends answered with their original result since start.
  [[nodiscard]] uint64_t duplicates() const noexcept {
    return duplicates_;
  }

  /// True after a failed fsync of the store or of its commit log (any thread may ask; the
  /// checkpoint service sets it). Sticky until restart.
  [[nodiscard]] bool failed() const noexcept {
    return flags_->sticky.load(std::memory_order_acquire) || (log_ && log_->failed())
           || index_files_->failed();
  }

  [[nodiscard]] const producer_table& producers() const noexcept {
    return producers_;
  }

  /// Appends records copied from a master (replication): `bytes` must be whole records that
  /// start exactly at write_offset() and carry their own commit-log offsets. Each is checked
  /// (crc, framing, offset) before anything is written; the indexes are updated from them.
  [[nodiscard]] errc append_raw(std::span<const char> bytes, bool new_segment = false);

  /// Whole records from commit-log offset `from`, at most `max_bytes` of them (at least one
  /// record when any is there) and never past the end of `from`'s segment, for a slave.
  /// `new_segment` tells whether `from` starts a segment. `from` must be a record boundary
  /// (errc::invalid_argument otherwise: it comes from the network).
  [[nodiscard]] errc read_raw(uint64_t from, size_t max_bytes, std::string& out,
                              bool& new_segment);

  /// Cuts the log and the indexes back to `offset` (a record boundary): a slave whose log is
  /// longer than its master's. Returns the number of bytes dropped in `dropped`.
  [[nodiscard]] errc truncate_to(uint64_t offset, uint64_t& dropped);

  /// Reads up to `max` messages of a queue from queue offset `from`, none whose record ends
  /// past `confirmed` (a commit-log offset), and no more than `max_bytes` of records (but
  /// always the first one, however large, so a big message never blocks its queue). `next` is
  /// the queue offset to read next.
  [[nodiscard]] errc read(const std::string& topic, int32_t queue_id, uint64_t from, size_t max,
                          uint64_t confirmed, std::vector<stored_message>& out, uint64_t& next,
                          uint64_t max_bytes = UINT64_MAX);

  /// Queue offset just past the last message of the queue (0 for unknown queues).
  [[nodiscard]] uint64_t queue_end(const std::string& topic, int32_t queue_id) const;

  [[nodiscard]] int32_t queue_count(const std::string& topic) const;

  /// True when the topic exists (was created by a send, replication, recovery or
  /// create_topic).
  [[nodiscard]] bool has_topic(std::string_view topic) const;

  /// Creates a topic with `queues` queues, or grows an existing one to that many: RocketMQ's
  /// updateTopic. Existing queues keep their entries. errc::invalid_argument for a bad name,
  /// `queues` outside [1, 1024] or fewer queues than the topic has (shrinking is refused:
  /// the dropped queues' messages would become unreachable). Durable before it returns: the
  /// index files and their directory entries are synced and the queue count is recorded in
  /// root/topics.
  [[nodiscard]] errc create_topic(const std::string& topic, int32_t queues);

  /// The handles of the index files (bounded by max_open_index_files).
  [[nodiscard]] const index_file_cache& index_files() const noexcept {
    return *index_files_;
  }

  [[nodiscard]] std::vector<topic_info> topics() const;

  [[nodiscard]] const std::shared_ptr<commit_log>& log() const noexcept {
    return log_;
  }

  /// Makes the indexes durable and records up to where: recovery then scans only past it.
  /// begin_checkpoint() + job.run() + end_checkpoint() on the calling thread.
  [[nodiscard]] errc checkpoint();

  /// The cheap half of a checkpoint, on the writer thread: writes the buffered index entries
  /// and returns what remains to be synced and written. One job at a time.
  [[nodiscard]] std::unique_ptr<checkpoint_job> begin_checkpoint();
  /// Takes a finished job back (on the writer thread): a failed one is redone in full next time.
  void end_checkpoint(const checkpoint_job& job);

  /// Syncs everything and writes the clean-shutdown marker. The store is unusable afterwards.
  [[nodiscard]] errc close();

private:
  struct queue {
    std::unique_ptr<queue_index> index;
  };
  struct topic {
    std::vector<queue> queues;
    uint32_t next_rr = 0;
  };

  message_store(file_system& fs, store_options opts);
  [[nodiscard]] errc get_topic(const std::string& name, topic*& out);
  [[nodiscard]] errc load_topics();
  [[nodiscard]] errc load_topic_table();
  [[nodiscard]] errc write_topic_table();
  [[nodiscard]] errc rebuild(const record::view& v);
  void apply_producer(const record::view& v);
  [[nodiscard]] errc load_producers();
  [[nodiscard]] errc load_producer_key();
  [[nodiscard]] errc begin_term();
  [[nodiscard]] errc scan(uint64_t from, const std::function<void(const record::view&)>& fn);
  /// Makes the store sticky after a failed fsync (or a half-done truncation); returns `e`.
  errc fail(std::string_view what, errc e);

  file_system& fs_;
  store_options opts_;
  std::shared_ptr<commit_log> log_;
  // Before topics_: their indexes take their handles from here.
  std::unique_ptr<index_file_cache> index_files_;
  // Shared with checkpoint jobs, which set `sticky` from the checkpoint service's thread.
  std::shared_ptr<store_flags> flags_ = std::make_shared<store_flags>();
  std::map<std::string, topic, std::less<>> topics_;
  std::vector<std::string> new_dirs_; // created since the last checkpoint; need a dir sync
  /// Queue counts given by create_topic (root/topics): they override the default rule.
  std::map<std::string, int32_t, std::less<>> topic_table_;
  std::string id_prefix_;
  uint64_t id_counter_ = 0;
  bool rebuild_inconsistent_ = false;
  bool closed_ = false;
  producer_table producers_;
  uint64_t producer_snapshot_at_ = 0; ///< log offset the last producer snapshot covered
  uint64_t checkpoint_at_ = 0;        ///< offset the checkpoint file on disk names
  std::unique_ptr<epoch_history> epochs_;
  secret::key producer_key_{};
  uint64_t producer_counter_ = 0;
  uint64_t duplicates_ = 0;
};

} // namespace holdfast
