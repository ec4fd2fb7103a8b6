#include "client/producer.hpp"

#include "actors/wire/connect.hpp"
#include "runtime/log.hpp"

#include <caf/io/all.hpp>

#include <algorithm>
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

void send_hello(self_ptr self);

// Sends stamped with `pid` that are not answered yet; the id's secret is kept while any are.
void release(self_ptr self, const producer_state::pending& p) {
  auto& st = self->state;
  auto pid = p.msg.producer_id;
  if (pid == 0)
    return;
  auto it = st.stamped.find(pid);
  if (it == st.stamped.end() || --it->second > 0)
    return;
  st.stamped.erase(it);
  if (pid != st.producer_id) {
    st.secrets.erase(pid);
    std::erase_if(st.failed_at, [pid](const auto& e) { return std::get<0>(e.first) == pid; });
  }
}

// A send that failed for good. It may or may not have been stored, so its stream may now have
// a hole that refuses every later send of that id: remember where, retire the id if it is the
// current one, and take a new one for sends not stamped yet.
void fail(self_ptr self, producer_state::pending& p, const caf::error& err) {
  auto& st = self->state;
  p.deliver(err);
  if (p.msg.producer_id != 0) {
    auto key = std::make_tuple(p.msg.producer_id, p.msg.topic, p.msg.queue_id);
    auto [it, fresh] = st.failed_at.try_emplace(key, p.msg.sequence, err);
    if (!fresh && p.msg.sequence < it->second.first)
      it->second = {p.msg.sequence, err};
  }
  release(self, p);
  if (p.msg.producer_id != 0 && p.msg.producer_id == st.producer_id) {
    st.producer_id = 0;
    st.next_sequence.clear();
    if (st.broker && !st.hello_pending)
      send_hello(self);
  }
}

// A gap after a send of the same stream failed for good is permanent for this id: such a send
// fails with the earlier send's error, which is why it cannot be stored.
const caf::error* behind_hole(producer_state& st, const message& m) {
  auto it = st.failed_at.find(std::make_tuple(m.producer_id, m.topic, m.queue_id));
  if (it == st.failed_at.end() || it->second.first >= m.sequence)
    return nullptr;
  return &it->second.second;
}

void on_failure(self_ptr self, std::vector<producer_state::pending>& batch,
                const caf::error& err) {
  auto& st = self->state;
  auto now = clock_type::now();
  bool requeued = false;
  bool gap = is(err, broker_errc::out_of_sequence);
  for (auto& p : batch) {
    if (auto hole = gap ? behind_hole(st, p.msg) : nullptr) {
      auto why = *hole;
      fail(self, p, why);
    } else if (gap && now < p.deadline) {
      // Nothing of the batch was stored: an earlier send of a stream is still on its way (it
      // goes first, sends are dispatched in order). Never re-stamped: a member that was stored
      // under its id before (a lost reply) would be stored again under a new one.
      st.queue.push_back(std::move(p));
    } else if (retriable(err) && !gap && p.attempts < p.max_retries && now < p.deadline) {
      ++p.attempts;
      st.queue.push_back(std::move(p));
      requeued = true;
    } else {
      fail(self, p, err);
    }
  }
  if (gap)
    post_tick(self); // give the earlier send a moment instead of bouncing at once
  else if (requeued)
    post_drain(self);
}

void send_hello(self_ptr self) {
  auto& st = self->state;
  st.hello_pending = true;
  hello_req hello{st.opts.client_id, st.opts.auth_token, {}, false};
  // Claim the ids that sends are still stamped with (current first), so their retries on this
  // connection are recognised; the broker gives a fresh id when the first claim fails.
  if (st.producer_id != 0 && st.secrets.count(st.producer_id)) {
    hello.claims.push_back(producer_claim{st.producer_id, st.secrets[st.producer_id]});
    hello.resume = true;
  }
  for (auto& [pid, n] : st.stamped)
    if (pid != st.producer_id && st.secrets.count(pid))
      hello.claims.push_back(producer_claim{pid, st.secrets[pid]});
  self->request(st.broker, std::chrono::seconds(10), hello)
    .then(
      [self](hello_reply& r) {
        auto& st = self->state;
        st.hello_pending = false;
        if (st.opts.idempotence) {
          if (r.producer_id == 0)
            log_warning("producer: the broker gave no producer id; sending without idempotence");
          // A new id starts new streams; sends stamped with an older id keep it.
          if (r.producer_id != st.producer_id) {
            st.producer_id = r.producer_id;
            st.next_sequence.clear();
          }
          if (r.producer_id != 0)
            st.secrets[r.producer_id] = r.producer_secret;
        }
        post_drain(self);
        st.hello = std::move(r);
      },
      [self](caf::error& e) {
        self->state.hello_pending = false;
        log_warning("producer: hello failed: {}", describe(e));
        post_drain(self);
      });
}

void adopt_broker(self_ptr self, client_door_actor broker) {
  auto& st = self->state;
  st.broker = std::move(broker);
  self->monitor(st.broker);
  send_hello(self);
}

// A failed connection attempt counts as one attempt of every send waiting for it: with the
// broker gone, sends fail after their retries (about retry_times x 200 ms) instead of each
// waiting out its whole sendMsgTimeout.
void count_failed_attempt(self_ptr self, const caf::error& err) {
  auto& st = self->state;
  std::vector<producer_state::pending> keep;
  auto queue = std::move(st.queue);
  st.queue.clear();
  for (auto& p : queue) {
    if (++p.attempts > p.max_retries)
      fail(self, p, err);
    else
      keep.push_back(std::move(p));
  }
  st.queue = std::move(keep);
}

void reconnect(self_ptr self) {
  auto& st = self->state;
  if (st.connecting || st.opts.broker_address.empty())
    return;
  st.connecting = true;
  connect_async<client_door_actor>(
    self, st.opts.broker_address,
    [self](client_door_actor door) {
      auto& st = self->state;
      st.connecting = false;
      log_info("producer: reconnected to {}", st.opts.broker_address);
      adopt_broker(self, std::move(door));
      post_drain(self);
    },
    [self](caf::error err) {
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
  if (st.opts.request_timeout.count() > 0)
    budget = std::min(budget, st.opts.request_timeout);
  if (budget.count() < 1)
    budget = std::chrono::milliseconds{1};
  append_req req;
  // The broker answers within it, with a status where it has one (FLUSH_DISK_TIMEOUT,
  // FLUSH_SLAVE_TIMEOUT) rather than letting this request time out.
  req.budget_ms = static_cast<uint32_t>(std::min<int64_t>(budget.count(), UINT32_MAX));
  req.msgs.reserve(batch.size());
  for (auto& p : batch)
    req.msgs.push_back(p.msg);
  ++st.batches;
  auto shared = std::make_shared<std::vector<producer_state::pending>>(std::move(batch));
  self->request(st.broker, caf::duration{budget}, std::move(req))
    .then(
      [self, shared](append_reply& reply) {
        auto& b = *shared;
        for (size_t i = 0; i < b.size(); ++i) {
          if (i < reply.results.size())
            b[i].deliver(std::move(reply.results[i]));
          else
            b[i].deliver(make_error(broker_errc::storage_failure, "short reply"));
          release(self, b[i]);
        }
      },
      [self, shared](caf::error& err) { on_failure(self, *shared, err); });
}

// What the broker would refuse, refused here: one bad message must not fail the batch it
// would travel in, nor leave a hole in an idempotent stream. Empty when the message is fine.
std::string precheck(producer_state& st, message& msg) {
  if (msg.msg_id.empty())
    msg.msg_id = st.id_prefix + std::to_string(++st.id_counter);
  msg.producer_id = 0; // stamped at dispatch, by this producer only
  if (!valid_topic_name(msg.topic))
    return "topic name must match [A-Za-z0-9_%-]{1,127}";
  if (msg.queue_id < -1)
    return "queue id out of range";
  if (msg.msg_id.size() > 128)
    return "message id longer than 128 bytes";
  if (st.hello.max_message_size > 0 && msg.body.size() > st.hello.max_message_size)
    return "message body exceeds maxMessageSize (" + std::to_string(st.hello.max_message_size)
           + ")";
  return {};
}

void push(self_ptr self, producer_state::pending p, int retries) {
  auto& st = self->state;
  p.max_retries = std::max(0, retries);
  p.deadline = clock_type::now() + st.opts.send_timeout;
  p.order = ++st.arrivals;
  st.queue.push_back(std::move(p));
  post_drain(self);
}

caf::typed_response_promise<send_result> enqueue(self_ptr self, message msg, int retries) {
  auto rp = self->make_response_promise<send_result>();
  if (auto bad = precheck(self->state, msg); !bad.empty()) {
    rp.deliver(make_error(broker_errc::invalid_message, bad));
    return rp;
  }
  producer_state::pending p;
  p.msg = std::move(msg);
  p.rp = rp;
  push(self, std::move(p), retries);
  return rp;
}

caf::typed_response_promise<append_reply> enqueue_batch(self_ptr self, batch_send_req req) {
  auto answer = std::make_shared<producer_state::batch_answer>();
  answer->rp = self->make_response_promise<append_reply>();
  auto rp = answer->rp;
  if (req.msgs.empty()) {
    rp.deliver(make_error(broker_errc::invalid_message, "empty batch"));
    return rp;
  }
  uint64_t total = 0;
  for (auto& m : req.msgs) {
    if (auto bad = precheck(self->state, m); !bad.empty()) {
      rp.deliver(make_error(broker_errc::invalid_message, bad + " (in a batch: nothing stored)"));
      return rp;
    }
    total += m.body.size() + m.topic.size() + m.msg_id.size() + 64; // 64: its framing
    for (auto& [k, v] : m.properties)
      total += k.size() + v.size();
  }
  // A batch travels in one frame, and the broker's door takes frames up to 4 x maxMessageSize
  // (+ 1 MiB of framing): a larger one would cost the connection.
  if (auto max = self->state.hello.max_message_size; max > 0 && total > 4 * max) {
    rp.deliver(make_error(broker_errc::invalid_message,
                          "a batch carries at most 4 x maxMessageSize (" + std::to_string(4 * max)
                            + ") bytes; this one " + std::to_string(total)
                            + " (nothing stored)"));
    return rp;
  }
  answer->results.resize(req.msgs.size());
  answer->remaining = req.msgs.size();
  // Consecutive arrival numbers keep the members together in the queue, and drain never
  // splits them across requests: one append stores all or none.
  for (size_t i = 0; i < req.msgs.size(); ++i) {
    producer_state::pending p;
    p.msg = std::move(req.msgs[i]);
    p.batch = answer;
    p.batch_index = i;
    push(self, std::move(p), req.retries);
  }
  return rp;
}

} // namespace

void producer_state::pending::deliver(send_result r) {
  if (!batch) {
    rp.deliver(std::move(r));
    return;
  }
  batch->results[batch_index] = std::move(r);
  if (--batch->remaining == 0 && !batch->done) {
    batch->done = true;
    batch->rp.deliver(append_reply{std::move(batch->results)});
  }
}

void producer_state::pending::deliver(const caf::error& err) {
  if (!batch) {
    rp.deliver(err);
    return;
  }
  if (!batch->done) {
    batch->done = true;
    batch->rp.deliver(err);
  }
}

std::string make_msg_id_prefix() {
  std::random_device rd;
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%08X%04X%04X-", static_cast<unsigned>(::time(nullptr)),
                static_cast<unsigned>(::getpid() & 0xffff), static_cast<unsigned>(rd() & 0xffff));
  return buf;
}

producer_actor::behavior_type producer(self_ptr self, client_door_actor broker,
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
    [self](batch_send_req& req) -> caf::typed_response_promise<append_reply> {
      return enqueue_batch(self, std::move(req));
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
      if (st.hello_pending)
        return; // its reply drains: new sends need the producer id it carries
      auto queue = std::move(st.queue);
      st.queue.clear();
      // Retried sends rejoin in their original order, ahead of later ones of their stream.
      std::stable_sort(queue.begin(), queue.end(),
                       [](const auto& a, const auto& b) { return a.order < b.order; });
      if (st.opts.idempotence && st.producer_id != 0) {
        for (auto& p : queue) {
          if (p.msg.producer_id != 0)
            continue;
          p.msg.producer_id = st.producer_id;
          p.msg.sequence = st.next_sequence[{p.msg.topic, p.msg.queue_id}]++;
          ++st.stamped[st.producer_id];
        }
      }
      std::vector<producer_state::pending> batch;
      size_t bytes = 0;
      auto size_of = [](const message& m) {
        return m.body.size() + m.topic.size() + m.msg_id.size() + 64;
      };
      for (size_t i = 0; i < queue.size(); ++i) {
        auto& p = queue[i];
        auto sz = size_of(p.msg);
        if (p.batch && p.batch_index > 0)
          sz = 0; // counted with its first member: a batch send is never split
        else if (p.batch)
          for (size_t j = i + 1; j < queue.size() && queue[j].batch == p.batch; ++j)
            sz += size_of(queue[j].msg);
        if (!batch.empty() && sz > 0 && bytes + sz > st.opts.batch_max_bytes) {
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
      auto queue = std::move(st.queue);
      st.queue.clear();
      for (auto& p : queue) {
        if (p.deadline <= now)
          fail(self, p, caf::make_error(caf::sec::request_timeout,
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
