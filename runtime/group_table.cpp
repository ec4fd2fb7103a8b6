#include "runtime/group_table.hpp"

#include <algorithm>

namespace holdfast {

std::vector<int32_t> group_table::allocate_averagely(size_t index, size_t members,
                                                     int32_t queue_count) {
  std::vector<int32_t> out;
  if (members == 0 || index >= members || queue_count <= 0)
    return out;
  // Same arithmetic as RocketMQ: the first (queues % members) members get one queue more,
  // each member a contiguous range.
  auto n = static_cast<size_t>(queue_count);
  auto mod = n % members;
  size_t average = n <= members ? 1 : (mod > 0 && index < mod ? n / members + 1 : n / members);
  size_t start = (mod > 0 && index < mod) ? index * average : index * average + mod;
  size_t range = std::min(average, n > start ? n - start : 0);
  for (size_t i = 0; i < range; ++i)
    out.push_back(static_cast<int32_t>((start + i) % n));
  return out;
}

std::vector<int32_t> group_table::heartbeat(const std::string& group, const std::string& topic,
                                            const std::string& member,
                                            const std::vector<int32_t>& owned,
                                            int32_t queue_count, clock_type::duration expiry,
                                            clock_type::time_point now) {
  expire(now);
  auto& members = groups_[{group, topic}];
  auto& me = members[member];
  me.last_seen = now;
  me.expiry = expiry;
  me.owned.clear();
  for (auto q : owned)
    if (q >= 0 && q < queue_count)
      me.owned.insert(q);
  size_t index = 0;
  for (auto& [id, m] : members) {
    if (id == member)
      break;
    ++index;
  }
  auto target = allocate_averagely(index, members.size(), queue_count);
  std::set<int32_t> next;
  for (auto q : target) {
    bool held_elsewhere = false;
    for (auto& [id, m] : members)
      if (id != member && m.owned.count(q) > 0)
        held_elsewhere = true;
    if (!held_elsewhere)
      next.insert(q);
  }
  // Granted queues count as held at once: no other member can be granted them before this
  // member's next heartbeat says what it really holds.
  me.owned = next;
  return {next.begin(), next.end()};
}

bool group_table::remove_member(const std::string& member) {
  bool found = false;
  for (auto i = groups_.begin(); i != groups_.end();) {
    found = i->second.erase(member) > 0 || found;
    if (i->second.empty())
      i = groups_.erase(i);
    else
      ++i;
  }
  return found;
}

size_t group_table::expire(clock_type::time_point now) {
  size_t dropped = 0;
  for (auto i = groups_.begin(); i != groups_.end();) {
    auto& members = i->second;
    for (auto m = members.begin(); m != members.end();) {
      if (now - m->second.last_seen > m->second.expiry) {
        m = members.erase(m);
        ++dropped;
      } else {
        ++m;
      }
    }
    if (members.empty())
      i = groups_.erase(i);
    else
      ++i;
  }
  return dropped;
}

std::vector<std::string> group_table::members(const std::string& group,
                                              const std::string& topic) const {
  std::vector<std::string> out;
  if (auto i = groups_.find({group, topic}); i != groups_.end())
    for (auto& [id, m] : i->second)
      out.push_back(id);
  return out;
}

std::vector<int32_t> group_table::owned(const std::string& group, const std::string& topic,
                                        const std::string& member) const {
  if (auto i = groups_.find({group, topic}); i != groups_.end())
    if (auto m = i->second.find(member); m != i->second.end())
      return {m->second.owned.begin(), m->second.owned.end()};
  return {};
}

} // namespace holdfast
