#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace holdfast {

/// The live members of each consumer group and which queues of a topic each one owns
/// (RocketMQ's ConsumerManager + RebalanceImpl, decided on the broker instead of in every
/// client, so all members see one consistent view).
///
/// Target: the queues of a topic split over the group's live members by RocketMQ's
/// AllocateMessageQueueAveragely over the members sorted by id. Handover: a queue goes to its
/// target owner only once no other live member holds it; a member holds what it listed in its
/// last heartbeat plus what the table granted it since. So a queue is never owned by two
/// members at once: the old owner commits and lets go (its next heartbeat no longer lists the
/// queue), then the new owner gets it on its own next heartbeat and continues from the
/// committed offset. A member that stopped heartbeating is dropped after its expiry; one whose
/// connection broke is removed at once by the caller (remove_member).
///
/// Threading: none; owned by the partition actor. Time is passed in, so tests need no clock.
class group_table {
public:
  using clock_type = std::chrono::steady_clock;

  /// One heartbeat: `member` of `group` consumes `topic` (which has `queue_count` queues),
  /// holds `owned` right now, and is dropped if silent for `expiry`. Returns the queues it
  /// owns from now on, sorted: those it keeps plus those granted now. A queue it listed but
  /// that is not returned must be released (committed, no more pulls).
  [[nodiscard]] std::vector<int32_t> heartbeat(const std::string& group, const std::string& topic,
                                               const std::string& member,
                                               const std::vector<int32_t>& owned,
                                               int32_t queue_count, clock_type::duration expiry,
                                               clock_type::time_point now);

  /// A member left (clean unsubscribe or broken connection): gone from every group and topic.
  /// Returns true if it was known.
  bool remove_member(const std::string& member);

  /// Drops members silent past their expiry; returns how many.
  size_t expire(clock_type::time_point now);

  /// RocketMQ's AllocateMessageQueueAveragely: the queues `members[index]` should own when
  /// `queue_count` queues are split over `members.size()` members (in this order).
  [[nodiscard]] static std::vector<int32_t> allocate_averagely(size_t index, size_t members,
                                                               int32_t queue_count);

  /// Members of a group for a topic, sorted (for status and tests).
  [[nodiscard]] std::vector<std::string> members(const std::string& group,
                                                 const std::string& topic) const;

  /// Queues a member holds according to the table.
  [[nodiscard]] std::vector<int32_t> owned(const std::string& group, const std::string& topic,
                                           const std::string& member) const;

private:
  struct member_state {
    std::set<int32_t> owned;
    clock_type::time_point last_seen;
    clock_type::duration expiry{};
  };
  // (group, topic) -> member id -> state. Sorted ids: the allocation order.
  using key = std::pair<std::string, std::string>;
  std::map<key, std::map<std::string, member_state>> groups_;
};

} // namespace holdfast
