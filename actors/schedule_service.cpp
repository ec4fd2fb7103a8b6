#include "actors/schedule_service.hpp"

#include "runtime/caf_await.hpp"
#include "runtime/log.hpp"

#include <cstdlib>

namespace holdfast {

namespace {

using self_ptr = schedule_service_actor::stateful_pointer<schedule_service_state>;

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// The message as it goes to its real topic: same id, body and properties (reconsume count,
// origin topic...), without the delay bookkeeping.
message to_real(const stored_message& m) {
  message out;
  auto& p = m.properties;
  auto t = p.find(property::real_topic);
  out.topic = t != p.end() ? t->second : std::string{};
  out.queue_id = -1;
  if (auto q = p.find(property::real_queue_id); q != p.end()) {
    char* end = nullptr;
    long id = std::strtol(q->second.c_str(), &end, 10);
    if (end != q->second.c_str() && *end == '\0' && id >= 0 && id < 65536)
      out.queue_id = static_cast<int32_t>(id);
  }
  out.msg_id = m.msg_id;
  out.properties = p;
  out.properties.erase(property::real_topic);
  out.properties.erase(property::real_queue_id);
  out.properties.erase(property::delay_level);
  out.body = m.body;
  return out;
}

// One pass over every level. Errors end the pass; the next tick tries again from the durable
// position, so nothing is skipped.
task<void> sweep(self_ptr self) {
  auto& st = self->state;
  const std::string topic{schedule_topic};
  const std::string group{schedule_service_group};
  for (size_t level = 0; level < st.opts.levels.size(); ++level) {
    auto queue = static_cast<int32_t>(level);
    if (!st.loaded[level]) {
      fetch_offset_req f{group, topic, queue};
      auto r = co_await ask<fetch_offset_reply>(self, st.partition, caf::infinite, f);
      if (!r)
        co_return;
      st.next[level] = r->found ? r->offset : 0;
      st.loaded[level] = true;
    }
    for (;;) {
      pull_req p{topic, queue, st.next[level], 64, 0};
      auto r = co_await ask<pull_reply>(self, st.partition, caf::infinite, p);
      if (!r)
        co_return;
      auto deadline = now_ms() - st.opts.levels[level].count();
      append_req batch;
      uint64_t upto = st.next[level];
      for (auto& m : r->msgs) {
        if (m.store_timestamp_ms > deadline)
          break;
        auto real = to_real(m);
        if (valid_topic_name(real.topic))
          batch.msgs.push_back(std::move(real));
        else
          log_error("schedule: dropping {} of delay level {}: no valid {} property", m.msg_id,
                    level + 1, property::real_topic);
        upto = m.queue_offset + 1;
      }
      if (upto == st.next[level])
        break; // nothing due
      if (!batch.msgs.empty()) {
        auto n = batch.msgs.size();
        auto a = co_await ask<append_reply>(self, st.partition, caf::infinite, batch);
        if (!a) {
          if (a.error().category() == caf::atom("holdfast")
              && static_cast<broker_errc>(a.error().code()) == broker_errc::invalid_message) {
            // The store refuses them (a property too big for the real topic...): they can
            // never be delivered; skip rather than block the level forever.
            log_error("schedule: delay level {} messages refused by the store, skipped: {}",
                      level + 1, describe(a.error()));
          } else {
            log_warning("schedule: moving delay level {} messages failed: {}", level + 1,
                        describe(a.error()));
            co_return;
          }
        } else {
          st.moved += n;
        }
      }
      commit_offset_req c{group, topic, queue, upto};
      auto ok = co_await ask<bool>(self, st.partition, caf::infinite, c);
      if (!ok) {
        log_warning("schedule: committing delay level {} failed: {}", level + 1,
                    describe(ok.error()));
        co_return;
      }
      st.next[level] = upto;
      if (r->msgs.size() < 64)
        break;
    }
  }
}

task<void> run_and_rearm(self_ptr self) {
  co_await sweep(self);
  self->delayed_send(self, self->state.opts.interval, tick_atom::value);
}

} // namespace

schedule_service_actor::behavior_type schedule_service(self_ptr self, partition_actor partition,
                                                       schedule_service_options opts) {
  auto& st = self->state;
  st.partition = std::move(partition);
  st.opts = std::move(opts);
  st.next.assign(st.opts.levels.size(), 0);
  st.loaded.assign(st.opts.levels.size(), false);
  // Lives as long as its partition: a killed partition (a crash test, a failed start) must not
  // leave a timer loop behind that keeps the actor system from shutting down.
  self->monitor(st.partition);
  self->set_down_handler([self](caf::down_msg&) { self->quit(); });
  self->send(self, tick_atom::value);
  return {
    [self](tick_atom) { self->state.tasks.spawn(run_and_rearm(self)); },
  };
}

} // namespace holdfast
