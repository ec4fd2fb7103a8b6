// The partition's master area: slaves fetch the log through the replication door; their
// acknowledgements release SYNC_MASTER sends.

#include "actors/partition_areas.hpp"

#include "runtime/log.hpp"

#include <algorithm>

namespace holdfast::partition_impl {

namespace {

// A slave's acknowledgement: SYNC_MASTER sends and long polls that waited for it go on.
void record_ack(self_ptr self, attached_slave& slave, uint64_t acked, steady_time now) {
  slave.acked = acked;
  slave.last_seen = now;
  self->state.master.replicated.notify(acked);
  serve_parked(self, false);
}

ha_fetch_reply records_reply(partition_state& st, attached_slave& slave, uint64_t offset,
                             std::string& bytes, bool new_segment) {
  ha_fetch_reply r;
  r.offset = offset;
  r.bytes.assign(bytes.begin(), bytes.end());
  r.master_end = st.store->log()->write_offset();
  r.new_segment = new_segment;
  r.epochs = st.store->epochs().starting_in(offset, offset + bytes.size());
  slave.sent_end = std::max(slave.sent_end, offset + bytes.size());
  return r;
}

} // namespace

bool slave_in_sync(partition_state& st, uint64_t end) {
  auto now = std::chrono::steady_clock::now();
  for (auto& [id, s] : st.master.slaves)
    if (now - s.last_seen <= st.opts.housekeeping_interval
        && end - std::min(end, s.acked) <= st.opts.max_gap_not_in_sync)
      return true;
  return false;
}

void serve_fetches(self_ptr self, bool expire) {
  auto& st = self->state;
  if (st.master.parked.empty())
    return;
  auto now = std::chrono::steady_clock::now();
  auto end = st.store->log()->write_offset();
  std::vector<parked_fetch> keep;
  for (auto& p : st.master.parked) {
    auto slave = st.master.slaves.find(p.slave_id);
    if (slave == st.master.slaves.end()) {
      p.rp.deliver(make_error(broker_errc::unauthorized, "slave detached"));
    } else if (p.req.offset < end || st.stopping) {
      std::string bytes;
      bool new_segment = false;
      if (st.store->read_raw(p.req.offset, p.req.max_bytes, bytes, new_segment) != errc::ok)
        bytes.clear();
      p.rp.deliver(records_reply(st, slave->second, p.req.offset, bytes, new_segment));
    } else if (expire && p.deadline <= now) {
      std::string none;
      p.rp.deliver(records_reply(st, slave->second, p.req.offset, none, false));
    } else {
      keep.push_back(std::move(p));
    }
  }
  st.master.parked = std::move(keep);
  for (auto& p : st.master.parked)
    arm_timer(self, p.deadline);
}

caf::result<ha_fetch_reply> on_slave_fetch(self_ptr self, slave_fetch& msg) {
  auto& st = self->state;
  auto& req = msg.req;
  if (st.opts.slave)
    return make_error(broker_errc::not_master, "this broker is a SLAVE");
  auto end = st.store->log()->write_offset();
  // Does the slave's log agree with ours up to its end? Equal offsets are not enough: a master
  // restarted on an older copy of its disk writes other bytes at the same offsets.
  auto v = st.store->epochs().divergence(req.last_epoch, req.last_term, req.offset, end);
  if (v.diverged) {
    if (v.drop_last_term)
      log_warning("replication: slave '{}' holds a term (epoch {}) this log never had; telling "
                  "it to drop that term",
                  msg.slave_id, req.last_epoch);
    else
      log_warning("replication: slave '{}' diverged at offset {} (it is at {}, epoch {}); "
                  "telling it to truncate",
                  msg.slave_id, v.truncate_to, req.offset, req.last_epoch);
    ha_fetch_reply r;
    r.offset = req.offset;
    r.master_end = end;
    r.diverged = true;
    r.drop_last_term = v.drop_last_term;
    r.truncate_to = v.truncate_to;
    return r;
  }
  if (req.acked > req.offset)
    return make_error(broker_errc::out_of_order,
                      "acknowledged offset " + std::to_string(req.acked)
                        + " is past the fetch offset " + std::to_string(req.offset));
  if (auto known = st.master.slaves.find(msg.slave_id);
      known != st.master.slaves.end() && req.acked < known->second.acked
      && req.offset >= known->second.acked) {
    // Acknowledging less while still holding what it acknowledged: garbage. (A slave whose
    // log really shrank, cut back or restarted, fetches below its old acknowledgement.)
    return make_error(broker_errc::out_of_order,
                      "acknowledged offset went back from " + std::to_string(known->second.acked)
                        + " to " + std::to_string(req.acked));
  }
  // Read before touching any slave state: a fetch the log cannot serve changes nothing.
  std::string bytes;
  bool new_segment = false;
  if (auto e = st.store->read_raw(req.offset, std::max<uint32_t>(req.max_bytes, 4096), bytes,
                                  new_segment);
      e != errc::ok) {
    if (e == errc::invalid_argument)
      return make_error(broker_errc::out_of_order,
                        "fetch offset " + std::to_string(req.offset) + " is not a record boundary");
    return make_error(broker_errc::storage_failure,
                      std::string("replication read failed: ") + std::string(to_string(e)));
  }
  auto now = std::chrono::steady_clock::now();
  auto [it, fresh] = st.master.slaves.try_emplace(msg.slave_id);
  if (fresh)
    log_info("replication: slave '{}' attached at offset {}", msg.slave_id, req.offset);
  // The fetch proves the slave holds everything below its offset, in agreement with us.
  it->second.sent_end = std::max(it->second.sent_end, req.offset);
  record_ack(self, it->second, req.acked, now);
  if (bytes.empty() && req.max_wait_ms > 0 && !st.stopping) {
    // One parked fetch per slave: a slave asks again only once it has its answer, so an older
    // one is stale (or a peer repeating itself); it gets its empty answer now.
    for (auto p = st.master.parked.begin(); p != st.master.parked.end(); ++p)
      if (p->slave_id == msg.slave_id) {
        std::string none;
        p->rp.deliver(records_reply(st, it->second, p->req.offset, none, false));
        st.master.parked.erase(p);
        break;
      }
    auto wait = std::chrono::milliseconds(std::min<uint32_t>(req.max_wait_ms, 60000));
    parked_fetch p{msg.slave_id, req, self->make_response_promise<ha_fetch_reply>(), now + wait};
    auto rp = p.rp;
    arm_timer(self, p.deadline);
    st.master.parked.push_back(std::move(p));
    return rp;
  }
  return records_reply(st, it->second, req.offset, bytes, new_segment);
}

void on_slave_ack(self_ptr self, slave_ack& msg) {
  auto& st = self->state;
  auto it = st.master.slaves.find(msg.slave_id);
  // Only forward, and never past what was sent to that slave.
  if (st.opts.slave || it == st.master.slaves.end() || msg.acked > it->second.sent_end) {
    log_warning("replication: ignored an acknowledgement from '{}' at {}",
                msg.slave_id.substr(0, 64), msg.acked);
    return;
  }
  if (msg.acked <= it->second.acked)
    return;
  record_ack(self, it->second, msg.acked, std::chrono::steady_clock::now());
}

void on_slave_gone(self_ptr self, slave_gone& msg) {
  auto& st = self->state;
  if (st.master.slaves.erase(msg.slave_id) == 0)
    return;
  log_warning("replication: slave '{}' detached", msg.slave_id);
  serve_fetches(self, false); // its parked fetch, if any, ends
  if (st.master.slaves.empty())
    st.master.replicated.abandon(); // waiting sends answer SLAVE_NOT_AVAILABLE now
}

caf::result<ha_offsets_reply> on_offsets_req(self_ptr self) {
  auto& st = self->state;
  if (st.opts.slave)
    return make_error(broker_errc::not_master, "this broker is a SLAVE");
  ha_offsets_reply r;
  // Only durable offsets: a copy must not claim what a crash of this master could undo.
  for (auto& [k, off] : st.groups.committed)
    r.offsets.push_back(group_offset{std::get<0>(k), std::get<1>(k), std::get<2>(k), off});
  return r;
}

} // namespace holdfast::partition_impl
