// Forges BASP messages into a recorded real client session: the helper of doors_test.cpp.
//
//   door_prober attack SESSION PORT DOOR_PORT...
//     Replays SESSION's handshake without its hello, then sends every message type a broker
//     handles (both doors' requests, the internal actors' messages, the atoms, CAF's system
//     messages), as requests and as asynchronous messages of each mailbox category, to the
//     door published at each DOOR_PORT (its id read from the server handshake), to every actor
//     id from 1 to 128, to CAF's named actors and to the broker's actors that sent the
//     connection a message (learnt live): one connection per
//     forged frame, each closed by a request to the door of PORT, whose answer tells that the
//     frames before it were read. Prints what came back; a line starting with VALUE is an answer
//     that is not an error (a forged request that was served).
//   door_prober control SESSION PORT append TOPIC | status | fetch-offset GROUP TOPIC | ha-offsets
//     The positive control: the same codec with the recorded hello KEPT; prints the answer.
//
// SESSION holds the bytes one real client sent (tests/e2e/recording_proxy.hpp). Its node id
// is replayed as recorded, so the broker sees the same peer each time.

#include "basp_frames.hpp"
#include "recording_proxy.hpp"

#include "actors/flush_service.hpp"
#include "actors/partition.hpp"
#include "actors/wire/client_wire.hpp"
#include "actors/wire/replication_wire.hpp"
#include "actors/wire/type_registry.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using namespace holdfast;
namespace basp = holdfast::e2e::basp;
using clock_type = std::chrono::steady_clock;

namespace {

// The broker never registers these (a peer cannot even name them); the prober does, locally,
// so that it can encode them.
void register_internal_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<slave_fetch>("holdfast::slave_fetch");
  cfg.add_message_type<slave_ack>("holdfast::slave_ack");
  cfg.add_message_type<slave_gone>("holdfast::slave_gone");
  cfg.add_message_type<member_gone>("holdfast::member_gone");
  cfg.add_message_type<ha_append_req>("holdfast::ha_append_req");
  cfg.add_message_type<ha_truncate_req>("holdfast::ha_truncate_req");
  cfg.add_message_type<ha_position>("holdfast::ha_position");
  cfg.add_message_type<adopt_producer_key>("holdfast::adopt_producer_key");
  cfg.add_message_type<flush_req>("holdfast::flush_req");
  cfg.add_message_type<flush_ack>("holdfast::flush_ack");
}

struct forged {
  std::string name;
  caf::message msg;
};

// Every message type a broker's actors handle. Values are chosen to do harm if they were
// obeyed: an append to a new topic, a commit back to 0, a truncation to 0, acks far ahead.
std::vector<forged> catalog() {
  std::vector<forged> out;
  auto add = [&](std::string name, caf::message m) {
    out.push_back({std::move(name), std::move(m)});
  };
  holdfast::message m;
  m.topic = "forged";
  m.msg_id = "forged-1";
  m.body = {'f'};
  // The client door's requests.
  add("hello_req", caf::make_message(hello_req{"forger", "wrong-token", {{1, 1}}, true}));
  add("append_req", caf::make_message(append_req{{m}, 0}));
  add("pull_req", caf::make_message(pull_req{"legit", 0, 0, 32, 0}));
  add("commit_offset_req", caf::make_message(commit_offset_req{"g", "legit", 0, 0}));
  add("fetch_offset_req", caf::make_message(fetch_offset_req{"g", "legit", 0}));
  add("group_heartbeat_req",
      caf::make_message(group_heartbeat_req{"g", "legit", "forger", {0, 1, 2, 3}, 60000, false}));
  add("topic_route_req", caf::make_message(topic_route_req{"forged-route"}));
  add("update_topic_req", caf::make_message(update_topic_req{"forged-admin", 8}));
  add("status_atom", caf::make_message(status_atom::value));
  // The replication door's.
  add("ha_hello_req", caf::make_message(ha_hello_req{"wrong-token", "any", "forger"}));
  add("ha_fetch_req", caf::make_message(ha_fetch_req{0, uint64_t{1} << 40, 0, 0, 1024, 0}));
  add("ha_ack", caf::make_message(ha_ack{uint64_t{1} << 40}));
  add("ha_offsets_req", caf::make_message(ha_offsets_req{}));
  // The partition's internal messages.
  add("new_producer_atom", caf::make_message(new_producer_atom::value));
  add("member_gone", caf::make_message(member_gone{"forger"}));
  add("slave_fetch",
      caf::make_message(slave_fetch{"forger", ha_fetch_req{0, uint64_t{1} << 40, 0, 0, 1024, 0}}));
  add("slave_ack", caf::make_message(slave_ack{"forger", uint64_t{1} << 40}));
  add("slave_gone", caf::make_message(slave_gone{"forger"}));
  add("ha_append_req", caf::make_message(ha_append_req{0, std::vector<char>(64, 'x'), false, {}}));
  add("ha_truncate_req", caf::make_message(ha_truncate_req{0, false}));
  add("ha_truncate_req_last_term", caf::make_message(ha_truncate_req{0, true}));
  add("ha_position_atom", caf::make_message(ha_position_atom::value));
  add("ha_offsets_reply",
      caf::make_message(ha_offsets_reply{{group_offset{"g", "legit", 0, 0}}}));
  add("adopt_producer_key", caf::make_message(adopt_producer_key{std::vector<char>(16, 'k')}));
  add("ha_port_atom", caf::make_message(ha_port_atom::value, uint16_t{1}));
  add("shutdown_atom", caf::make_message(shutdown_atom::value));
  add("checkpoint_atom", caf::make_message(checkpoint_atom::value));
  add("tick_atom", caf::make_message(tick_atom::value));
  add("drain_atom", caf::make_message(drain_atom::value));
  // The flush service's.
  add("flush_req", caf::make_message(flush_req{uint64_t{1} << 40}));
  // CAF's system messages, which every actor handles, and the named actors' requests.
  add("exit_msg_kill", caf::make_message(caf::exit_msg{caf::actor_addr{}, caf::exit_reason::kill}));
  add("exit_msg_shutdown",
      caf::make_message(caf::exit_msg{caf::actor_addr{}, caf::exit_reason::user_shutdown}));
  add("down_msg", caf::make_message(caf::down_msg{caf::actor_addr{}, caf::exit_reason::kill}));
  add("error", caf::make_message(caf::make_error(caf::sec::runtime_error)));
  add("config_put", caf::make_message(caf::put_atom::value, std::string("middleman.app-identifiers"),
                                      caf::make_message(std::string("x"))));
  add("spawn", caf::make_message(caf::spawn_atom::value, std::string("holdfast.partition"),
                                 caf::make_message(), std::set<std::string>{}));
  add("sys_get_info", caf::make_message(caf::sys_atom::value, caf::get_atom::value,
                                        std::string("info")));
  return out;
}

// ---- sockets ----------------------------------------------------------------------------------

int connect_to(uint16_t port) {
  int fd = holdfast::e2e::connect_loopback(port);
  if (fd < 0)
    return -1;
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

// Reads what is there within `timeout`; false on EOF or error.
bool read_some(int fd, std::string& into, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0)
    return true;
  char buf[65536];
  auto n = ::read(fd, buf, sizeof(buf));
  if (n <= 0)
    return false;
  into.append(buf, static_cast<size_t>(n));
  return true;
}

/// One connection: what the broker sent back, and whether it closed the connection.
struct exchange_result {
  bool connected = false;
  bool handshake = false; ///< the server handshake arrived
  uint64_t door = 0;      ///< the actor its handshake announced
  bool closed = false;
  std::set<uint64_t> introduced;    ///< the broker's actors that sent this peer a message
  std::vector<basp::frame> answers; ///< responses to `reply_to`
};

/// Connects, waits for the server handshake, sends `prefix` (handshake frames, maybe a
/// hello) and what `body(door, introduced)` returns, and reads until the broker closed the
/// connection, or answered every request id in `awaited` sent to `reply_to`, or `timeout`
/// passed. With `learn`, it first waits (up to 300 ms) for the broker to send this peer a message
/// (CAF asks every new peer's spawn server for its info) and hands the senders' ids to `body`.
template <class Body>
exchange_result exchange(caf::actor_system& sys, uint16_t port, const std::string& prefix,
                         Body body, uint64_t reply_to, std::set<uint64_t> awaited,
                         std::chrono::milliseconds timeout, bool learn = false) {
  exchange_result r;
  int fd = connect_to(port);
  if (fd < 0)
    return r;
  r.connected = true;
  std::string in;
  auto until = clock_type::now() + std::chrono::seconds(5);
  std::vector<basp::frame> frames;
  while (frames.empty() && clock_type::now() < until) {
    if (!read_some(fd, in, std::chrono::milliseconds(100))) {
      r.closed = true;
      ::close(fd);
      return r;
    }
    frames = basp::split(in, &in);
  }
  if (frames.empty() || !frames[0].is(basp::op::server_handshake)
      || !basp::handshake_actor(sys, frames[0].payload, r.door)) {
    ::close(fd);
    return r;
  }
  r.handshake = true;
  auto send = [&](const std::string& out) {
    return ::write(fd, out.data(), out.size()) == static_cast<ssize_t>(out.size());
  };
  std::string out = prefix;
  if (learn) {
    if (!send(out)) {
      r.closed = true;
      ::close(fd);
      return r;
    }
    out.clear();
    until = clock_type::now() + std::chrono::milliseconds(300);
    while (r.introduced.empty() && clock_type::now() < until) {
      if (!read_some(fd, in, std::chrono::milliseconds(20)))
        break;
      std::string rest;
      for (auto& f : basp::split(in, &rest))
        if (f.is(basp::op::direct_message) && f.source_actor != 0)
          r.introduced.insert(f.source_actor);
    }
  }
  out += body(r.door, r.introduced);
  if (!send(out)) {
    r.closed = true;
    ::close(fd);
    return r;
  }
  until = clock_type::now() + timeout;
  while (!awaited.empty() && clock_type::now() < until) {
    if (!read_some(fd, in, std::chrono::milliseconds(20))) {
      r.closed = true;
      break;
    }
    for (auto& f : basp::split(in, &in)) {
      if (!f.is(basp::op::direct_message) || !f.is_response() || f.dest_actor != reply_to)
        continue;
      awaited.erase(f.operation_data & basp::request_id_mask);
      r.answers.push_back(std::move(f));
    }
  }
  ::close(fd);
  return r;
}

/// A recorded client session: its handshake frames, its hello and the actor that said it.
struct recorded {
  std::string handshake;
  std::string hello;
  uint64_t sender = 0;
  bool replication = false; ///< a slave link's session (ha_hello_req), not a client's
};

recorded read_session(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  recorded r;
  for (auto& f : basp::split(ss.str())) {
    if (f.is(basp::op::client_handshake)) {
      r.handshake += f.bytes();
    } else if (f.is(basp::op::direct_message) && r.hello.empty()
               && (f.payload.find("holdfast::hello_req") != std::string::npos
                   || f.payload.find("holdfast::ha_hello_req") != std::string::npos)) {
      r.hello = f.bytes();
      r.sender = f.source_actor;
      r.replication = f.payload.find("holdfast::ha_hello_req") != std::string::npos;
    }
  }
  if (r.handshake.empty() || r.hello.empty())
    throw std::runtime_error(path + ": no client handshake or no hello in the recorded session");
  return r;
}

std::string describe_answer(caf::actor_system& sys, const basp::frame& f, bool& is_error) {
  caf::message msg;
  is_error = false;
  if (!basp::decode_message(sys, f.payload, msg))
    return "undecodable answer";
  if (msg.match_elements<caf::error>()) {
    is_error = true;
    return sys.render(msg.get_as<caf::error>(0));
  }
  return caf::to_string(msg);
}

// CAF's own messages, which its actors act on before their behaviour sees them.
bool is_system(const caf::message& m) {
  return m.match_elements<caf::exit_msg>() || m.match_elements<caf::down_msg>()
         || m.match_elements<caf::error>();
}

// A sentinel after the forged frame: the door of the port answers it with `unauthorized`, as
// the connection has no session, so that answer means every earlier frame was read and the
// door still lives (a dead door's id is answered by CAF with another error).
constexpr uint64_t sentinel_request = 999;

int attack(caf::actor_system& sys, const recorded& session, uint16_t port,
           const std::vector<uint64_t>& doors) {
  auto types = catalog();
  std::vector<std::pair<std::string, std::string>> payloads;
  for (auto& t : types)
    payloads.emplace_back(t.name, basp::message_payload(sys, t.msg));
  auto sentinel_payload = basp::message_payload(
    sys, session.replication ? caf::make_message(ha_fetch_req{}) : caf::make_message(status_atom::value));
  struct destination {
    uint64_t id;
    bool named;
    std::string label;
  };
  std::vector<destination> dests;
  std::set<uint64_t> ids(doors.begin(), doors.end());
  for (uint64_t id = 1; id <= 128; ++id)
    ids.insert(id);
  for (auto id : ids)
    dests.push_back({id, false, std::to_string(id)});
  for (const char* name : {"SpawnServ", "ConfigServ", "StreamServ", "MiddleMan", "BASP",
                           "holdfast", "partition", "door"})
    dests.push_back({basp::name_id(name), true, name});

  struct variant {
    const char* label;
    bool request;
    uint64_t category;
  };
  // Requests and asynchronous messages, in each of caf::message_id's mailbox categories
  // (CAF files the stream categories in queues that expect stream messages).
  const variant variants[] = {{"request", true, basp::normal_category},
                              {"async", false, basp::normal_category},
                              {"urgent request", true, basp::urgent_category},
                              {"upstream", false, basp::upstream_category},
                              {"downstream", false, basp::downstream_category}};
  uint64_t frames = 0, connections = 0, closed = 0, answered = 0, voids = 0, values = 0,
           lost = 0;
  // One connection per forged frame where the frame can pass the guard (a door, CAF's spawn
  // server). Elsewhere the guard refuses on the header alone (destination, flags, message id),
  // which is the same for every type, and closes the connection at the first such frame:
  // there all types travel on one connection per destination and kind, starting at another
  // type each time, so every type leads on some connection.
  auto passes_guard = [&](const destination& d) {
    return d.named ? d.id == basp::name_id("SpawnServ")
                   : std::find(doors.begin(), doors.end(), d.id) != doors.end();
  };
  // The broker's actors that sent this peer a message may get its asynchronous messages (the
  // guard admits CAF's info exchange). CAF sends one, a helper asking the peer's spawn server
  // for its info, on a node's first connection only: the first connection of the sweep
  // learns it and sends it every type, asynchronously in the normal and urgent categories,
  // CAF's system messages last (the guard closes the connection at the first of them).
  {
    size_t sent = 0;
    std::vector<std::pair<uint64_t, size_t>> order; // (category, type)
    for (int system = 0; system < 2; ++system)
      for (auto category : {basp::normal_category, basp::urgent_category})
        for (size_t i = 0; i < types.size(); ++i)
          if (is_system(types[i].msg) == (system == 1))
            order.emplace_back(category, i);
    auto body = [&](uint64_t door, const std::set<uint64_t>& introduced) {
      std::string out;
      for (auto [category, i] : order)
        for (auto id : introduced) {
          if (std::find(doors.begin(), doors.end(), id) != doors.end())
            continue;
          out += basp::direct_message(session.sender, id, basp::message_id(0, category),
                                      payloads[i].second)
                   .bytes();
          ++sent;
        }
      return out + basp::direct_message(session.sender, door, basp::message_id(sentinel_request),
                                        sentinel_payload)
                     .bytes();
    };
    auto r = exchange(sys, port, session.handshake, body, session.sender, {sentinel_request},
                      std::chrono::milliseconds(3000), true);
    ++connections;
    frames += sent;
    bool sentinel_ok = false;
    for (auto& a : r.answers) {
      bool is_error = false;
      auto what = describe_answer(sys, a, is_error);
      sentinel_ok = sentinel_ok
                    || ((a.operation_data & basp::request_id_mask) == sentinel_request
                        && is_error && what.find("unauthorized") != std::string::npos);
    }
    std::printf("introduced %zu actors, %zu frames to them%s\n", r.introduced.size(), sent,
                r.closed && !sentinel_ok ? ", closed by the broker" : "");
    if (!sentinel_ok && !r.closed) {
      std::printf("LOST the frames to the actors that spoke to this peer: no sentinel answer\n");
      ++lost;
    }
  }
  size_t rotation = 0;
  for (auto& d : dests) {
    for (auto& v : variants) {
      std::vector<std::vector<size_t>> groups;
      if (passes_guard(d)) {
        for (size_t i = 0; i < payloads.size(); ++i)
          groups.push_back({i});
      } else {
        groups.emplace_back();
        for (size_t i = 0; i < payloads.size(); ++i)
          groups.back().push_back((i + rotation) % payloads.size());
        ++rotation;
      }
      for (auto& group : groups) {
        auto name = payloads[group.front()].first;
        if (group.size() > 1)
          name += " and " + std::to_string(group.size() - 1) + " more";
        size_t sent = 0;
        auto body = [&](uint64_t door, const std::set<uint64_t>&) {
          std::string out;
          uint64_t request = 1;
          std::vector<uint64_t> to{d.id};
          for (auto i : group)
            for (auto id : to) {
              out += basp::direct_message(session.sender, id,
                                          basp::message_id(v.request ? request++ : 0,
                                                           v.category),
                                          payloads[i].second, d.named)
                       .bytes();
              ++sent;
            }
          out += basp::direct_message(session.sender, door, basp::message_id(sentinel_request),
                                      sentinel_payload)
                   .bytes();
          return out;
        };
        std::set<uint64_t> awaited{sentinel_request};
        if (v.request)
          for (uint64_t r = 1; r <= group.size(); ++r)
            awaited.insert(r);
        auto r = exchange(sys, port, session.handshake, body, session.sender, awaited,
                          std::chrono::milliseconds(3000));
        ++connections;
        frames += sent;

        if (!r.connected || !r.handshake) {
          std::printf("LOST %s to %s as %s: %s\n", name.c_str(), d.label.c_str(), v.label,
                      r.connected ? "no server handshake" : "cannot connect");
          ++lost;
          continue;
        }
        bool sentinel_seen = false;
        for (auto& a : r.answers) {
          bool is_error = false;
          auto what = describe_answer(sys, a, is_error);
          auto req = a.operation_data & basp::request_id_mask;
          if (req == sentinel_request) {
            sentinel_seen = true;
            if (is_error && what.find("unauthorized") == std::string::npos) {
              std::printf("DEAD door after %s to %s as %s: %s\n", name.c_str(),
                          d.label.c_str(), v.label, what.c_str());
              ++lost;
            }
            if (!is_error) {
              std::printf("VALUE sentinel after %s to %s as %s: %s\n", name.c_str(),
                          d.label.c_str(), v.label, what.c_str());
              ++values;
            }
            continue;
          }
          ++answered;
          auto type = req >= 1 && req <= group.size() ? payloads[group[req - 1]].first : name;
          auto names = basp::type_names(a.payload);
          if (!is_error && names == "@<>") {
            // A handler without a result (ha_ack) answers a request with nothing, whether it
            // acted or not: the broker's state, checked by the test, tells.
            ++voids;
            std::printf("empty answer to %s to %s as %s\n", type.c_str(), d.label.c_str(),
                        v.label);
            continue;
          }
          if (!is_error && names == "@<>+@atom+@str+@strong_actor_ptr+@str"
              && type == "sys_get_info") {
            // CAF's own answer of every actor to ('sys', 'get', "info"): its address and name.
            ++voids;
            std::printf("info answer to %s to %s as %s\n", type.c_str(), d.label.c_str(),
                        v.label);
            continue;
          }
          if (!is_error) {
            ++values;
            std::printf("VALUE %s to %s as %s: %s\n", type.c_str(), d.label.c_str(), v.label,
                        what.c_str());
          } else if (std::getenv("DOOR_PROBER_VERBOSE")) {
            std::printf("error %s to %s as %s: %s\n", type.c_str(), d.label.c_str(), v.label,
                        what.c_str());
          }
        }
        if (r.closed && !sentinel_seen)
          ++closed;
        else if (!sentinel_seen) {
          std::printf("LOST %s to %s as %s: no answer to the sentinel\n", name.c_str(),
                      d.label.c_str(), v.label);
          ++lost;
        }
      }
    }
  }
  std::printf("frames %llu connections %llu closed %llu answered %llu empty-or-info %llu values %llu "
              "lost %llu\n",
              (unsigned long long) frames, (unsigned long long) connections,
              (unsigned long long) closed, (unsigned long long) answered,
              (unsigned long long) voids, (unsigned long long) values, (unsigned long long) lost);
  return 0;
}

int control(caf::actor_system& sys, const recorded& session, uint16_t port,
            const std::vector<std::string>& what) {
  std::vector<std::pair<uint64_t, caf::message>> requests;
  uint64_t next = 5000;
  if (what.size() == 2 && what[0] == "append") {
    holdfast::message m;
    m.topic = what[1];
    m.msg_id = "control-1";
    m.body = {'c'};
    requests.push_back({next++, caf::make_message(append_req{{m}, 0})});
  } else if (what.size() == 1 && what[0] == "status") {
    requests.push_back({next++, caf::make_message(status_atom::value)});
  } else if (what.size() == 3 && what[0] == "fetch-offset") {
    for (int32_t q = 0; q < 4; ++q)
      requests.push_back({next++, caf::make_message(fetch_offset_req{what[1], what[2], q})});
  } else if (what.size() == 1 && what[0] == "ha-offsets") {
    requests.push_back({next++, caf::make_message(ha_offsets_req{})});
  } else {
    std::fprintf(stderr, "door_prober: unknown control request\n");
    return 2;
  }
  std::set<uint64_t> awaited;
  for (auto& [id, msg] : requests)
    awaited.insert(id);
  auto body = [&](uint64_t door, const std::set<uint64_t>&) {
    std::string out;
    for (auto& [id, msg] : requests)
      out += basp::direct_message(session.sender, door, basp::message_id(id),
                                  basp::message_payload(sys, msg))
               .bytes();
    return out;
  };
  auto r = exchange(sys, port, session.handshake + session.hello, body, session.sender, awaited,
                    std::chrono::milliseconds(15000));
  if (!r.handshake) {
    std::printf("no server handshake\n");
    return 1;
  }
  std::map<uint64_t, std::string> lines;
  for (auto& a : r.answers) {
    auto req = a.operation_data & basp::request_id_mask;
    if (req < 5000)
      continue; // the hello's answer
    caf::message msg;
    if (!basp::decode_message(sys, a.payload, msg)) {
      lines[req] = "undecodable answer";
    } else if (msg.match_elements<partition_status>()) {
      auto& s = msg.get_as<partition_status>(0);
      std::string topics;
      for (auto& t : s.topics)
        topics += " " + t.name;
      lines[req] = "status written=" + std::to_string(s.written) + " topics=" + topics;
    } else if (msg.match_elements<fetch_offset_reply>()) {
      auto& o = msg.get_as<fetch_offset_reply>(0);
      lines[req] = "offset queue=" + std::to_string(req - 5000) + " found="
                   + std::to_string(o.found) + " offset=" + std::to_string(o.offset);
    } else if (msg.match_elements<append_reply>()) {
      lines[req] = "append_reply";
      for (auto& x : msg.get_as<append_reply>(0).results)
        lines[req] += " " + std::string(to_string(x.status));
    } else if (msg.match_elements<ha_offsets_reply>()) {
      lines[req] = "ha_offsets_reply offsets="
                   + std::to_string(msg.get_as<ha_offsets_reply>(0).offsets.size());
    } else if (msg.match_elements<caf::error>()) {
      lines[req] = "error " + sys.render(msg.get_as<caf::error>(0));
    } else {
      lines[req] = "answer " + caf::to_string(msg);
    }
  }
  for (auto& [req, line] : lines)
    std::printf("%s\n", line.c_str());
  std::printf("answers %zu of %zu\n", lines.size(), requests.size());
  return lines.size() == requests.size() ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() < 4 || (args[0] != "attack" && args[0] != "control")) {
    std::fprintf(stderr, "usage: door_prober attack SESSION PORT DOOR_PORT...\n"
                         "       door_prober control SESSION PORT REQUEST...\n");
    return 2;
  }
  caf::actor_system_config cfg;
  register_types(cfg);
  register_internal_types(cfg);
  cfg.load<caf::io::middleman>();
  cfg.set("logger.console", caf::atom("none"));
  caf::actor_system sys{cfg};
  try {
    auto session = read_session(args[1]);
    auto port = static_cast<uint16_t>(std::stoul(args[2]));
    std::vector<std::string> rest(args.begin() + 3, args.end());
    if (args[0] == "attack") {
      std::vector<uint64_t> doors;
      for (auto& d : rest) {
        auto r = exchange(
          sys, static_cast<uint16_t>(std::stoul(d)), "",
          [](uint64_t, const std::set<uint64_t>&) { return std::string(); }, 0, {},
          std::chrono::milliseconds(0));
        if (!r.handshake || r.door == 0)
          throw std::runtime_error("no door published at port " + d);
        std::printf("door %s %llu\n", d.c_str(), static_cast<unsigned long long>(r.door));
        doors.push_back(r.door);
      }
      return attack(sys, session, port, doors);
    }
    return control(sys, session, port, rest);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "door_prober: %s\n", e.what());
    return 1;
  }
}
