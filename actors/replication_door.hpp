#pragma once

#include "actors/partition.hpp"
#include "actors/wire/replication_wire.hpp"
#include "runtime/secret.hpp"

#include <caf/all.hpp>

#include <map>
#include <string>

namespace holdfast {

struct replication_door_options {
  std::string token;       ///< haAuthToken: "" refuses every slave
  std::string broker_name; ///< a slave must belong to the same broker set
  bool slave = false;      ///< this broker is a SLAVE: nobody replicates from it
  uint64_t epoch = 0;      ///< the leader epoch this master started with
  secret::key producer_key{};
};

struct replication_door_state {
  replication_door_state() = default;
  partition_actor partition;
  replication_door_options opts;
  /// Authenticated link actors (monitored) and the slave each speaks for.
  std::map<caf::actor_addr, std::string> links;
  static inline const char* name = "holdfast.replication_door";
};

/// The replication door, published on haListenPort: the only actor slaves reach.
///
/// Replication never runs unauthenticated: a slave's link says ha_hello_req with the master's
/// haAuthToken (compared in constant time; a master without one refuses everybody) and its
/// brokerName. From then on only that actor, over that connection, may fetch, acknowledge or
/// copy offsets; when it goes away (its proxy dies with the connection) the slave detaches.
/// Everything is forwarded to the partition under the slave's id; the partition never talks
/// to a remote node.
replication_door_actor::behavior_type
replication_door(replication_door_actor::stateful_pointer<replication_door_state> self,
                 partition_actor partition, replication_door_options opts);

} // namespace holdfast
