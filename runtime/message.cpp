#include "runtime/message.hpp"

namespace holdfast {

std::string_view to_string(send_status x) noexcept {
  switch (x) {
    case send_status::send_ok: return "SEND_OK";
    case send_status::flush_disk_timeout: return "FLUSH_DISK_TIMEOUT";
    case send_status::flush_slave_timeout: return "FLUSH_SLAVE_TIMEOUT";
    case send_status::slave_not_available: return "SLAVE_NOT_AVAILABLE";
  }
  return "UNKNOWN";
}

bool valid_topic_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > 127)
    return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '_' || c == '%' || c == '-';
    if (!ok)
      return false;
  }
  return true;
}

bool valid_group_name(std::string_view name) noexcept {
  // RocketMQ validates groups and topics with the same pattern, and the retry and dead-letter
  // topics are built from group names (%RETRY%<group>), so the alphabets must match.
  return valid_topic_name(name);
}

std::string retry_topic_of(std::string_view group) {
  return std::string(retry_group_topic_prefix) + std::string(group);
}

std::string dlq_topic_of(std::string_view group) {
  return std::string(dlq_group_topic_prefix) + std::string(group);
}

int32_t system_topic_queue_nums(std::string_view topic, int32_t delay_levels) noexcept {
  if (topic.starts_with(retry_group_topic_prefix) || topic.starts_with(dlq_group_topic_prefix))
    return 1;
  if (topic == schedule_topic)
    return delay_levels;
  return 0;
}

} // namespace holdfast
