#include "actors/client_door.hpp"

#include "runtime/log.hpp"

namespace holdfast {

namespace {

using self_ptr = client_door_actor::stateful_pointer<client_door_state>;

// Relays one request to the partition and its answer back; the partition only ever sees the
// door as the sender.
//
// A remote client may have at most max_requests_per_client of them unanswered: CAF reads a
// connection as fast as it can and queues whatever arrives, so a peer that sends without
// waiting would otherwise grow the partition's and the offset service's mailboxes without end.
template <class Reply, class Req>
caf::result<Reply> forward(self_ptr self, Req req) {
  auto& st = self->state;
  std::optional<caf::node_id> remote;
  if (auto sender = self->current_sender(); sender && sender->node() != self->node()) {
    auto& n = st.outstanding[sender->node()];
    if (n >= st.opts.max_requests_per_client)
      return make_error(broker_errc::busy,
                        "more than maxRequestsPerClient (" + std::to_string(n)
                          + ") requests of this connection unanswered");
    ++n;
    remote = sender->node();
  }
  auto done = [self, remote] {
    if (!remote)
      return;
    auto& out = self->state.outstanding;
    if (auto i = out.find(*remote); i != out.end() && --i->second == 0)
      out.erase(i);
  };
  auto rp = self->make_response_promise<Reply>();
  self->request(st.partition, caf::infinite, std::move(req))
    .then(
      [rp, done](Reply& r) mutable {
        done();
        rp.deliver(std::move(r));
      },
      [rp, done](caf::error& e) mutable {
        done();
        rp.deliver(std::move(e));
      });
  return rp;
}

caf::error unauthorized() {
  return make_error(broker_errc::unauthorized, "this broker requires authToken in the hello");
}

// With an authToken, only this process and sessions that presented it may use the broker.
bool allowed(self_ptr self) {
  auto& st = self->state;
  if (st.opts.client_token.empty())
    return true;
  auto sender = self->current_sender();
  if (!sender)
    return false;
  if (sender->node() == self->node())
    return true;
  auto s = st.sessions.find(sender->node());
  return s != st.sessions.end() && s->second.authenticated;
}

void watch(self_ptr self, const caf::strong_actor_ptr& who) {
  self->monitor(who);
}

} // namespace

uint64_t producer_secret(const secret::key& key, uint64_t producer_id) {
  return secret::siphash(key, &producer_id, sizeof(producer_id));
}

client_door_actor::behavior_type client_door(self_ptr self, partition_actor partition,
                                             client_door_options opts) {
  self->state.partition = std::move(partition);
  self->state.opts = std::move(opts);
  self->set_down_handler([self](const caf::down_msg& dm) {
    auto& st = self->state;
    if (auto m = st.members.find(dm.source); m != st.members.end()) {
      for (auto& id : m->second)
        self->send(st.partition, member_gone{id});
      st.members.erase(m);
    }
    auto s = st.sessions.find(dm.source.node());
    if (s != st.sessions.end() && s->second.anchors.erase(dm.source) > 0
        && s->second.anchors.empty()) {
      log_info("client disconnected: {} (its session ended: {})", caf::to_string(dm.source.node()),
               dm.reason ? caf::to_string(dm.reason) : std::string("normal"));
      st.sessions.erase(s);
    }
  });
  return {
    [self](hello_req& req) -> caf::result<hello_reply> {
      auto& st = self->state;
      auto sender = self->current_sender();
      if (!sender)
        return make_error(broker_errc::unauthorized, "a hello needs a sender");
      if (!st.opts.client_token.empty()
          && !secret::equal(req.token, st.opts.client_token)) {
        log_warning("refused client '{}': wrong authToken", req.client_id.substr(0, 64));
        return unauthorized();
      }
      auto& session = st.sessions[sender->node()];
      session.authenticated = true;
      auto addr = caf::actor_cast<caf::actor_addr>(sender);
      if (session.anchors.insert(addr).second)
        watch(self, sender);
      log_info("client connected: {} as '{}'", caf::to_string(sender),
               req.client_id.substr(0, 128));
      hello_reply r;
      r.broker_name = st.opts.broker_name;
      r.broker_role = st.opts.broker_role;
      r.flush_disk_type = st.opts.sync_flush ? "SYNC_FLUSH" : "ASYNC_FLUSH";
      r.sync_flush_timeout_ms = st.opts.sync_flush_timeout_ms;
      r.max_message_size = st.opts.max_message_size;
      r.queue_nums = st.opts.queue_nums;
      // Claims: ids this producer was given before, proven by their tags. A claim that fails
      // is ignored (a broker with another key, a forged tag); nothing says why.
      bool first_ok = false;
      for (size_t i = 0; i < req.claims.size() && i < 64; ++i) {
        auto& c = req.claims[i];
        if (c.producer_id == 0
            || c.secret != producer_secret(st.opts.producer_key, c.producer_id))
          continue;
        for (auto& [node, other] : st.sessions)
          other.producer_ids.erase(c.producer_id);
        session.producer_ids.insert(c.producer_id);
        first_ok = first_ok || i == 0;
      }
      if (first_ok && req.resume) {
        r.producer_id = req.claims[0].producer_id;
        r.producer_secret = req.claims[0].secret;
        r.epoch = r.producer_id >> 32;
        return r;
      }
      auto rp = self->make_response_promise<hello_reply>();
      auto node = sender->node();
      self->request(st.partition, caf::infinite, new_producer_atom::value)
        .then(
          [self, rp, r, node](uint64_t id) mutable {
            auto& st = self->state;
            if (id != 0) {
              // The session may have ended meanwhile: then the id stays unbound.
              if (auto s = st.sessions.find(node); s != st.sessions.end())
                s->second.producer_ids.insert(id);
              r.producer_id = id;
              r.producer_secret = producer_secret(st.opts.producer_key, id);
              r.epoch = id >> 32;
            }
            rp.deliver(std::move(r));
          },
          [rp](caf::error& e) mutable { rp.deliver(std::move(e)); });
      return rp;
    },
    [self](append_req& req) -> caf::result<append_reply> {
      auto& st = self->state;
      if (!allowed(self))
        return unauthorized();
      auto sender = self->current_sender();
      const client_session* session = nullptr;
      if (sender)
        if (auto s = st.sessions.find(sender->node()); s != st.sessions.end())
          session = &s->second;
      for (auto& m : req.msgs)
        if (m.producer_id != 0
            && (session == nullptr || session->producer_ids.count(m.producer_id) == 0))
          return make_error(broker_errc::unknown_producer,
                            "producer id not valid on this connection: claim it in a hello");
      return forward<append_reply>(self, std::move(req));
    },
    [self](pull_req& req) -> caf::result<pull_reply> {
      if (!allowed(self))
        return unauthorized();
      // The partition bounds long polls per client: name the client, whatever the peer said.
      req.client = 0;
      if (auto sender = self->current_sender(); sender && sender->node() != self->node())
        req.client = std::hash<std::string>{}(caf::to_string(sender->node())) | 1;
      return forward<pull_reply>(self, std::move(req));
    },
    [self](commit_offset_req& req) -> caf::result<bool> {
      if (!allowed(self))
        return unauthorized();
      return forward<bool>(self, std::move(req));
    },
    [self](fetch_offset_req& req) -> caf::result<fetch_offset_reply> {
      if (!allowed(self))
        return unauthorized();
      return forward<fetch_offset_reply>(self, std::move(req));
    },
    [self](group_heartbeat_req& req) -> caf::result<group_heartbeat_reply> {
      if (!allowed(self))
        return unauthorized();
      auto sender = self->current_sender();
      if (sender && !req.leave && req.consumer_id.size() <= 256) {
        auto [it, fresh] = self->state.members.try_emplace(caf::actor_cast<caf::actor_addr>(sender));
        if (fresh)
          watch(self, sender);
        it->second.insert(req.consumer_id);
      }
      return forward<group_heartbeat_reply>(self, std::move(req));
    },
    [self](topic_route_req& req) -> caf::result<int32_t> {
      if (!allowed(self))
        return unauthorized();
      return forward<int32_t>(self, std::move(req));
    },
    [self](update_topic_req& req) -> caf::result<int32_t> {
      if (!allowed(self))
        return unauthorized();
      return forward<int32_t>(self, std::move(req));
    },
    [self](status_atom) -> caf::result<partition_status> {
      if (!allowed(self))
        return unauthorized();
      return forward<partition_status>(self, status_atom::value);
    },
  };
}

} // namespace holdfast
