#include "actors/partition.hpp"

#include "runtime/caf_await.hpp"
#include "runtime/log.hpp"

#include <algorithm>

namespace holdfast {

namespace {

using self_ptr = partition_actor::stateful_pointer<partition_state>;

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// One timer serves flush deadlines and long-poll deadlines: armed for the earliest one; a tick
// that comes early or late only makes the handler look again.
void arm_timer(self_ptr self, std::chrono::steady_clock::time_point deadline) {
  auto& st = self->state;
  if (st.timer_at && *st.timer_at <= deadline)
    return;
  st.timer_at = deadline;
  auto delay = deadline - std::chrono::steady_clock::now();
  if (delay.count() < 0)
    delay = {};
  self->delayed_send(self, std::chrono::duration_cast<std::chrono::microseconds>(delay),
                     tick_atom::value);
}

constexpr uint32_t max_pull_batch = 1024;
constexpr uint32_t max_pull_wait_ms = 30000;

// Reads what a pull asks for; errors are for the client.
caf::expected<pull_reply> read_pull(partition_state& st, const pull_req& req) {
  pull_reply reply;
  auto max = std::min<uint32_t>(std::max<uint32_t>(req.max, 1), max_pull_batch);
  if (auto e = st.store->read(req.topic, req.queue_id, req.offset, max, st.refresh_confirmed(),
                              reply.msgs, reply.next_offset);
      e != errc::ok)
    return make_error(broker_errc::storage_failure,
                      std::string("read failed: ") + std::string(to_string(e)));
  reply.max_offset = st.store->queue_end(req.topic, req.queue_id);
  return reply;
}

// Answers the long polls that have something to read now, and those whose time is up.
void serve_parked(self_ptr self, bool expire) {
  auto& st = self->state;
  if (st.parked.empty())
    return;
  auto now = std::chrono::steady_clock::now();
  std::vector<parked_pull> keep;
  for (auto& p : st.parked) {
    auto r = read_pull(st, p.req);
    if (!r)
      p.rp.deliver(r.error());
    else if (!r->msgs.empty() || (expire && p.deadline <= now) || st.stopping)
      p.rp.deliver(std::move(*r));
    else
      keep.push_back(std::move(p));
  }
  st.parked = std::move(keep);
  for (auto& p : st.parked)
    arm_timer(self, p.deadline);
}

// Keeps one flush request in flight while any send waits: the flush service syncs everything
// written when the request arrives, so each round covers every send appended meanwhile.
task<void> flush_pump(self_ptr self) {
  auto& st = self->state;
  // The first round runs unconditionally: the send that started the pump registers as a
  // waiter only when it suspends, after this coroutine's first suspension.
  do {
    flush_req req{st.store->log()->write_offset()};
    auto r = co_await ask<flush_ack>(self, st.flusher, caf::infinite, req);
    if (!r) {
      log_error("partition: flush failed: {}", describe(r.error()));
      st.failure = r.error();
      st.flushed.fail();
      break;
    }
    st.flushed.notify(r->flushed);
  } while (st.flushed.waiting() > 0 && !st.failure);
  st.pumping = false;
}

void start_flush_pump(self_ptr self) {
  auto& st = self->state;
  if (!st.pumping) {
    st.pumping = true;
    st.tasks.spawn(flush_pump(self));
  }
}

// A slave counts as attached while it was heard from within haHousekeepingInterval; in sync
// while it is also at most haMaxGapNotInSync behind.
bool slave_in_sync(partition_state& st, uint64_t end) {
  auto now = std::chrono::steady_clock::now();
  for (auto& [id, s] : st.slaves)
    if (now - s.last_seen <= st.opts.housekeeping_interval
        && end - std::min(end, s.acked) <= st.opts.max_gap_not_in_sync)
      return true;
  return false;
}

// A slave's acknowledgement (on a fetch or an ha_ack): SYNC_MASTER sends and long polls that
// waited for it go on.
void record_ack(self_ptr self, attached_slave& slave, uint64_t acked,
                std::chrono::steady_clock::time_point now) {
  slave.acked = acked;
  slave.last_seen = now;
  self->state.replicated.notify(acked);
  serve_parked(self, false);
}

ha_position slave_position(partition_state& st) {
  auto& log = *st.store->log();
  return {log.write_offset(), st.opts.sync_flush ? log.flushed_offset() : log.write_offset()};
}

// Answers parked slave fetches that have new records now, or whose wait is over.
void serve_fetches(self_ptr self, bool expire) {
  auto& st = self->state;
  if (st.parked_fetches.empty())
    return;
  auto now = std::chrono::steady_clock::now();
  auto end = st.store->log()->write_offset();
  std::vector<parked_fetch> keep;
  for (auto& p : st.parked_fetches) {
    if (p.req.offset < end || st.stopping) {
      std::string bytes;
      ha_fetch_reply r{p.req.offset, {}, end, false};
      if (st.store->read_raw(p.req.offset, p.req.max_bytes, bytes, r.new_segment) == errc::ok)
        r.bytes.assign(bytes.begin(), bytes.end());
      p.rp.deliver(std::move(r));
    } else if (expire && p.deadline <= now) {
      p.rp.deliver(ha_fetch_reply{p.req.offset, {}, end, false});
    } else {
      keep.push_back(std::move(p));
    }
  }
  st.parked_fetches = std::move(keep);
  for (auto& p : st.parked_fetches)
    arm_timer(self, p.deadline);
}

// The slave side of an append: records from the master, same offsets; the answer is the
// position the slave acknowledges (fsynced when it is SYNC_FLUSH).
task<void> replicate(self_ptr self, ha_append_req req, caf::typed_response_promise<ha_position> rp) {
  auto& st = self->state;
  if (st.failure) {
    rp.deliver(st.failure);
    co_return;
  }
  if (req.offset != st.store->log()->write_offset()) {
    rp.deliver(make_error(broker_errc::out_of_order,
                          "replicated bytes at " + std::to_string(req.offset)
                            + " do not continue the log at "
                            + std::to_string(st.store->log()->write_offset())));
    co_return;
  }
  if (auto e = st.store->append_raw(req.bytes, req.new_segment); e != errc::ok) {
    rp.deliver(make_error(broker_errc::storage_failure,
                          std::string("replicated append failed: ") + std::string(to_string(e))));
    co_return;
  }
  if (st.opts.sync_flush) {
    auto end = st.store->log()->write_offset();
    auto deadline = offset_monitor::clock_type::now() + st.opts.sync_flush_timeout;
    auto waiting = st.flushed.wait(end, deadline);
    start_flush_pump(self);
    arm_timer(self, deadline);
    if (co_await waiting == offset_monitor::outcome::failed) {
      rp.deliver(st.failure ? st.failure : make_error(broker_errc::storage_failure, "fsync failed"));
      co_return;
    }
  }
  st.refresh_confirmed();
  rp.deliver(slave_position(st));
  serve_parked(self, false);
}

// With an authToken configured, only actors of this process and of nodes whose hello carried
// the token may use the broker. Checked per node: every actor of a client process shares it.
bool client_allowed(self_ptr self) {
  auto& st = self->state;
  if (st.opts.client_token.empty())
    return true;
  auto sender = self->current_sender();
  if (!sender)
    return false;
  return sender->node() == self->node() || st.authenticated.count(sender->node()) > 0;
}

caf::error unauthorized_client() {
  return make_error(broker_errc::unauthorized, "this broker requires authToken in the hello");
}

// The checks every consumer-side request shares: who asks, for which group, topic and queue.
// An empty `group` means the request has none.
caf::error check_request(self_ptr self, const std::string* group, const std::string& topic,
                         int32_t queue_id) {
  auto& st = self->state;
  if (!client_allowed(self))
    return unauthorized_client();
  if (group != nullptr && !valid_group_name(*group))
    return make_error(broker_errc::invalid_message,
                      "consumer group name must match [A-Za-z0-9_%-]{1,127}");
  if (!valid_topic_name(topic))
    return make_error(broker_errc::invalid_message,
                      "topic name must match [A-Za-z0-9_%-]{1,127}");
  if (queue_id < 0 || queue_id >= st.store->queue_count(topic))
    return make_error(broker_errc::invalid_message, "queue id out of range");
  return {};
}

// The send coroutine. Arguments by value: they must outlive every suspension.
task<void> send(self_ptr self, append_req req, caf::typed_response_promise<append_reply> rp) {
  auto& st = self->state;
  if (st.stopping) {
    rp.deliver(make_error(broker_errc::shutting_down, "broker is shutting down"));
    co_return;
  }
  if (st.failure) {
    rp.deliver(st.failure);
    co_return;
  }
  if (st.opts.slave) {
    rp.deliver(make_error(broker_errc::not_master, "this broker is a SLAVE: send to its master at "
                                                     + st.opts.master_address));
    co_return;
  }
  if (req.msgs.empty()) {
    rp.deliver(make_error(broker_errc::invalid_message, "empty batch"));
    co_return;
  }
  for (auto& m : req.msgs) {
    if (auto c = st.store->check(m); c != message_check::ok) {
      rp.deliver(make_error(broker_errc::invalid_message,
                            std::string(to_string(c)) + " (topic '" + m.topic.substr(0, 200)
                              + "')"));
      co_return;
    }
  }
  append_reply reply;
  uint64_t end = 0;
  ++st.append_requests;
  st.messages += req.msgs.size();
  std::string detail;
  if (auto e = st.store->append(req.msgs, now_ms(), reply.results, end, &detail);
      e != errc::ok) {
    if (e == errc::out_of_sequence)
      rp.deliver(make_error(broker_errc::out_of_sequence, detail));
    else if (e == errc::out_of_range)
      rp.deliver(make_error(broker_errc::sequence_expired, detail));
    else
      rp.deliver(make_error(broker_errc::storage_failure,
                            std::string("append failed: ") + std::string(to_string(e))));
    co_return;
  }
  // Slaves waiting in a fetch get the new records now, in parallel with our own flush.
  serve_fetches(self, false);
  auto status = send_status::send_ok;
  if (st.opts.sync_flush) {
    auto deadline = offset_monitor::clock_type::now() + st.opts.sync_flush_timeout;
    auto waiting = st.flushed.wait(end, deadline);
    start_flush_pump(self);
    arm_timer(self, deadline);
    switch (co_await waiting) {
      case offset_monitor::outcome::reached:
        break;
      case offset_monitor::outcome::timed_out:
        status = send_status::flush_disk_timeout;
        break;
      case offset_monitor::outcome::failed:
        // Never SEND_OK after a failed fsync, also for every send that shared it.
        rp.deliver(st.failure ? st.failure
                              : make_error(broker_errc::storage_failure, "commit log fsync failed"));
        co_return;
    }
  }
  if (st.opts.sync_master) {
    // The replica step (RocketMQ 4.x CommitLog.handleHA); when both steps fail, its status wins.
    if (!slave_in_sync(st, end)) {
      status = send_status::slave_not_available;
    } else {
      auto deadline = offset_monitor::clock_type::now() + st.opts.slave_timeout;
      auto waiting = st.replicated.wait(end, deadline);
      arm_timer(self, deadline);
      switch (co_await waiting) {
        case offset_monitor::outcome::reached:
          break;
        case offset_monitor::outcome::timed_out:
          status = send_status::flush_slave_timeout;
          break;
        case offset_monitor::outcome::failed:
          status = send_status::slave_not_available; // the last slave detached meanwhile
          break;
      }
    }
  }
  st.refresh_confirmed();
  for (auto& res : reply.results)
    res.status = status;
  if (st.opts.fault_drop_replies_every > 0
      && ++st.replies_seen % st.opts.fault_drop_replies_every == 0) {
    // Testing only (holdfast-broker --fault-drop-replies): stored, but the producer never hears.
    log_warning("fault injection: dropping the reply to a stored batch of {}",
                reply.results.size());
    serve_parked(self, false);
    co_return;
  }
  rp.deliver(std::move(reply));
  serve_parked(self, false);
}

} // namespace

partition_actor::behavior_type partition(self_ptr self, std::shared_ptr<partition_parts> parts,
                                         flush_service_actor flusher, partition_options opts) {
  auto& st = self->state;
  st.store = std::move(parts->store);
  st.offsets = std::move(parts->offsets);
  st.flusher = std::move(flusher);
  st.opts = opts;
  st.confirmed = st.store->log()->flushed_offset();
  st.checkpointer = self->spawn<caf::detached + caf::linked>(checkpoint_service,
                                                             st.checkpoint_jobs);
  self->delayed_send(self, opts.checkpoint_interval, checkpoint_atom::value);
  // Clients announce themselves with hello_req and are monitored from then on.
  self->set_down_handler([self](const caf::down_msg& dm) {
    auto& st = self->state;
    if (auto m = st.group_members.find(dm.source); m != st.group_members.end()) {
      // A consumer's connection broke (or it exited): its queues go to the others now rather
      // than after its heartbeat expiry.
      if (st.groups.remove_member(m->second))
        log_info("consumer '{}' left its group (disconnected)", m->second);
      st.group_members.erase(m);
      return;
    }
    for (auto i = st.slaves.begin(); i != st.slaves.end(); ++i) {
      if (i->second.link == dm.source) {
        log_warning("replication: slave '{}' detached", i->first);
        st.slaves.erase(i);
        if (st.slaves.empty())
          st.replicated.abandon(); // waiting sends answer SLAVE_NOT_AVAILABLE now
        return;
      }
    }
    log_info("client disconnected: {} ({})", caf::to_string(dm.source),
             dm.reason ? caf::to_string(dm.reason) : std::string("normal"));
  });
  return {
    [self](hello_req& req) -> caf::result<hello_reply> {
      auto& st = self->state;
      auto sender = self->current_sender();
      if (!st.opts.client_token.empty()) {
        if (req.token != st.opts.client_token) {
          log_warning("refused client '{}': wrong authToken", req.client_id.substr(0, 64));
          return unauthorized_client();
        }
        if (sender)
          st.authenticated.insert(sender->node());
      }
      if (sender)
        self->monitor(sender);
      log_info("client connected: {} as '{}'", sender ? caf::to_string(sender) : "?",
               req.client_id.substr(0, 128));
      hello_reply r;
      if (auto e = st.store->new_producer_id(r.producer_id); e != errc::ok)
        log_warning("no producer id for '{}': {}", req.client_id.substr(0, 64), to_string(e));
      r.broker_name = st.opts.broker_name;
      r.broker_role = st.opts.broker_role;
      r.flush_disk_type = st.opts.sync_flush ? "SYNC_FLUSH" : "ASYNC_FLUSH";
      r.sync_flush_timeout_ms = static_cast<uint32_t>(st.opts.sync_flush_timeout.count());
      r.max_message_size = st.opts.max_message_size;
      r.queue_nums = st.opts.queue_nums;
      return r;
    },
    [self](append_req& req) -> caf::result<append_reply> {
      if (!client_allowed(self))
        return unauthorized_client();
      auto rp = self->make_response_promise<append_reply>();
      self->state.tasks.spawn(send(self, std::move(req), rp));
      return rp;
    },
    [self](pull_req& req) -> caf::result<pull_reply> {
      auto& st = self->state;
      if (auto err = check_request(self, nullptr, req.topic, req.queue_id))
        return err;
      auto r = read_pull(st, req);
      if (!r)
        return r.error();
      if (!r->msgs.empty() || req.max_wait_ms == 0 || st.stopping)
        return std::move(*r);
      // Long poll: park until something is confirmed for this queue or the wait is over.
      auto wait = std::chrono::milliseconds(std::min(req.max_wait_ms, max_pull_wait_ms));
      parked_pull p{std::move(req), self->make_response_promise<pull_reply>(),
                    std::chrono::steady_clock::now() + wait};
      auto rp = p.rp;
      arm_timer(self, p.deadline);
      st.parked.push_back(std::move(p));
      return rp;
    },
    [self](commit_offset_req& req) -> caf::result<bool> {
      auto& st = self->state;
      if (auto err = check_request(self, &req.group, req.topic, req.queue_id))
        return err;
      auto end = st.store->queue_end(req.topic, req.queue_id);
      if (req.offset > end)
        return make_error(broker_errc::invalid_message,
                          "offset " + std::to_string(req.offset) + " is past the queue end "
                            + std::to_string(end));
      auto e = st.offsets->commit(req.group, req.topic, req.queue_id, req.offset);
      if (e == errc::out_of_range)
        return make_error(broker_errc::invalid_message,
                          "committed offsets only move forward");
      if (e != errc::ok)
        return make_error(broker_errc::storage_failure,
                          std::string("offset commit failed: ") + std::string(to_string(e)));
      return true;
    },
    [self](ha_fetch_req& req) -> caf::result<ha_fetch_reply> {
      auto& st = self->state;
      if (st.opts.slave)
        return make_error(broker_errc::not_master, "this broker is a SLAVE");
      if (req.token != st.opts.auth_token) {
        log_warning("replication: refused a fetch from '{}' with a wrong haAuthToken",
                    req.slave_id.substr(0, 64));
        return make_error(broker_errc::unauthorized, "wrong haAuthToken");
      }
      if (req.broker_name != st.opts.broker_name) {
        // A slave of another broker set (a stale address, a reused port) must never copy or
        // truncate to this log.
        log_warning("replication: refused slave '{}' of broker '{}': this is broker '{}'",
                    req.slave_id.substr(0, 64), req.broker_name.substr(0, 64),
                    st.opts.broker_name);
        return make_error(broker_errc::unauthorized,
                          "this master is broker '" + st.opts.broker_name + "'");
      }
      auto end = st.store->log()->write_offset();
      if (req.offset > end) {
        // The slave holds records this master does not (it lost them): cut back first.
        log_warning("replication: slave '{}' is at {} past our end {}; telling it to truncate",
                    req.slave_id, req.offset, end);
        return ha_fetch_reply{end, {}, end, true};
      }
      if (req.acked > req.offset)
        return make_error(broker_errc::out_of_order,
                          "acknowledged offset " + std::to_string(req.acked)
                            + " is past the fetch offset " + std::to_string(req.offset));
      auto sender = self->current_sender();
      auto addr = caf::actor_cast<caf::actor_addr>(sender);
      if (auto known = st.slaves.find(req.slave_id);
          known != st.slaves.end() && known->second.link == addr
          && req.acked < known->second.acked && req.offset >= known->second.acked) {
        // The same link acknowledging less while still holding what it acknowledged: garbage.
        // (A slave whose log really shrank, truncated or restarted, fetches below its old ack.)
        return make_error(broker_errc::out_of_order,
                          "acknowledged offset went back from "
                            + std::to_string(known->second.acked) + " to "
                            + std::to_string(req.acked));
      }
      // Read before touching any slave state: a fetch the log cannot serve changes nothing.
      std::string bytes;
      bool new_segment = false;
      if (auto e = st.store->read_raw(req.offset, std::max<uint32_t>(req.max_bytes, 4096), bytes,
                                      new_segment);
          e != errc::ok) {
        if (e == errc::invalid_argument)
          return make_error(broker_errc::out_of_order,
                            "fetch offset " + std::to_string(req.offset)
                              + " is not a record boundary");
        return make_error(broker_errc::storage_failure,
                          std::string("replication read failed: ") + std::string(to_string(e)));
      }
      auto now = std::chrono::steady_clock::now();
      auto [it, fresh] = st.slaves.try_emplace(req.slave_id);
      if (fresh || it->second.link != addr) {
        log_info("replication: slave '{}' attached at offset {}", req.slave_id, req.offset);
        if (sender)
          self->monitor(sender);
        it->second.link = addr;
      }
      record_ack(self, it->second, req.acked, now);
      if (bytes.empty() && req.max_wait_ms > 0 && !st.stopping) {
        auto wait = std::chrono::milliseconds(std::min<uint32_t>(req.max_wait_ms, 60000));
        parked_fetch p{std::move(req), self->make_response_promise<ha_fetch_reply>(), now + wait};
        auto rp = p.rp;
        arm_timer(self, p.deadline);
        st.parked_fetches.push_back(std::move(p));
        return rp;
      }
      ha_fetch_reply r{req.offset, {}, end, false, new_segment};
      r.bytes.assign(bytes.begin(), bytes.end());
      return r;
    },
    [self](ha_append_req& req) -> caf::result<ha_position> {
      if (!self->state.opts.slave)
        return make_error(broker_errc::not_master, "only a SLAVE takes replicated records");
      auto rp = self->make_response_promise<ha_position>();
      self->state.tasks.spawn(replicate(self, std::move(req), rp));
      return rp;
    },
    [self](ha_truncate_req& req) -> caf::result<ha_position> {
      auto& st = self->state;
      if (!st.opts.slave)
        return make_error(broker_errc::not_master, "only a SLAVE truncates on its master's word");
      uint64_t dropped = 0;
      if (auto e = st.store->truncate_to(req.offset, dropped); e != errc::ok)
        return make_error(broker_errc::storage_failure,
                          std::string("truncation failed: ") + std::string(to_string(e)));
      if (dropped > 0)
        log_warning("replication: dropped {} bytes past offset {} that the master does not have",
                    dropped, req.offset);
      st.confirmed = std::min(st.confirmed, req.offset);
      return slave_position(st);
    },
    [self](ha_position_atom) -> ha_position { return slave_position(self->state); },
    [self](ha_ack& a) {
      auto& st = self->state;
      auto it = st.slaves.find(a.slave_id);
      // Only an attached slave (its fetch passed the token and name checks) moves its own ack,
      // only forward, and never past what this master has written.
      if (st.opts.slave || a.token != st.opts.auth_token || a.broker_name != st.opts.broker_name
          || it == st.slaves.end() || a.acked > st.store->log()->write_offset()) {
        log_warning("replication: ignored an acknowledgement from '{}' at {}",
                    a.slave_id.substr(0, 64), a.acked);
        return;
      }
      if (a.acked <= it->second.acked)
        return;
      record_ack(self, it->second, a.acked, std::chrono::steady_clock::now());
    },
    [self](fetch_offset_req& req) -> caf::result<fetch_offset_reply> {
      auto& st = self->state;
      if (auto err = check_request(self, &req.group, req.topic, req.queue_id))
        return err;
      fetch_offset_reply r;
      if (auto off = st.offsets->get(req.group, req.topic, req.queue_id)) {
        r.found = true;
        r.offset = *off;
      }
      r.queue_end = st.store->queue_end(req.topic, req.queue_id);
      return r;
    },
    [self](group_heartbeat_req& req) -> caf::result<group_heartbeat_reply> {
      auto& st = self->state;
      if (auto err = check_request(self, &req.group, req.topic, 0))
        return err;
      if (req.consumer_id.empty() || req.consumer_id.size() > 256)
        return make_error(broker_errc::invalid_message, "consumer id must have 1 to 256 bytes");
      auto addr = caf::actor_cast<caf::actor_addr>(self->current_sender());
      group_heartbeat_reply r;
      r.queue_count = st.store->queue_count(req.topic);
      if (req.leave) {
        if (st.groups.remove_member(req.consumer_id))
          log_info("consumer '{}' left group '{}'", req.consumer_id, req.group);
        return r;
      }
      if (addr && st.group_members.emplace(addr, req.consumer_id).second)
        self->monitor(addr);
      // Three missed heartbeats (plus slack for a loaded machine) before a silent member's
      // queues move; a broken connection moves them at once through the down handler.
      auto interval = std::chrono::milliseconds(std::clamp<uint32_t>(req.interval_ms, 10, 600000));
      auto expiry = 3 * interval + std::chrono::seconds(2);
      r.queues = st.groups.heartbeat(req.group, req.topic, req.consumer_id, req.owned,
                                     r.queue_count, expiry, std::chrono::steady_clock::now());
      return r;
    },
    [self](topic_route_req& req) -> caf::result<int32_t> {
      if (auto err = check_request(self, nullptr, req.topic, 0))
        return err;
      return self->state.store->queue_count(req.topic);
    },
    [self](ha_offsets_req& req) -> caf::result<ha_offsets_reply> {
      auto& st = self->state;
      if (st.opts.slave)
        return make_error(broker_errc::not_master, "this broker is a SLAVE");
      if (req.token != st.opts.auth_token || req.broker_name != st.opts.broker_name)
        return make_error(broker_errc::unauthorized, "wrong haAuthToken or brokerName");
      ha_offsets_reply r;
      for (auto& e : st.offsets->all())
        r.offsets.push_back(group_offset{e.group, e.topic, e.queue_id, e.offset});
      return r;
    },
    [self](ha_offsets_reply& req) -> caf::result<bool> {
      // Local, link -> slave partition: the master's offsets, taken where ahead.
      auto& st = self->state;
      auto sender = self->current_sender();
      if (!st.opts.slave || !sender || sender->node() != self->node())
        return make_error(broker_errc::not_master, "only a SLAVE takes its master's offsets");
      std::vector<offset_store::entry> entries;
      entries.reserve(req.offsets.size());
      for (auto& o : req.offsets)
        entries.push_back(offset_store::entry{o.group, o.topic, o.queue_id, o.offset});
      if (auto e = st.offsets->merge_max(entries); e != errc::ok)
        return make_error(broker_errc::storage_failure,
                          std::string("offset copy failed: ") + std::string(to_string(e)));
      return true;
    },
    [self](status_atom) -> caf::result<partition_status> {
      auto& st = self->state;
      if (!client_allowed(self))
        return unauthorized_client();
      partition_status s;
      s.flush_disk_type = st.opts.sync_flush ? "SYNC_FLUSH" : "ASYNC_FLUSH";
      s.broker_role = st.opts.broker_role;
      s.written = st.store->log()->write_offset();
      s.flushed = st.store->log()->flushed_offset();
      s.confirmed = st.refresh_confirmed();
      s.fsyncs = st.store->log()->sync_count();
      s.append_requests = st.append_requests;
      s.messages = st.messages;
      s.duplicates = st.store->duplicates();
      s.producer_streams = st.store->producers().streams();
      s.master_address = st.opts.slave ? st.opts.master_address : std::string{};
      auto now = std::chrono::steady_clock::now();
      for (auto& [id, sl] : st.slaves)
        s.slaves.push_back(slave_info{
          id, sl.acked, s.written - std::min(s.written, sl.acked),
          std::chrono::duration_cast<std::chrono::milliseconds>(now - sl.last_seen).count()});
      s.topics = st.store->topics();
      return s;
    },
    [self](shutdown_atom) -> bool {
      // Clean stop: make everything durable and leave the marker that lets the next start
      // skip the recovery scan. Sends arriving from now on are refused; long polls end.
      auto& st = self->state;
      st.stopping = true;
      serve_parked(self, true);
      serve_fetches(self, true);
      if (st.failure) {
        log_warning("partition: not writing the clean-shutdown marker after a failed fsync");
        return false;
      }
      st.checkpoint_jobs->wait_idle(); // close() writes the same files
      auto e = st.store->close();
      if (e != errc::ok) {
        log_error("partition: clean shutdown failed: {}", to_string(e));
        st.flushed.fail();
        return false;
      }
      // Everything is on disk now: sends still waiting for their flush get SEND_OK before exit.
      st.flushed.notify(st.store->log()->flushed_offset());
      return true;
    },
    [self](checkpoint_atom) {
      auto& st = self->state;
      if (st.stopping)
        return;
      // The fsyncs run on the checkpoint service's thread; one job at a time.
      if (!st.failure && !st.checkpointing) {
        st.checkpointing = true;
        st.checkpoint_jobs->put(st.store->begin_checkpoint());
        self->request(st.checkpointer, caf::infinite, checkpoint_atom::value)
          .then(
            [self](bool) {
              auto& st = self->state;
              st.checkpointing = false;
              if (auto job = st.checkpoint_jobs->take()) {
                if (job->result != errc::ok)
                  log_warning("partition: checkpoint failed: {}", to_string(job->result));
                st.store->end_checkpoint(*job);
              }
            },
            [self](caf::error& err) {
              self->state.checkpointing = false;
              log_warning("partition: checkpoint service: {}", describe(err));
            });
      }
      self->delayed_send(self, st.opts.checkpoint_interval, checkpoint_atom::value);
    },
    [self](tick_atom) {
      // Flush deadlines: time out late sends. Long polls: answer those whose wait is over.
      auto& st = self->state;
      st.timer_at.reset();
      auto now = offset_monitor::clock_type::now();
      st.flushed.expire(now);
      st.replicated.expire(now);
      if (auto next = st.flushed.next_deadline())
        arm_timer(self, *next);
      if (auto next = st.replicated.next_deadline())
        arm_timer(self, *next);
      serve_parked(self, true);
      serve_fetches(self, true);
      // Housekeeping: a slave silent too long no longer counts (slave_in_sync checks the time).
    },
  };
}

partition_actor spawn_partition(caf::actor_system& sys, partition_parts parts,
                                flush_service_actor flusher, partition_options opts) {
  auto box = std::make_shared<partition_parts>(std::move(parts));
  return sys.spawn(partition, box, std::move(flusher), opts);
}

} // namespace holdfast
