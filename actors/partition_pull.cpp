// The partition's pull area: reads up to the confirmed offset, long polls.

#include "actors/partition_areas.hpp"

#include "runtime/assert.hpp"
#include "runtime/log.hpp"

#include <algorithm>

namespace holdfast::partition_impl {

namespace {

constexpr uint32_t max_pull_wait_ms = 30000;

// Reads what a pull asks for; errors are for the client.
caf::expected<pull_reply> read_pull(partition_state& st, const pull_req& req) {
  pull_reply reply;
  reply.max_offset = st.store->queue_end(req.topic, req.queue_id);
  if (req.offset > reply.max_offset) {
    // The queue lost its tail since the consumer read there: move it back to the end.
    reply.next_offset = reply.max_offset;
    reply.moved = true;
    return reply;
  }
  auto max = std::min<uint32_t>(std::max<uint32_t>(req.max, 1), st.opts.max_transfer_count);
  if (auto e = st.store->read(req.topic, req.queue_id, req.offset, max, st.refresh_confirmed(),
                              reply.msgs, reply.next_offset, st.opts.max_transfer_bytes);
      e != errc::ok)
    return make_error(broker_errc::storage_failure,
                      std::string("read failed: ") + std::string(to_string(e)));
  return reply;
}

// Takes the parked poll `seq` out of every index; the caller answers it.
parked_pull unpark(pull_area& pa, uint64_t seq) {
  auto age = pa.by_age.find(seq);
  HF_ASSERT(age != pa.by_age.end(), "unparking a poll that is not parked");
  auto [key, client] = age->second;
  pa.by_age.erase(age);
  if (auto c = pa.by_client.find(client); c != pa.by_client.end()) {
    c->second.erase(seq);
    if (c->second.empty())
      pa.by_client.erase(c);
  }
  auto q = pa.by_queue.find(key);
  auto p = std::move(q->second.at(seq));
  q->second.erase(seq);
  if (q->second.empty())
    pa.by_queue.erase(q);
  return p;
}

// Answers `p` with what its queue holds now: messages, a move, or (when `expire`d, or the
// broker stops) nothing; false when it must wait on.
bool answer(partition_state& st, parked_pull& p, bool expire) {
  auto r = read_pull(st, p.req);
  if (!r)
    p.rp.deliver(r.error());
  else if (!r->msgs.empty() || r->moved || expire || st.stopping)
    p.rp.deliver(std::move(*r));
  else
    return false;
  return true;
}

// Answers the polls of `key` that have something to read now.
void serve_queue(partition_state& st, const queue_key& key) {
  auto q = st.pull.by_queue.find(key);
  if (q == st.pull.by_queue.end())
    return;
  std::vector<std::pair<uint64_t, caf::expected<pull_reply>>> done;
  for (auto& [seq, p] : q->second)
    if (auto r = read_pull(st, p.req); !r || !r->msgs.empty() || r->moved)
      done.emplace_back(seq, std::move(r));
  for (auto& [seq, r] : done) {
    auto p = unpark(st.pull, seq);
    if (r)
      p.rp.deliver(std::move(*r));
    else
      p.rp.deliver(r.error());
  }
}

} // namespace

void note_appended(self_ptr self, const std::vector<message>& msgs,
                   const std::vector<send_result>& results, uint64_t end) {
  auto& pa = self->state.pull;
  if (pa.by_queue.empty())
    return;
  for (size_t i = 0; i < msgs.size() && i < results.size(); ++i) {
    queue_key key{msgs[i].topic, results[i].queue_id};
    if (pa.by_queue.count(key) == 0)
      continue;
    if (!pa.woken.empty() && pa.woken.back().second == key)
      pa.woken.back().first = end;
    else
      pa.woken.emplace_back(end, std::move(key));
  }
}

void serve_parked(self_ptr self, bool expire) {
  auto& st = self->state;
  auto& pa = st.pull;
  if (pa.by_age.empty()) {
    pa.woken.clear();
    return;
  }
  if (expire || st.stopping) {
    // The timer's pass (and a stop): every poll, for its deadline.
    auto now = std::chrono::steady_clock::now();
    std::vector<uint64_t> seqs;
    for (auto& [seq, where] : pa.by_age)
      seqs.push_back(seq);
    std::optional<steady_time> next;
    for (auto seq : seqs) {
      auto& p = pa.by_queue.at(pa.by_age.at(seq).first).at(seq);
      if (answer(st, p, p.deadline <= now)) {
        // `answer` delivered: drop the (now empty) promise from the indexes.
        (void) unpark(pa, seq);
      } else if (!next || p.deadline < *next) {
        next = p.deadline;
      }
    }
    pa.woken.clear();
    if (next)
      arm_timer(self, *next);
    return;
  }
  auto confirmed = st.refresh_confirmed();
  std::vector<queue_key> keys;
  while (!pa.woken.empty() && pa.woken.front().first <= confirmed) {
    keys.push_back(std::move(pa.woken.front().second));
    pa.woken.pop_front();
  }
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  for (auto& key : keys)
    serve_queue(st, key);
}

void serve_all_parked(self_ptr self) {
  // A slave appends raw bytes: which queues they touched is not known here, so every queue
  // with polls is looked at (slaves serve few consumers).
  auto& st = self->state;
  std::vector<queue_key> keys;
  for (auto& [key, polls] : st.pull.by_queue)
    keys.push_back(key);
  for (auto& key : keys)
    serve_queue(st, key);
}

caf::result<pull_reply> on_pull(self_ptr self, pull_req& req) {
  auto& st = self->state;
  if (auto err = check_queue(self, nullptr, req.topic, req.queue_id))
    return err;
  auto r = read_pull(st, req);
  if (!r)
    return r.error();
  if (!r->msgs.empty() || r->moved || req.max_wait_ms == 0 || st.stopping)
    return std::move(*r);
  // Long poll: park until something is confirmed for this queue or the wait is over. Past a
  // bound, the oldest poll (of this client, else of all) is answered to make room.
  auto& pa = st.pull;
  auto client = req.client;
  if (client != 0) {
    auto c = pa.by_client.find(client);
    if (c != pa.by_client.end() && c->second.size() >= st.opts.max_parked_pulls_per_client) {
      auto p = unpark(pa, *c->second.begin());
      answer(st, p, true);
    }
  }
  if (pa.size() >= st.opts.max_parked_pulls) {
    auto p = unpark(pa, pa.by_age.begin()->first);
    answer(st, p, true);
  }
  auto wait = std::chrono::milliseconds(std::min(req.max_wait_ms, max_pull_wait_ms));
  queue_key key{req.topic, req.queue_id};
  // Messages already written but not yet confirmed wake it once they are.
  if (r->max_offset > req.offset)
    pa.woken.emplace_back(st.store->log()->write_offset(), key);
  auto seq = pa.next_seq++;
  parked_pull p{std::move(req), self->make_response_promise<pull_reply>(),
                std::chrono::steady_clock::now() + wait};
  auto rp = p.rp;
  arm_timer(self, p.deadline);
  pa.by_queue[key].emplace(seq, std::move(p));
  pa.by_age.emplace(seq, std::make_pair(key, client));
  if (client != 0)
    pa.by_client[client].insert(seq);
  return rp;
}

} // namespace holdfast::partition_impl
