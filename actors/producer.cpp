#include "actors/producer.hpp"

#include "runtime/log.hpp"

#include <caf/io/all.hpp>

#include <chrono>
#include <cstdio>
#include <random>
#include <unistd.h>

namespace holdfast {

namespace {

using self_ptr = producer_actor::stateful_pointer<producer_state>;
using clock_type = std::chrono::steady_clock;

constexpr auto reconnect_interval = std::chrono::milliseconds(200);

void post_drain(self_ptr self) {
  if (!self->state.drain_posted) {
    self->state.drain_posted = true;
    if (self->state.opts.linger.count() > 0)
      self->delayed_send(self, self->state.opts.linger, drain_atom::value);
    else
      self->send(self, drain_atom::value);
  }
}

void post_tick(self_ptr self) {
  if (!self->state.tick_posted) {
    self->state.tick_posted = true;
    self->delayed_send(self, reconnect_interval, tick_atom::value);
  }
}

void on_failure(self_ptr self, std::vector<producer_state::pending>& batch,
                const caf::error& err) {
  auto now = clock_type::now();
  bool requeued = false;
  for (auto& p : batch) {
    if (retriable(err) && p.attempts < p.max_retries && now < p.deadline) {
      ++p.attempts;
      self->state.queue.push_back(std::move(p));
      requeued = true;
    } else {
      p.rp.deliver(err);
    }
  }
  if (requeued)
    post_drain(self);
}

void adopt_broker(self_ptr self, partition_actor broker) {
  auto& st = self->state;
  st.broker = std::move(broker);
  self->monitor(st.broker);
  hello_req hello{st.opts.client_id, st.opts.auth_token};
  self->request(st.broker, std::chrono::seconds(10), hello)
    .then(
      [self](hello_reply& r) {
        auto& st = self->state;
        if (st.opts.send_timeout.count() <= static_cast<int64_t>(r.sync_flush_timeout_ms)
            && r.flush_disk_type == "SYNC_FLUSH")
          log_warning("producer: sendMsgTimeout ({} ms) is not longer than the broker's "
                      "syncFlushTimeout ({} ms): FLUSH_DISK_TIMEOUT can never reach you, the "
                      "send times out first (RocketMQ issue 5657)",
                      st.opts.send_timeout.count(), r.sync_flush_timeout_ms);
        st.hello = std::move(r);
      },
      [](caf::error& e) { log_warning("producer: hello failed: {}", describe(e)); });
}

// A failed connection attempt counts as one attempt of every send waiting for it: with the
// broker gone, sends fail after their retries (about retry_times x 200 ms) instead of each
// waiting out its whole sendMsgTimeout.
void count_failed_attempt(self_ptr self, const caf::error& err) {
  auto& st = self->state;
  std::vector<producer_state::pending> keep;
  for (auto& p : st.queue) {
    if (++p.attempts > p.max_retries)
      p.rp.deliver(err);
    else
      keep.push_back(std::move(p));
  }
  st.queue = std::move(keep);
}

void reconnect(self_ptr self) {
  auto& st = self->state;
  if (st.connecting || st.opts.broker_address.empty())
    return;
  std::string host;
  uint16_t port = 0;
  if (!parse_address(st.opts.broker_address, host, port))
    return;
  st.connecting = true;
  auto mm = self->home_system().middleman().actor_handle();
  self->request(mm, caf::infinite, caf::connect_atom::value, host, port)
    .then(
      [self](const caf::node_id&, caf::strong_actor_ptr& ptr, const std::set<std::string>&) {
        auto& st = self->state;
        st.connecting = false;
        if (!ptr) {
          count_failed_attempt(self, make_error(broker_errc::storage_failure,
                                                "broker " + st.opts.broker_address
                                                  + " offers no actor"));
          post_tick(self);
          return;
        }
        log_info("producer: reconnected to {}", st.opts.broker_address);
        adopt_broker(self, caf::actor_cast<partition_actor>(std::move(ptr)));
        post_drain(self);
      },
      [self](caf::error& err) {
        self->state.connecting = false;
        count_failed_attempt(self, err);
        post_tick(self);
      });
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
      [self, shared](caf::error& err) { on_failure(self, *shared, err); });
}

caf::typed_response_promise<send_result> enqueue(self_ptr self, message msg, int retries) {
  auto& st = self->state;
  if (msg.msg_id.empty())
    msg.msg_id = st.id_prefix + std::to_string(++st.id_counter);
  producer_state::pending p;
  p.msg = std::move(msg);
  p.rp = self->make_response_promise<send_result>();
  p.max_retries = std::max(0, retries);
  p.deadline = clock_type::now() + st.opts.send_timeout;
  auto rp = p.rp;
  st.queue.push_back(std::move(p));
  post_drain(self);
  return rp;
}

} // namespace

bool parse_address(const std::string& addr, std::string& host, uint16_t& port) {
  auto colon = addr.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == addr.size())
    return false;
  host = addr.substr(0, colon);
  auto p = addr.substr(colon + 1);
  unsigned long v = 0;
  for (char c : p) {
    if (c < '0' || c > '9')
      return false;
    v = v * 10 + static_cast<unsigned long>(c - '0');
    if (v > 65535)
      return false;
  }
  port = static_cast<uint16_t>(v);
  return port != 0;
}

std::string make_msg_id_prefix() {
  std::random_device rd;
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%08X%04X%04X-", static_cast<unsigned>(::time(nullptr)),
                static_cast<unsigned>(::getpid() & 0xffff), static_cast<unsigned>(rd() & 0xffff));
  return buf;
}

producer_actor::behavior_type producer(self_ptr self, partition_actor broker,
                                       producer_options opts) {
  self->state.opts = opts;
  self->state.id_prefix = make_msg_id_prefix();
  if (broker)
    adopt_broker(self, std::move(broker));
  else
    reconnect(self);
  self->set_down_handler([self](const caf::down_msg& dm) {
    auto& st = self->state;
    if (st.broker && dm.source == st.broker.address()) {
      log_warning("producer: lost the broker ({})", caf::to_string(dm.reason));
      st.broker = nullptr;
      reconnect(self);
    }
  });
  return {
    [self](message& msg) -> caf::typed_response_promise<send_result> {
      return enqueue(self, std::move(msg), self->state.opts.retry_times);
    },
    [self](send_req& req) -> caf::typed_response_promise<send_result> {
      return enqueue(self, std::move(req.msg), req.retries);
    },
    [self](status_atom) -> hello_reply { return self->state.hello; },
    [self](drain_atom) {
      auto& st = self->state;
      st.drain_posted = false;
      if (!st.broker) {
        // Disconnected: the sends wait for the reconnect; the tick fails the late ones.
        reconnect(self);
        post_tick(self);
        return;
      }
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
    [self](tick_atom) {
      auto& st = self->state;
      st.tick_posted = false;
      auto now = clock_type::now();
      std::vector<producer_state::pending> keep;
      for (auto& p : st.queue) {
        if (p.deadline <= now)
          p.rp.deliver(caf::make_error(caf::sec::request_timeout,
                                       "no connection to the broker within sendMsgTimeout"));
        else
          keep.push_back(std::move(p));
      }
      st.queue = std::move(keep);
      if (!st.broker) {
        reconnect(self);
        if (!st.queue.empty())
          post_tick(self);
      } else if (!st.queue.empty()) {
        post_drain(self);
      }
    },
  };
}

} // namespace holdfast
