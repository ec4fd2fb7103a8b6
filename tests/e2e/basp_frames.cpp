#include "basp_frames.hpp"

#include <caf/all.hpp>

#include <set>
#include <stdexcept>

namespace holdfast::e2e::basp {

namespace {

void put_be(std::string& out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i)
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t get_be(const std::string& s, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i)
    v = (v << 8) | static_cast<uint8_t>(s[at + i]);
  return v;
}

} // namespace

std::string frame::bytes() const {
  std::string out;
  out.reserve(header_size + payload.size());
  out.push_back(static_cast<char>(operation));
  out.push_back('\0');
  out.push_back('\0');
  out.push_back(static_cast<char>(flags));
  put_be(out, payload.size(), 4);
  put_be(out, operation_data, 8);
  put_be(out, source_actor, 8);
  put_be(out, dest_actor, 8);
  out += payload;
  return out;
}

std::vector<frame> split(const std::string& stream, std::string* rest) {
  std::vector<frame> out;
  size_t pos = 0;
  while (stream.size() - pos >= header_size) {
    auto len = get_be(stream, pos + 4, 4);
    if (stream.size() - pos - header_size < len)
      break;
    frame f;
    f.operation = static_cast<uint8_t>(stream[pos]);
    f.flags = static_cast<uint8_t>(stream[pos + 3]);
    f.operation_data = get_be(stream, pos + 8, 8);
    f.source_actor = get_be(stream, pos + 16, 8);
    f.dest_actor = get_be(stream, pos + 24, 8);
    f.payload = stream.substr(pos + header_size, len);
    out.push_back(std::move(f));
    pos += header_size + len;
  }
  if (rest)
    *rest = stream.substr(pos);
  return out;
}

uint64_t message_id(uint64_t request_id, uint64_t category) {
  return (category << category_shift) | (request_id & request_id_mask);
}

uint64_t name_id(const std::string& name) {
  return static_cast<uint64_t>(caf::atom_from_string(name));
}

std::string message_payload(caf::actor_system& sys, const caf::message& msg) {
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  std::vector<caf::strong_actor_ptr> forwarding_stack;
  if (auto err = sink(forwarding_stack, const_cast<caf::message&>(msg)))
    throw std::runtime_error("cannot serialize " + caf::to_string(msg) + ": "
                             + sys.render(err));
  return {buf.begin(), buf.end()};
}

bool decode_message(caf::actor_system& sys, const std::string& payload, caf::message& out) {
  caf::binary_deserializer source{sys, payload.data(), payload.size()};
  std::vector<caf::strong_actor_ptr> forwarding_stack;
  return !source(forwarding_stack, out);
}

std::string type_names(const std::string& payload) {
  // An empty forwarding stack (varbyte 0), then begin_object: u16 0 and a varbyte-sized string.
  if (payload.size() < 4 || payload[0] != 0 || payload[1] != 0 || payload[2] != 0)
    return {};
  size_t len = 0, pos = 3;
  for (int shift = 0; pos < payload.size() && shift < 35; shift += 7) {
    auto b = static_cast<uint8_t>(payload[pos++]);
    len |= size_t{b & 0x7fu} << shift;
    if ((b & 0x80) == 0)
      break;
  }
  if (payload.size() - pos < len)
    return {};
  return payload.substr(pos, len);
}

bool handshake_actor(caf::actor_system& sys, const std::string& payload, uint64_t& actor) {
  caf::binary_deserializer source{sys, payload.data(), payload.size()};
  caf::node_id node;
  std::vector<std::string> app_ids;
  caf::actor_id aid = 0;
  std::set<std::string> interface;
  if (source(node, app_ids, aid, interface))
    return false;
  actor = aid;
  return true;
}

frame direct_message(uint64_t source, uint64_t dest, uint64_t message_id, std::string payload,
                     bool named) {
  frame f;
  f.operation = static_cast<uint8_t>(op::direct_message);
  f.flags = named ? named_receiver_flag : 0;
  f.operation_data = message_id;
  f.source_actor = source;
  f.dest_actor = dest;
  f.payload = std::move(payload);
  return f;
}

} // namespace holdfast::e2e::basp
