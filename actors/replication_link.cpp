#include "actors/replication_link.hpp"

#include "actors/producer.hpp"
#include "runtime/caf_await.hpp"
#include "runtime/log.hpp"

#include <caf/io/all.hpp>

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
            self->send(st.master, ha_ack{st.opts.token, st.opts.broker_name, st.opts.slave_id,
                                         p.acked});
        }
        pipe->done.notify(++pipe->completed);
      },
      [pipe](caf::error& err) {
        log_error("replication: local append failed: {}", describe(err));
        pipe->failed = true;
        pipe->done.notify(++pipe->completed);
      });
}

task<void> run(self_ptr self) {
  auto& st = self->state;
  st.running = true;
  auto pipe = std::make_shared<link_pipeline>();
  st.pipe = pipe;
  // Waiting for appends has no deadline: the local partition answers every one.
  auto forever = offset_monitor::clock_type::now() + std::chrono::hours(24 * 365);
  auto pos = co_await ask<ha_position>(self, st.local, caf::infinite, ha_position_atom::value);
  if (!pos)
    log_error("replication: local partition unavailable: {}", describe(pos.error()));
  uint64_t next = pos ? pos->written : 0;
  pipe->acked = pos ? pos->acked : 0;
  while (st.master && pos && !pipe->failed) {
    ha_fetch_req req{st.opts.token, st.opts.broker_name, st.opts.slave_id, next, pipe->acked,
                     st.opts.batch_bytes, static_cast<uint32_t>(st.opts.heartbeat.count())};
    auto timeout = caf::duration{st.opts.heartbeat * 2 + std::chrono::seconds(5)};
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
      ha_offsets_req oreq{st.opts.token, st.opts.broker_name};
      auto offs = co_await ask<ha_offsets_reply>(self, st.master, timeout, oreq);
      if (!offs) {
        log_warning("replication: offset copy from {} failed: {}", st.opts.master_address,
                    describe(offs.error()));
      } else {
        auto copy = std::move(*offs);
        auto ok = co_await ask<bool>(self, st.local, caf::infinite, copy);
        if (!ok)
          log_warning("replication: storing the master's offsets failed: {}",
                      describe(ok.error()));
      }
    }
    if (r->truncate) {
      // Let the appends in flight land first; then cut back and start over from there.
      co_await pipe->done.wait(pipe->issued, forever);
      ha_truncate_req t{r->offset};
      auto p = co_await ask<ha_position>(self, st.local, caf::infinite, t);
      if (!p) {
        log_error("replication: truncation failed: {}", describe(p.error()));
        break;
      }
      next = p->written;
      pipe->acked = std::min(pipe->acked, p->acked);
      continue;
    }
    if (!r->bytes.empty()) {
      if (r->offset != next) {
        log_error("replication: master sent records at {} for a fetch at {}", r->offset, next);
        break;
      }
      next += r->bytes.size();
      append_async(self, pipe, ha_append_req{r->offset, std::move(r->bytes), r->new_segment});
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
  std::string host;
  uint16_t port = 0;
  if (!parse_address(st.opts.master_address, host, port)) {
    log_error("replication: invalid haMasterAddress '{}'", st.opts.master_address);
    return;
  }
  st.connecting = true;
  auto mm = self->home_system().middleman().actor_handle();
  self->request(mm, caf::infinite, caf::connect_atom::value, host, port)
    .then(
      [self](const caf::node_id&, caf::strong_actor_ptr& ptr, const std::set<std::string>&) {
        auto& st = self->state;
        st.connecting = false;
        if (!ptr) {
          retry_later(self);
          return;
        }
        log_info("replication: connected to master {}", st.opts.master_address);
        st.master = caf::actor_cast<partition_actor>(std::move(ptr));
        st.tasks.spawn(run(self));
      },
      [self](caf::error& e) {
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
