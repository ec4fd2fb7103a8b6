#pragma once

#include "actors/client_door.hpp"
#include "actors/flush_service.hpp"
#include "actors/offset_service.hpp"
#include "actors/partition.hpp"
#include "actors/replication_door.hpp"
#include "actors/replication_link.hpp"
#include "actors/schedule_service.hpp"
#include "config/broker_config.hpp"
#include "runtime/file.hpp"

#include <caf/all.hpp>

#include <chrono>

namespace holdfast {

/// The actors of one running broker, wired together. Only the doors are published.
struct broker_handles {
  client_door_actor client_door;           ///< listenPort
  replication_door_actor replication_door; ///< haListenPort
  partition_actor partition;
  flush_service_actor flusher;
  offset_service_actor offsets; ///< consumer offsets on disk
  replication_link_actor link; ///< on a SLAVE only
  schedule_service_actor schedule; ///< on a master only
  recovery_report recovery;
};

/// Faults a test can inject into a real broker process (holdfast-broker --fault-...).
struct broker_faults {
  uint32_t drop_replies_every = 0; ///< see partition_options::fault_drop_replies_every
};

/// Opens (and recovers) the store under `cfg.store_path_root_dir` through `fs`, spawns the flush
/// service, the partition and its doors (publishing them is the caller's: holdfast-broker). The errors are for humans: they name the path and the cause.
[[nodiscard]] caf::expected<broker_handles>
start_broker(caf::actor_system& sys, const config::broker_config& cfg, file_system& fs,
             const broker_faults& faults = {});

/// Clean stop: the partition syncs and writes the clean-shutdown marker, then every actor exits.
/// Returns true when the marker was written. When the partition has not finished within
/// `timeout` (a stalled disk), sets `*timed_out` (if given) and returns false: the partition
/// is then still blocked in the disk and the process can only end by _exit (the marker is not
/// written, so the next start recovers).
bool stop_broker(caf::actor_system& sys, broker_handles& b,
                 std::chrono::milliseconds timeout = std::chrono::seconds(30),
                 bool* timed_out = nullptr);

/// The options of each actor, as derived from the config.
[[nodiscard]] store_options store_options_of(const config::broker_config& cfg);
[[nodiscard]] partition_options partition_options_of(const config::broker_config& cfg);
[[nodiscard]] flush_options flush_options_of(const config::broker_config& cfg);

} // namespace holdfast
