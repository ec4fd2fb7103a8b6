#include "actors/flush_service.hpp"

#include "runtime/log.hpp"

namespace holdfast {

namespace {

constexpr uint64_t page_size = 4096;

caf::error sync_failed(errc e) {
  return make_error(broker_errc::storage_failure,
                    std::string("commit log fsync failed: ") + std::string(to_string(e)));
}

} // namespace

flush_service_actor::behavior_type
flush_service(flush_service_actor::stateful_pointer<flush_state> self,
              std::shared_ptr<commit_log> log, flush_options opts) {
  self->state.log = std::move(log);
  self->state.opts = opts;
  self->state.last_sync = std::chrono::steady_clock::now();
  self->delayed_send(self, opts.interval, tick_atom::value);
  return {
    [self](flush_req req) -> caf::result<flush_ack> {
      auto& st = self->state;
      if (st.log->flushed_offset() >= req.offset)
        return flush_ack{st.log->flushed_offset()};
      if (auto e = st.log->sync(); e != errc::ok)
        return sync_failed(e);
      st.last_sync = std::chrono::steady_clock::now();
      return flush_ack{st.log->flushed_offset()};
    },
    [self](tick_atom) {
      auto& st = self->state;
      auto dirty = st.log->write_offset() - st.log->flushed_offset();
      auto now = std::chrono::steady_clock::now();
      bool thorough = now - st.last_sync >= st.opts.thorough_interval;
      if (dirty > 0 && !st.log->failed()
          && (dirty >= st.opts.least_pages * page_size || thorough)) {
        if (auto e = st.log->sync(); e != errc::ok)
          log_error("periodic flush failed: {}", to_string(e));
        st.last_sync = now;
      } else if (thorough) {
        st.last_sync = now;
      }
      self->delayed_send(self, st.opts.interval, tick_atom::value);
    },
  };
}

flush_service_actor spawn_flush_service(caf::actor_system& sys, std::shared_ptr<commit_log> log,
                                        flush_options opts) {
  return sys.spawn<caf::detached>(flush_service, std::move(log), opts);
}

} // namespace holdfast
