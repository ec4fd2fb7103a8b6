#include "actors/producer.hpp"

#include <chrono>
#include <cstdio>
#include <random>
#include <unistd.h>

namespace holdfast {

namespace {

using self_ptr = producer_actor::stateful_pointer<producer_state>;
using clock_type = std::chrono::steady_clock;

void post_drain(self_ptr self) {
  if (!self->state.drain_posted) {
    self->state.drain_posted = true;
    self->send(self, drain_atom::value);
  }
}

void dispatch(self_ptr self, std::vector<producer_state::pending> batch) {
  auto& st = self->state;
  auto now = clock_type::now();
  auto deadline = batch.front().deadline;
  for (auto& p : batch)
    deadline = std::min(deadline, p.deadline);
  auto budget = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
  if (budget.count() < 1)
    budget = std::chrono::milliseconds{1};
  append_req req;
  req.msgs.reserve(batch.size());
  for (auto& p : batch)
    req.msgs.push_back(p.msg);
  ++st.batches;
  auto shared = std::make_shared<std::vector<producer_state::pending>>(std::move(batch));
  self->request(st.broker, caf::duration{budget}, std::move(req))
    .then(
      [shared](append_reply& reply) {
        auto& b = *shared;
        for (size_t i = 0; i < b.size(); ++i) {
          if (i < reply.results.size())
            b[i].rp.deliver(std::move(reply.results[i]));
          else
            b[i].rp.deliver(make_error(broker_errc::storage_failure, "short reply"));
        }
      },
      [self, shared](caf::error& err) {
        auto now = clock_type::now();
        bool requeued = false;
        for (auto& p : *shared) {
          if (retriable(err) && p.attempts < self->state.opts.retry_times && now < p.deadline) {
            ++p.attempts;
            self->state.queue.push_back(std::move(p));
            requeued = true;
          } else {
            p.rp.deliver(err);
          }
        }
        if (requeued)
          post_drain(self);
      });
}

} // namespace

std::string make_msg_id_prefix() {
  std::random_device rd;
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%08X%04X%04X-", static_cast<unsigned>(::time(nullptr)),
                static_cast<unsigned>(::getpid() & 0xffff), static_cast<unsigned>(rd() & 0xffff));
  return buf;
}

producer_actor::behavior_type producer(self_ptr self, partition_actor broker,
                                       producer_options opts) {
  self->state.broker = std::move(broker);
  self->state.opts = opts;
  self->state.id_prefix = make_msg_id_prefix();
  return {
    [self](message& msg) -> caf::typed_response_promise<send_result> {
      auto& st = self->state;
      if (msg.msg_id.empty())
        msg.msg_id = st.id_prefix + std::to_string(++st.id_counter);
      producer_state::pending p;
      p.msg = std::move(msg);
      p.rp = self->make_response_promise<send_result>();
      p.deadline = clock_type::now() + st.opts.send_timeout;
      auto rp = p.rp;
      st.queue.push_back(std::move(p));
      post_drain(self);
      return rp;
    },
    [self](drain_atom) {
      auto& st = self->state;
      st.drain_posted = false;
      auto queue = std::move(st.queue);
      st.queue.clear();
      std::vector<producer_state::pending> batch;
      size_t bytes = 0;
      for (auto& p : queue) {
        auto sz = p.msg.body.size() + p.msg.topic.size() + p.msg.msg_id.size() + 64;
        if (!batch.empty() && bytes + sz > st.opts.batch_max_bytes) {
          dispatch(self, std::move(batch));
          batch.clear();
          bytes = 0;
        }
        bytes += sz;
        batch.push_back(std::move(p));
      }
      if (!batch.empty())
        dispatch(self, std::move(batch));
    },
  };
}

} // namespace holdfast
