#pragma once

#include "config/properties.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace holdfast::config {

/// When a send counts as durable: ASYNC_FLUSH once it is in the page cache (a background
/// flusher syncs later), SYNC_FLUSH only once it has been fsync'd.
enum class flush_disk_type : std::uint8_t { async_flush, sync_flush };

/// Replication role, as in RocketMQ: an ASYNC_MASTER acknowledges before its slaves have the
/// message, a SYNC_MASTER after, and a SLAVE only replicates.
enum class broker_role : std::uint8_t { async_master, sync_master, slave };

/// TLS on the doors (RocketMQ's TlsMode): none, TLS and plain text on the same port, TLS only.
enum class tls_mode : std::uint8_t { disabled, permissive, enforcing };

/// Returns the RocketMQ spelling: "ASYNC_FLUSH" or "SYNC_FLUSH".
[[nodiscard]] std::string to_string(flush_disk_type value);

/// Returns the RocketMQ spelling: "ASYNC_MASTER", "SYNC_MASTER" or "SLAVE".
[[nodiscard]] std::string to_string(broker_role value);

/// Returns "disabled", "permissive" or "enforcing".
[[nodiscard]] std::string to_string(tls_mode value);

/// Parses a RocketMQ spelling (case-sensitive, as in broker.conf); nothing if unknown.
[[nodiscard]] std::optional<flush_disk_type> parse_flush_disk_type(std::string_view text);

/// Parses a RocketMQ spelling (case-sensitive, as in broker.conf); nothing if unknown.
[[nodiscard]] std::optional<broker_role> parse_broker_role(std::string_view text);

/// Parses messageDelayLevel ("1s 5s 10s 30s 1m 2m ... 2h": numbers with s, m, h or d, separated
/// by spaces; RocketMQ's syntax) into one duration per delay level, level 1 first. Nothing when
/// the text is malformed, empty, has more than 64 levels or a level above 7 days.
[[nodiscard]] std::optional<std::vector<std::chrono::milliseconds>>
parse_delay_levels(std::string_view text);

/// Everything a broker reads at startup. Defaults, units, ranges and docs are not written here
/// but in the table of broker_schema() (config/broker_config.cpp), which is the single source
/// for this struct, the loader and docs/config.md. A plain value: copy it freely between
/// threads; nothing watches it for changes.
struct broker_config {
  /// Sets every member to the default declared in broker_schema().
  broker_config();

  // The braces only keep a member that someone forgets to declare in the table from being
  // indeterminate; the constructor overwrites every one of them.
  std::string broker_name{};
  std::string listen_host{};
  std::uint16_t listen_port{};
  std::uint16_t ha_listen_port{};
  std::string store_path_root_dir{};
  // Qualified type names: the members share their names with the enum types.
  config::flush_disk_type flush_disk_type{};
  config::broker_role broker_role{};
  std::chrono::milliseconds sync_flush_timeout{};
  std::chrono::milliseconds flush_interval_commit_log{};
  std::uint32_t flush_commit_log_least_pages{};
  std::chrono::milliseconds flush_commit_log_thorough_interval{};
  std::chrono::milliseconds flush_interval_consume_queue{};
  std::uint64_t mapped_file_size_commit_log{};
  std::uint64_t max_message_size{};
  std::uint64_t max_transfer_bytes_on_message_in_memory{};
  std::uint64_t max_transfer_count_on_message_in_memory{};
  std::uint32_t max_parked_pulls{};
  std::uint32_t max_parked_pulls_per_client{};
  std::uint32_t max_requests_per_client{};
  std::uint32_t default_topic_queue_nums{};
  bool auto_create_topic_enable{true};
  std::uint32_t max_open_index_files{};
  std::string ha_master_address{};
  std::chrono::milliseconds ha_send_heartbeat_interval{};
  std::chrono::milliseconds ha_housekeeping_interval{};
  std::uint64_t ha_transfer_batch_size{};
  std::uint64_t ha_max_gap_not_in_sync{};
  std::chrono::milliseconds slave_timeout{};
  std::string ha_auth_token{};
  std::string auth_token{};
  bool basp_guard{true};
  std::uint32_t max_connections{};
  std::chrono::milliseconds auth_timeout{};
  std::chrono::milliseconds shutdown_timeout{};
  std::string message_delay_level{};
  config::tls_mode tls_mode{};
  std::string tls_server_cert_path{};
  std::string tls_server_key_path{};
  std::string tls_server_trust_cert_path{};
  bool tls_server_need_client_auth{};

  friend bool operator==(const broker_config&, const broker_config&) = default;
};

/// The port of the replication door: haListenPort, or listenPort + 1 when it is 0 (and 0, any
/// free port, when listenPort is 0 too).
[[nodiscard]] std::uint16_t ha_listen_port_of(const broker_config& cfg);

/// The declaration table of every broker key. Built on first use and immutable afterwards.
[[nodiscard]] const schema<broker_config>& broker_schema();

} // namespace holdfast::config
