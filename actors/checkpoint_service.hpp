#pragma once

#include "actors/wire/common.hpp"
#include "runtime/store.hpp"

#include <caf/all.hpp>

#include <condition_variable>
#include <memory>
#include <mutex>

namespace holdfast {

/// Where the partition leaves a checkpoint job for the checkpoint service and takes it back.
/// A job is a bundle of open file handles, not a message that could cross a network, so it
/// does not travel in the CAF message itself. One job at a time.
class checkpoint_slot {
public:
  /// Partition: hand over a job (the slot must be empty).
  void put(std::unique_ptr<checkpoint_job> job);
  /// Service: runs the job in the slot, which stays there for take(); true if it succeeded.
  bool run();
  /// Partition: take the finished job back.
  [[nodiscard]] std::unique_ptr<checkpoint_job> take();
  /// Blocks until no job is running (a clean shutdown writes the checkpoint itself).
  void wait_idle();
  /// Waits for a running job, then drops the job in the slot, run or not: a job prepared
  /// before the log was cut back would record offsets the log no longer has.
  void discard();

private:
  std::mutex mtx_;
  std::condition_variable idle_;
  std::unique_ptr<checkpoint_job> job_;
  bool running_ = false;
};

/// The checkpoint service: makes the indexes durable and writes the checkpoint (and producer
/// snapshot) files off the partition's thread. Detached, because fdatasync blocks: with a slow
/// disk the partition keeps answering (FLUSH_DISK_TIMEOUT instead of a silent stall).
/// Answers `checkpoint_atom` with whether the job in the slot succeeded.
using checkpoint_service_actor = caf::typed_actor<caf::replies_to<checkpoint_atom>::with<bool>>;

checkpoint_service_actor::behavior_type checkpoint_service(std::shared_ptr<checkpoint_slot> slot);

} // namespace holdfast
