#include "actors/broker.hpp"

#include "runtime/log.hpp"

#include <algorithm>
#include <sys/resource.h>
#include <unistd.h>

namespace holdfast {

store_options store_options_of(const config::broker_config& cfg) {
  store_options o;
  o.root = cfg.store_path_root_dir;
  o.segment_size = cfg.mapped_file_size_commit_log;
  o.max_message_size = cfg.max_message_size;
  o.default_queue_nums = static_cast<int32_t>(cfg.default_topic_queue_nums);
  // The schema validated the key, so this parses.
  if (auto levels = config::parse_delay_levels(cfg.message_delay_level))
    o.delay_levels = static_cast<int32_t>(levels->size());
  o.master = cfg.broker_role != config::broker_role::slave;
  o.auto_create_topics = cfg.auto_create_topic_enable;
  o.max_open_index_files = cfg.max_open_index_files;
  return o;
}

partition_options partition_options_of(const config::broker_config& cfg) {
  partition_options o;
  o.sync_flush = cfg.flush_disk_type == config::flush_disk_type::sync_flush;
  o.sync_flush_timeout = cfg.sync_flush_timeout;
  o.checkpoint_interval = cfg.flush_interval_consume_queue;
  o.broker_role = std::string(config::to_string(cfg.broker_role));
  o.broker_name = cfg.broker_name;
  o.max_message_size = cfg.max_message_size;
  o.max_transfer_bytes = cfg.max_transfer_bytes_on_message_in_memory;
  o.max_transfer_count = static_cast<uint32_t>(cfg.max_transfer_count_on_message_in_memory);
  o.max_parked_pulls = cfg.max_parked_pulls;
  o.max_parked_pulls_per_client = cfg.max_parked_pulls_per_client;
  o.queue_nums = static_cast<int32_t>(cfg.default_topic_queue_nums);
  o.slave = cfg.broker_role == config::broker_role::slave;
  o.sync_master = cfg.broker_role == config::broker_role::sync_master;
  o.master_address = cfg.ha_master_address;
  o.ha_listen_port = config::ha_listen_port_of(cfg);
  o.slave_timeout = cfg.slave_timeout;
  o.housekeeping_interval = cfg.ha_housekeeping_interval;
  o.max_gap_not_in_sync = cfg.ha_max_gap_not_in_sync;
  o.transfer_batch_size = static_cast<uint32_t>(cfg.ha_transfer_batch_size);
  return o;
}

flush_options flush_options_of(const config::broker_config& cfg) {
  flush_options o;
  o.interval = cfg.flush_interval_commit_log;
  o.least_pages = cfg.flush_commit_log_least_pages;
  o.thorough_interval = cfg.flush_commit_log_thorough_interval;
  return o;
}

caf::expected<broker_handles> start_broker(caf::actor_system& sys,
                                           const config::broker_config& cfg, file_system& fs,
                                           const broker_faults& faults) {
  broker_handles b;
  std::unique_ptr<message_store> store;
  auto so = store_options_of(cfg);
  // The index handles (with a running checkpoint's, at most twice maxOpenIndexFiles) may take
  // half of the open-file limit; the rest is for connections, segments and the other files.
  if (rlimit nofile{}; ::getrlimit(RLIMIT_NOFILE, &nofile) == 0
                       && nofile.rlim_cur != RLIM_INFINITY) {
    auto quarter = std::max<rlim_t>(nofile.rlim_cur / 4, 8);
    if (so.max_open_index_files > quarter) {
      log_warning("maxOpenIndexFiles lowered from {} to {}: a quarter of the open-file limit {}",
                  so.max_open_index_files, quarter, nofile.rlim_cur);
      so.max_open_index_files = static_cast<size_t>(quarter);
    }
  }
  if (auto e = message_store::open(fs, so, store, b.recovery); e != errc::ok)
    return make_error(broker_errc::storage_failure,
                      "cannot open store " + so.root + ": " + std::string(to_string(e)));
  auto& r = b.recovery;
  if (r.clean)
    log_info("store {}: clean start, commit log ends at {}", so.root, r.end_offset);
  else
    log_info("store {}: recovered {} records from offset {}, log ends at {} ({} bytes of torn "
             "tail dropped, {} files moved aside)",
             so.root, r.scanned_records, r.scanned_from, r.end_offset, r.truncated_bytes,
             r.moved_aside.size());
  std::unique_ptr<offset_store> offsets;
  if (auto e = offset_store::open(fs, so.root, offsets); e != errc::ok)
    return make_error(broker_errc::storage_failure, "cannot open consumer offsets in " + so.root
                                                      + ": " + std::string(to_string(e)));
  b.flusher = spawn_flush_service(sys, store->log(), flush_options_of(cfg));
  auto po = partition_options_of(cfg);
  po.fault_drop_replies_every = faults.drop_replies_every;
  if (po.fault_drop_replies_every > 0)
    log_warning("FAULT INJECTION: the reply to every {}th stored batch is dropped (testing only)",
                po.fault_drop_replies_every);
  client_door_options co;
  co.max_requests_per_client = cfg.max_requests_per_client;
  co.client_token = cfg.auth_token;
  co.broker_name = cfg.broker_name;
  co.broker_role = po.broker_role;
  co.sync_flush = po.sync_flush;
  co.sync_flush_timeout_ms = static_cast<uint32_t>(po.sync_flush_timeout.count());
  co.max_message_size = po.max_message_size;
  co.queue_nums = po.queue_nums;
  co.producer_key = store->producer_key();
  replication_door_options ro;
  ro.token = cfg.ha_auth_token;
  ro.broker_name = cfg.broker_name;
  ro.slave = po.slave;
  ro.epoch = store->current_epoch();
  ro.producer_key = store->producer_key();
  if (!po.slave)
    log_info("store {}: leader epoch {} starts at offset {}", so.root, store->current_epoch(),
             store->log()->write_offset());
  auto committed = offsets->all();
  b.offsets = spawn_offset_service(sys, std::move(offsets));
  partition_parts parts{std::move(store), b.offsets, std::move(committed)};
  b.partition = spawn_partition(sys, std::move(parts), b.flusher, po);
  b.client_door = sys.spawn(client_door, b.partition, co);
  b.replication_door = sys.spawn(replication_door, b.partition, ro);
  if (cfg.broker_role == config::broker_role::slave) {
    replication_link_options lo;
    lo.master_address = cfg.ha_master_address;
    lo.token = cfg.ha_auth_token;
    lo.broker_name = cfg.broker_name;
    lo.slave_id = cfg.broker_name + "@" + cfg.listen_host + ":" + std::to_string(cfg.listen_port)
                  + "#" + std::to_string(::getpid());
    lo.heartbeat = cfg.ha_send_heartbeat_interval;
    lo.batch_bytes = static_cast<uint32_t>(cfg.ha_transfer_batch_size);
    lo.offset_sync = std::min<std::chrono::milliseconds>(cfg.ha_send_heartbeat_interval,
                                                         std::chrono::seconds(3));
    b.link = sys.spawn(replication_link, b.partition, lo);
  } else {
    schedule_service_options so;
    if (auto levels = config::parse_delay_levels(cfg.message_delay_level))
      so.levels = std::move(*levels);
    b.schedule = sys.spawn(schedule_service, b.partition, so);
  }
  return b;
}

bool stop_broker(caf::actor_system& sys, broker_handles& b, std::chrono::milliseconds timeout,
                 bool* timed_out) {
  bool clean = false;
  // The schedule service first: it must not append while the partition closes its store.
  if (b.schedule)
    caf::anon_send_exit(b.schedule, caf::exit_reason::user_shutdown);
  b.schedule = nullptr;
  if (b.partition) {
    caf::scoped_actor self{sys};
    self->request(b.partition, timeout, shutdown_atom::value)
      .receive([&](bool ok) { clean = ok; },
               [&](caf::error& err) {
                 if (err == caf::sec::request_timeout && timed_out)
                   *timed_out = true;
                 log_error("broker: clean shutdown failed: {}", caf::to_string(err));
               });
    self->send_exit(b.partition, caf::exit_reason::user_shutdown);
  }
  if (b.link)
    caf::anon_send_exit(b.link, caf::exit_reason::user_shutdown);
  if (b.client_door)
    caf::anon_send_exit(b.client_door, caf::exit_reason::user_shutdown);
  if (b.replication_door)
    caf::anon_send_exit(b.replication_door, caf::exit_reason::user_shutdown);
  b.client_door = nullptr;
  b.replication_door = nullptr;
  b.link = nullptr;
  if (b.flusher)
    caf::anon_send_exit(b.flusher, caf::exit_reason::user_shutdown);
  // After the partition. A commit still waiting for its fsync then fails at its consumer, which
  // commits again after the restart: never a success without its fsync.
  if (b.offsets)
    caf::anon_send_exit(b.offsets, caf::exit_reason::user_shutdown);
  b.offsets = nullptr;
  b.partition = nullptr;
  b.flusher = nullptr;
  return clean;
}

} // namespace holdfast
