#include "actors/replication_door.hpp"

#include "runtime/log.hpp"

namespace holdfast {

namespace {

using self_ptr = replication_door_actor::stateful_pointer<replication_door_state>;

// The slave the sender authenticated as, or null.
const std::string* link_of(self_ptr self) {
  auto sender = self->current_sender();
  if (!sender)
    return nullptr;
  auto it = self->state.links.find(caf::actor_cast<caf::actor_addr>(sender));
  return it == self->state.links.end() ? nullptr : &it->second;
}

caf::error no_session() {
  return make_error(broker_errc::unauthorized, "replication needs an ha_hello on this connection");
}

} // namespace

replication_door_actor::behavior_type replication_door(self_ptr self, partition_actor partition,
                                                       replication_door_options opts) {
  self->state.partition = std::move(partition);
  self->state.opts = std::move(opts);
  self->set_down_handler([self](const caf::down_msg& dm) {
    auto& st = self->state;
    auto it = st.links.find(dm.source);
    if (it == st.links.end())
      return;
    auto id = it->second;
    st.links.erase(it);
    for (auto& [addr, other] : st.links)
      if (other == id)
        return; // the same slave reconnected on another link
    self->send(st.partition, slave_gone{id});
  });
  return {
    [self](ha_hello_req& req) -> caf::result<ha_hello_reply> {
      auto& st = self->state;
      auto sender = self->current_sender();
      auto who = req.slave_id.substr(0, 64);
      if (!sender)
        return make_error(broker_errc::unauthorized, "an ha_hello needs a sender");
      if (st.opts.slave)
        return make_error(broker_errc::not_master, "this broker is a SLAVE");
      if (st.opts.token.empty()) {
        log_warning("replication: refused slave '{}': this master has no haAuthToken, so "
                    "replication is off",
                    who);
        return make_error(broker_errc::unauthorized,
                          "the master has no haAuthToken: set haAuthToken on master and slave");
      }
      if (!secret::equal(req.token, st.opts.token)) {
        log_warning("replication: refused slave '{}': wrong haAuthToken", who);
        return make_error(broker_errc::unauthorized, "wrong haAuthToken");
      }
      if (req.broker_name != st.opts.broker_name) {
        // A slave of another broker set (a stale address, a reused port) must never copy or
        // truncate to this log.
        log_warning("replication: refused slave '{}' of broker '{}': this is broker '{}'", who,
                    req.broker_name.substr(0, 64), st.opts.broker_name);
        return make_error(broker_errc::unauthorized,
                          "this master is broker '" + st.opts.broker_name + "'");
      }
      if (req.slave_id.empty() || req.slave_id.size() > 256)
        return make_error(broker_errc::invalid_message, "slave id must have 1 to 256 bytes");
      auto addr = caf::actor_cast<caf::actor_addr>(sender);
      if (st.links.emplace(addr, req.slave_id).second)
        self->monitor(sender);
      else
        st.links[addr] = req.slave_id;
      log_info("replication: slave '{}' authenticated from {}", who, caf::to_string(sender));
      ha_hello_reply r;
      r.broker_name = st.opts.broker_name;
      r.epoch = st.opts.epoch;
      r.producer_key.assign(st.opts.producer_key.begin(), st.opts.producer_key.end());
      return r;
    },
    [self](ha_fetch_req& req) -> caf::result<ha_fetch_reply> {
      auto id = link_of(self);
      if (!id)
        return no_session();
      auto rp = self->make_response_promise<ha_fetch_reply>();
      self->request(self->state.partition, caf::infinite, slave_fetch{*id, std::move(req)})
        .then([rp](ha_fetch_reply& r) mutable { rp.deliver(std::move(r)); },
              [rp](caf::error& e) mutable { rp.deliver(std::move(e)); });
      return rp;
    },
    [self](ha_ack& a) {
      auto id = link_of(self);
      if (!id) {
        log_warning("replication: ignored an acknowledgement from an unauthenticated peer");
        return;
      }
      self->send(self->state.partition, slave_ack{*id, a.acked});
    },
    [self](ha_offsets_req& req) -> caf::result<ha_offsets_reply> {
      if (!link_of(self))
        return no_session();
      auto rp = self->make_response_promise<ha_offsets_reply>();
      self->request(self->state.partition, caf::infinite, req)
        .then([rp](ha_offsets_reply& r) mutable { rp.deliver(std::move(r)); },
              [rp](caf::error& e) mutable { rp.deliver(std::move(e)); });
      return rp;
    },
  };
}

} // namespace holdfast
