// The partition's pull area: reads up to the confirmed offset, long polls.

#include "actors/partition_areas.hpp"

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

} // namespace

void serve_parked(self_ptr self, bool expire) {
  auto& st = self->state;
  if (st.pull.parked.empty())
    return;
  auto now = std::chrono::steady_clock::now();
  std::vector<parked_pull> keep;
  for (auto& p : st.pull.parked) {
    auto r = read_pull(st, p.req);
    if (!r)
      p.rp.deliver(r.error());
    else if (!r->msgs.empty() || r->moved || (expire && p.deadline <= now) || st.stopping)
      p.rp.deliver(std::move(*r));
    else
      keep.push_back(std::move(p));
  }
  st.pull.parked = std::move(keep);
  for (auto& p : st.pull.parked)
    arm_timer(self, p.deadline);
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
  // Long poll: park until something is confirmed for this queue or the wait is over.
  auto wait = std::chrono::milliseconds(std::min(req.max_wait_ms, max_pull_wait_ms));
  parked_pull p{std::move(req), self->make_response_promise<pull_reply>(),
                std::chrono::steady_clock::now() + wait};
  auto rp = p.rp;
  arm_timer(self, p.deadline);
  st.pull.parked.push_back(std::move(p));
  return rp;
}

} // namespace holdfast::partition_impl
