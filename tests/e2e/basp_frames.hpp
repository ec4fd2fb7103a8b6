#pragma once

// A test-only codec of CAF 0.17's BASP framing, for forging messages into recorded sessions.
//
// Layout, as CAF 0.17.6 writes it (libcaf_io/caf/io/basp/header.hpp, src/io/basp/instance.cpp):
// a 32-byte header in network byte order (u8 operation, two padding bytes, u8 flags,
// u32 payload length, u64 operation data, u64 source actor, u64 destination actor), then the
// payload. A direct_message (operation 2) carries its message id in the operation data and
// names its receiver by actor id, or, with the named-receiver flag, by an atom stored in the
// destination field itself; its payload is the forwarding stack and the message,
// `sink(forwarding_stack, msg)`.

#include <caf/fwd.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace holdfast::e2e::basp {

constexpr size_t header_size = 32;

enum class op : uint8_t {
  server_handshake = 0,
  client_handshake = 1,
  direct_message = 2,
  routed_message = 3,
  monitor_message = 4,
  down_message = 5,
  heartbeat = 6,
};

constexpr uint8_t named_receiver_flag = 0x01;

// caf::message_id's bits (caf/message_id.hpp).
constexpr uint64_t response_flag = 0x8000000000000000ull;
constexpr uint64_t request_id_mask = 0x0FFFFFFFFFFFFFFFull;
constexpr uint64_t category_shift = 60;
constexpr uint64_t urgent_category = 0, normal_category = 1, upstream_category = 2,
                   downstream_category = 3;

struct frame {
  uint8_t operation = 0;
  uint8_t flags = 0;
  uint64_t operation_data = 0;
  uint64_t source_actor = 0;
  uint64_t dest_actor = 0;
  std::string payload;

  /// The header and the payload, as on the wire (the length field is the payload's size).
  [[nodiscard]] std::string bytes() const;
  [[nodiscard]] bool is(op o) const {
    return operation == static_cast<uint8_t>(o);
  }
  [[nodiscard]] bool is_response() const {
    return (operation_data & response_flag) != 0;
  }
  [[nodiscard]] bool is_request() const {
    return !is_response() && (operation_data & request_id_mask) != 0;
  }
};

/// Splits a byte stream into whole frames; the bytes of a last, incomplete frame go to `rest`.
[[nodiscard]] std::vector<frame> split(const std::string& stream, std::string* rest = nullptr);

/// A message id as CAF builds it: a request (`request_id` > 0) or an asynchronous message
/// (0), in the given mailbox category.
[[nodiscard]] uint64_t message_id(uint64_t request_id, uint64_t category = normal_category);

/// The destination field of a message to the actor registered under `name` (at most 10
/// characters); send it with `named_receiver_flag`.
[[nodiscard]] uint64_t name_id(const std::string& name);

/// The payload of a direct_message carrying `msg` with an empty forwarding stack, serialized
/// in `sys`, which must know the type names of every element. Throws when it cannot.
[[nodiscard]] std::string message_payload(caf::actor_system& sys, const caf::message& msg);

/// The message of a direct_message's payload; false when it does not decode in `sys`.
[[nodiscard]] bool decode_message(caf::actor_system& sys, const std::string& payload,
                                  caf::message& out);

/// The type names a direct_message's payload announces for its message ("@<>+holdfast::ha_ack";
/// "@<>" for an empty message), read without decoding the values; empty when the payload has
/// a forwarding stack or does not start like a message.
[[nodiscard]] std::string type_names(const std::string& payload);

/// The published actor id a server handshake's payload announces (0: nothing published);
/// false when the payload does not decode.
[[nodiscard]] bool handshake_actor(caf::actor_system& sys, const std::string& payload,
                                   uint64_t& actor);

/// A direct_message frame to actor `dest` (or, when `named`, to the name whose `name_id` is
/// `dest`).
[[nodiscard]] frame direct_message(uint64_t source, uint64_t dest, uint64_t message_id,
                                   std::string payload, bool named = false);

} // namespace holdfast::e2e::basp
