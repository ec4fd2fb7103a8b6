#pragma once

// The partition's areas, as the dispatch in partition.cpp calls them. Internal to the
// partition's sources: each function runs on the partition actor and touches its own slice of
// partition_state (and the shared store, confirmed offset and failure).

#include "actors/partition.hpp"

#include <chrono>

namespace holdfast::partition_impl {

using self_ptr = partition_actor::stateful_pointer<partition_state>;
using steady_time = std::chrono::steady_clock::time_point;

// admin (partition_admin.cpp)
void arm_timer(self_ptr self, steady_time deadline);
partition_status on_status(self_ptr self);
bool on_shutdown(self_ptr self);
void on_checkpoint(self_ptr self);
void on_tick(self_ptr self);
/// Takes a sticky store failure (a failed fsync of the log, an index or a directory) into
/// st.failure, so every later send is refused; true when the partition has failed.
bool note_store_failure(self_ptr self);

// produce (partition_produce.cpp)
caf::result<uint64_t> on_new_producer(self_ptr self);
caf::result<append_reply> on_append(self_ptr self, append_req& req);
/// Waits for the commit log to be durable up to `end`; shared with the slave's appends.
void start_flush_pump(self_ptr self);

// pull (partition_pull.cpp)
caf::result<pull_reply> on_pull(self_ptr self, pull_req& req);
/// Answers the long polls that have something to read now (and, with `expire`, those whose
/// time is up or all of them when stopping).
void serve_parked(self_ptr self, bool expire);
/// After a store append: queues of `msgs` with parked polls are looked at once the confirmed
/// offset reaches `end`.
void note_appended(self_ptr self, const std::vector<message>& msgs,
                   const std::vector<send_result>& results, uint64_t end);
/// Looks at the polls of every queue (after appends whose queues are not known: a slave's).
void serve_all_parked(self_ptr self);

// groups (partition_groups.cpp)
caf::result<bool> on_commit(self_ptr self, commit_offset_req& req);
caf::result<fetch_offset_reply> on_fetch_offset(self_ptr self, fetch_offset_req& req);
caf::result<group_heartbeat_reply> on_heartbeat(self_ptr self, group_heartbeat_req& req);
void on_member_gone(self_ptr self, member_gone& msg);
caf::result<int32_t> on_route(self_ptr self, topic_route_req& req);
caf::result<int32_t> on_update_topic(self_ptr self, update_topic_req& req);
/// Lowers committed offsets above their queue's end (after recovery or a truncation).
void clamp_offsets(self_ptr self, const char* why);
/// Hands an offset change to the offset service; the result is `true` once it is durable.
caf::result<bool> persist_offsets(self_ptr self, offset_write_req req);
/// The checks every consumer-side request shares (`group` may be null: none).
caf::error check_queue(self_ptr self, const std::string* group, const std::string& topic,
                       int32_t queue_id);

// master (partition_master.cpp)
caf::result<ha_fetch_reply> on_slave_fetch(self_ptr self, slave_fetch& msg);
void on_slave_ack(self_ptr self, slave_ack& msg);
void on_slave_gone(self_ptr self, slave_gone& msg);
caf::result<ha_offsets_reply> on_offsets_req(self_ptr self);
/// Answers parked slave fetches that have new records now (or, with `expire`, whose wait is
/// over).
void serve_fetches(self_ptr self, bool expire);
/// Whether a slave counts for a SYNC_MASTER send ending at `end` (heard from recently, not too
/// far behind).
bool slave_in_sync(partition_state& st, uint64_t end);

// slave (partition_slave.cpp)
caf::result<ha_position> on_ha_append(self_ptr self, ha_append_req& req);
caf::result<ha_position> on_ha_truncate(self_ptr self, ha_truncate_req& req);
ha_position slave_position(partition_state& st);
caf::result<bool> on_offsets_copy(self_ptr self, ha_offsets_reply& msg);
caf::result<bool> on_adopt_key(self_ptr self, adopt_producer_key& msg);

} // namespace holdfast::partition_impl
