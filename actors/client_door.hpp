#pragma once

#include "actors/partition.hpp"
#include "actors/wire/client_wire.hpp"
#include "runtime/secret.hpp"

#include <caf/all.hpp>

#include <map>
#include <optional>
#include <set>
#include <string>

namespace holdfast {

/// What the client door must know of its broker.
struct client_door_options {
  std::string client_token; ///< authToken ("" = no check)
  std::string broker_name;
  std::string broker_role;
  bool sync_flush = false;
  uint32_t sync_flush_timeout_ms = 0;
  uint64_t max_message_size = 0;
  int32_t queue_nums = 0;
  secret::key producer_key{}; ///< ownership tags of producer ids (runtime/secret.hpp)
  uint32_t max_requests_per_client = 4096; ///< maxRequestsPerClient
};

/// A client connection as the door sees it: a remote node (or this process) that said hello.
/// It lasts while any of its anchors lives: the actors that said hello, which the door
/// monitors. A broken connection kills their proxies, so the session ends with it.
struct client_session {
  std::set<caf::actor_addr> anchors;
  bool authenticated = false;
  std::set<uint64_t> producer_ids; ///< ids given to or claimed by this session
};

struct client_door_state {
  client_door_state() = default;
  partition_actor partition;
  client_door_options opts;
  std::map<caf::node_id, client_session> sessions;
  /// Actors that sent group heartbeats (monitored) and the consumer ids they spoke for.
  std::map<caf::actor_addr, std::set<std::string>> members;
  /// Requests of each remote node forwarded and not yet answered.
  std::map<caf::node_id, uint32_t> outstanding;
  static inline const char* name = "holdfast.client_door";
};

/// The client door, published on listenPort: the only actor clients reach.
///
/// It checks who asks and forwards to the partition, relaying the answer itself, so the
/// partition never exchanges a message with a remote node and stays out of the registry CAF
/// resolves remote destinations in (docs/architecture.md, "Doors").
///
///  - Sessions: hello_req opens one for the sender's node, after a constant-time check of
///    authToken when one is set; with a token, every other request needs a session (actors of
///    this process are trusted). A session ends when its anchors are gone.
///  - Producer ids are bound to the session that got them; an append carrying another id is
///    refused with unknown_producer. A producer that reconnects claims its ids with the tags
///    its hello gave it (siphash of the id under the store's producer key).
///  - Group heartbeats: the sender is monitored; when it goes, its members leave their groups.

client_door_actor::behavior_type
client_door(client_door_actor::stateful_pointer<client_door_state> self, partition_actor partition,
            client_door_options opts);

/// The ownership tag of a producer id under `key`.
[[nodiscard]] uint64_t producer_secret(const secret::key& key, uint64_t producer_id);

} // namespace holdfast
