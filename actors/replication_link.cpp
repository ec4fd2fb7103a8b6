#include "actors/replication_link.hpp"

#include "actors/wire/connect.hpp"
#include "runtime/caf_await.hpp"
#include "runtime/log.hpp"

namespace holdfast {

namespace {

using self_ptr = replication_link_actor::stateful_pointer<replication_link_state>;

void retry_later(self_ptr self) {
  self->delayed_send(self, self->state.opts.heartbeat, tick_atom::value);
}

// Appends a fetched chunk without waiting for it: the next fetch goes out at once while the
// slave's partition writes and syncs this one; when it is done, the master hears the new
// acknowledged offset right away (ha_ack) instead of with the next fetch.
void append_async(self_ptr self, std::shared_ptr<link_pipeline> pipe, ha_append_req a) {
  ++pipe->issued;
  self->request(self->state.local, caf::infinite, std::move(a))
    .then(
      [self, pipe](ha_position& p) {
        auto& st = self->state;
        if (p.acked > pipe->acked) {
          pipe->acked = p.acked;
          if (st.master && st.pipe == pipe)
            self->send(st.master, ha_ack{p.acked});
        }
        pipe->done.notify(++pipe->completed);
      },
      [pipe](caf::error& err) {
        log_error("replication: local append failed: {}", describe(err));
        pipe->failed = true;
        pipe->done.notify(++pipe->completed);
      });
}

task<void> copy_offsets(self_ptr self, caf::duration timeout) {
  auto& st = self->state;
  ha_offsets_req oreq;
  auto offs = co_await ask<ha_offsets_reply>(self, st.master, timeout, oreq);
  if (!offs) {
    log_warning("replication: offset copy from {} failed: {}", st.opts.master_address,
                describe(offs.error()));
    co_return;
  }
  auto copy = std::move(*offs);
  auto ok = co_await ask<bool>(self, st.local, caf::infinite, copy);
  if (!ok)
    log_warning("replication: storing the master's offsets failed: {}", describe(ok.error()));
}

task<void> run(self_ptr self) {
  auto& st = self->state;
  st.running = true;
  auto pipe = std::make_shared<link_pipeline>();
  st.pipe = pipe;
  // Waiting for appends has no deadline: the local partition answers every one.
  auto forever = offset_monitor::clock_type::now() + std::chrono::hours(24 * 365);
  auto timeout = caf::duration{st.opts.heartbeat * 2 + std::chrono::seconds(5)};
  ha_hello_req hello{st.opts.token, st.opts.broker_name, st.opts.slave_id};
  auto welcome = co_await ask<ha_hello_reply>(self, st.master, timeout, hello);
  if (!welcome) {
    log_error("replication: master {} refused this slave: {}", st.opts.master_address,
              describe(welcome.error()));
  } else {
    adopt_producer_key key{std::move(welcome->producer_key)};
    if (auto ok = co_await ask<bool>(self, st.local, caf::infinite, key); !ok)
      log_warning("replication: keeping the master's producer key failed: {}",
                  describe(ok.error()));
  }
  auto pos = co_await ask<ha_position>(self, st.local, caf::infinite, ha_position_atom::value);
  if (!pos)
    log_error("replication: local partition unavailable: {}", describe(pos.error()));
  uint64_t next = pos ? pos->written : 0;
  uint64_t last_epoch = pos ? pos->last_epoch : 0;
  uint64_t last_term = pos ? pos->last_term : 0;
  pipe->acked = pos ? pos->acked : 0;
  while (welcome && st.master && pos && !pipe->failed) {
    ha_fetch_req req{next, pipe->acked, last_epoch, last_term, st.opts.batch_bytes,
                     static_cast<uint32_t>(st.opts.heartbeat.count())};
    auto r = co_await ask<ha_fetch_reply>(self, st.master, timeout, req);
    if (!r) {
      log_warning("replication: fetch from {} failed: {}", st.opts.master_address,
                  describe(r.error()));
      // Keep the connection's proxy from pinning a refused master: reconnect next time.
      st.master = nullptr;
      break;
    }
    if (auto now = std::chrono::steady_clock::now(); now - st.offsets_synced >= st.opts.offset_sync) {
      st.offsets_synced = now;
      co_await copy_offsets(self, timeout);
    }
    if (r->diverged) {
      // Let the appends in flight land first; then cut back and start over from there.
      co_await pipe->done.wait(pipe->issued, forever);
      ha_truncate_req t{r->truncate_to, r->drop_last_term};
      auto p = co_await ask<ha_position>(self, st.local, caf::infinite, t);
      if (!p) {
        log_error("replication: truncation failed: {}", describe(p.error()));
        break;
      }
      next = p->written;
      last_epoch = p->last_epoch;
      last_term = p->last_term;
      pipe->acked = std::min(pipe->acked, p->acked);
      continue;
    }
    if (!r->bytes.empty()) {
      if (r->offset != next) {
        log_error("replication: master sent records at {} for a fetch at {}", r->offset, next);
        break;
      }
      next += r->bytes.size();
      if (!r->epochs.empty()) {
        last_epoch = r->epochs.back().epoch;
        last_term = r->epochs.back().term;
      }
      append_async(self, pipe,
                   ha_append_req{r->offset, std::move(r->bytes), r->new_segment,
                                 std::move(r->epochs)});
      // A bounded pipeline: a slow slave disk must not make the link buffer the whole log.
      if (pipe->issued - pipe->completed >= max_appends_in_flight)
        co_await pipe->done.wait(pipe->issued - max_appends_in_flight + 1, forever);
    }
  }
  // The next run starts from the local partition's position: let it settle first.
  co_await pipe->done.wait(pipe->issued, forever);
  st.running = false;
  st.master = nullptr;
  retry_later(self);
}

void connect(self_ptr self) {
  auto& st = self->state;
  if (st.connecting || st.running)
    return;
  st.connecting = true;
  connect_async<replication_door_actor>(
    self, st.opts.master_address,
    [self](replication_door_actor master) {
      auto& st = self->state;
      st.connecting = false;
      log_info("replication: connected to master {}", st.opts.master_address);
      st.master = std::move(master);
      st.tasks.spawn(run(self));
    },
    [self](caf::error e) {
      self->state.connecting = false;
      log_warning("replication: cannot reach master {}: {}", self->state.opts.master_address,
                  describe(e));
      retry_later(self);
    });
}

} // namespace

replication_link_actor::behavior_type replication_link(self_ptr self, partition_actor local,
                                                       replication_link_options opts) {
  self->state.local = std::move(local);
  self->state.opts = std::move(opts);
  connect(self);
  return {
    [self](tick_atom) { connect(self); },
  };
}

} // namespace holdfast
