#include "actors/wire/type_registry.hpp"

#include "actors/wire/client_wire.hpp"
#include "actors/wire/replication_wire.hpp"

#include <caf/all.hpp>

namespace holdfast {

void register_types(caf::actor_system_config& cfg) {
  // The one list of wire types. Names must match across nodes, so they are spelled out here.
  // Internal messages (flush, checkpoint, slave apply, ...) never cross a network and are not
  // registered: a peer cannot even name them.
  cfg.add_message_type<message>("holdfast::message");
  cfg.add_message_type<std::vector<message>>("std::vector<holdfast::message>");
  cfg.add_message_type<send_result>("holdfast::send_result");
  cfg.add_message_type<std::vector<send_result>>("std::vector<holdfast::send_result>");
  cfg.add_message_type<stored_message>("holdfast::stored_message");
  cfg.add_message_type<std::vector<stored_message>>("std::vector<holdfast::stored_message>");
  cfg.add_message_type<topic_info>("holdfast::topic_info");
  cfg.add_message_type<std::vector<topic_info>>("std::vector<holdfast::topic_info>");
  // The client door.
  cfg.add_message_type<producer_claim>("holdfast::producer_claim");
  cfg.add_message_type<std::vector<producer_claim>>("std::vector<holdfast::producer_claim>");
  cfg.add_message_type<hello_req>("holdfast::hello_req");
  cfg.add_message_type<hello_reply>("holdfast::hello_reply");
  cfg.add_message_type<append_req>("holdfast::append_req");
  cfg.add_message_type<append_reply>("holdfast::append_reply");
  cfg.add_message_type<pull_req>("holdfast::pull_req");
  cfg.add_message_type<pull_reply>("holdfast::pull_reply");
  cfg.add_message_type<commit_offset_req>("holdfast::commit_offset_req");
  cfg.add_message_type<fetch_offset_req>("holdfast::fetch_offset_req");
  cfg.add_message_type<fetch_offset_reply>("holdfast::fetch_offset_reply");
  cfg.add_message_type<group_heartbeat_req>("holdfast::group_heartbeat_req");
  cfg.add_message_type<group_heartbeat_reply>("holdfast::group_heartbeat_reply");
  cfg.add_message_type<topic_route_req>("holdfast::topic_route_req");
  cfg.add_message_type<update_topic_req>("holdfast::update_topic_req");
  cfg.add_message_type<slave_info>("holdfast::slave_info");
  cfg.add_message_type<std::vector<slave_info>>("std::vector<holdfast::slave_info>");
  cfg.add_message_type<partition_status>("holdfast::partition_status");
  cfg.add_message_type<send_req>("holdfast::send_req");
  cfg.add_message_type<batch_send_req>("holdfast::batch_send_req");
  // The replication door.
  cfg.add_message_type<ha_hello_req>("holdfast::ha_hello_req");
  cfg.add_message_type<ha_hello_reply>("holdfast::ha_hello_reply");
  cfg.add_message_type<leader_epoch>("holdfast::leader_epoch");
  cfg.add_message_type<std::vector<leader_epoch>>("std::vector<holdfast::leader_epoch>");
  cfg.add_message_type<ha_fetch_req>("holdfast::ha_fetch_req");
  cfg.add_message_type<ha_fetch_reply>("holdfast::ha_fetch_reply");
  cfg.add_message_type<ha_ack>("holdfast::ha_ack");
  cfg.add_message_type<ha_offsets_req>("holdfast::ha_offsets_req");
  cfg.add_message_type<group_offset>("holdfast::group_offset");
  cfg.add_message_type<std::vector<group_offset>>("std::vector<holdfast::group_offset>");
  cfg.add_message_type<ha_offsets_reply>("holdfast::ha_offsets_reply");
  cfg.add_error_category(caf::atom("holdfast"), [](uint8_t code, caf::atom_value, const caf::message& ctx) {
    std::string out{to_string(static_cast<broker_errc>(code))};
    if (ctx.match_elements<std::string>())
      out += ": " + ctx.get_as<std::string>(0);
    return out;
  });
}

} // namespace holdfast
