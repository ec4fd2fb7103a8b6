#pragma once

#include "actors/partition.hpp"
#include "actors/wire/common.hpp"
#include "runtime/task.hpp"

#include <caf/all.hpp>

#include <chrono>
#include <vector>

namespace holdfast {

/// The broker's delay timer (RocketMQ's ScheduleMessageService): moves each message of
/// SCHEDULE_TOPIC_XXXX queue `level - 1` to its REAL_TOPIC once its store time plus the
/// level's delay has passed. Retried messages reach %RETRY%<group> this way.
///
/// Runs on a master only (a slave's log is a copy; it would write into it). Talks to the
/// partition only through its typed interface, like any client:
///
///   position = fetch_offset(SCHEDULE_SERVICE, level queue)   // once, durable across restarts
///   loop: pull (non-blocking) -> the due prefix -> append to REAL_TOPIC -> commit position
///
/// Within one level every message has the same delay, so a queue is due in order: the first
/// message not yet due ends that level's sweep. Append before commit: a crash in between
/// delivers the message twice, never loses it (at-least-once, like everything consumed).
using schedule_service_actor = caf::typed_actor<caf::reacts_to<tick_atom>>;

/// The consumer group the service keeps its positions under in the offset store.
inline constexpr const char* schedule_service_group = "SCHEDULE_SERVICE";

struct schedule_service_options {
  std::vector<std::chrono::milliseconds> levels; ///< messageDelayLevel, level 1 first
  /// How often the queues are looked at: the delay precision. RocketMQ's is 100 ms too.
  std::chrono::milliseconds interval{100};
};

struct schedule_service_state {
  schedule_service_state() = default;
  partition_actor partition;
  schedule_service_options opts;
  std::vector<uint64_t> next;  ///< next queue offset per level
  std::vector<bool> loaded;    ///< the durable position of the level was read
  uint64_t moved = 0;
  // Declared last: destroyed first.
  task_scope tasks;
  static inline const char* name = "holdfast.schedule_service";
};

schedule_service_actor::behavior_type
schedule_service(schedule_service_actor::stateful_pointer<schedule_service_state> self,
                 partition_actor partition, schedule_service_options opts);

} // namespace holdfast
