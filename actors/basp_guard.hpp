#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace holdfast {

/// A TCP relay in front of the CAF middleman that checks the framing of everything a peer sends
/// before CAF parses it.
///
/// Why: Debian's CAF 0.17.6 dereferences a null payload when a BASP header of a kind that must
/// carry one (handshakes, direct and routed messages) announces a payload length of 0, so one
/// 32-byte message from anyone who can reach the port kills the broker; and it allocates
/// whatever length a header announces. The guard accepts on the public address, forwards each
/// connection to the middleman published on a loopback-only port, and drops a connection at its
/// first header that is of an unknown kind, has an empty payload where one is required, or
/// announces more than `max_payload` bytes, or `pre_auth_max_payload` before the door has
/// answered the peer's hello (docs/hostile-input.md). It also caps connections at once and
/// drops a peer that has not authenticated within `auth_timeout_ms`.
///
/// It also knows the door it fronts (`doors`: actor ids): CAF delivers a message to any actor
/// in the receiving system's registry, by id or by name, so the guard drops a connection that
/// addresses a message or a monitor request to anything else, names its receiver (but CAF's
/// spawn server, which every node asks for its info on connect), or routes. Answers may reach
/// only the broker's actors that sent that peer a request, once each: the guard reads the
/// headers of the broker's direction to know them. CAF acts on some messages in any actor,
/// from any sender, before its behaviour runs (an exit_msg with `kill` ends it, an error or
/// another exit_msg does with the default handlers; the stream mailbox categories read any
/// content as a stream message): the guard reads the type names at the head of each message
/// to the broker and drops those, and messages in the stream categories.
///
/// Frames are parsed in place and forwarded in the chunks they arrived in; the direction from
/// the broker is copied as is. Runs its own thread (standalone Asio).
class basp_guard {
public:
  struct options {
    std::string listen_host = "127.0.0.1";
    uint16_t listen_port = 0;   ///< 0: any free port
    uint16_t target_port = 0;   ///< the middleman's loopback port
    /// Largest frame payload from a peer once it has authenticated.
    uint64_t max_payload = 256ull << 20;
    /// Largest frame payload before: CAF sizes its receive buffer from a header, so without
    /// this bound a peer that has proven nothing makes the broker allocate what it announces.
    /// A handshake, the spawn server exchange and a hello fit many times over.
    uint64_t pre_auth_max_payload = 64 * 1024;
    /// Type names of the door's answers that mean "this peer is authenticated" (the broker's
    /// direction; e.g. holdfast::hello_reply). Empty: every peer counts as authenticated.
    std::vector<std::string> auth_replies;
    /// A peer not authenticated this long after it connected is dropped; 0: never.
    uint32_t auth_timeout_ms = 10000;
    /// Connections open at once; one more is closed at accept. 0: no limit.
    uint32_t max_connections = 0;
    /// Actor ids a peer may address (direct messages, monitor requests); empty: any.
    std::vector<uint64_t> doors;
  };

  /// Binds and starts; null with `error` set when the address cannot be bound.
  [[nodiscard]] static std::unique_ptr<basp_guard> start(const options& opts, std::string& error);

  ~basp_guard();
  basp_guard(const basp_guard&) = delete;
  basp_guard& operator=(const basp_guard&) = delete;

  /// The port it listens on.
  [[nodiscard]] uint16_t port() const noexcept;
  /// Connections dropped for a bad header since start.
  [[nodiscard]] uint64_t refused() const noexcept;
  /// Connections closed at accept because max_connections were open, since start.
  [[nodiscard]] uint64_t over_limit() const noexcept;
  /// Connections open now.
  [[nodiscard]] uint64_t connections() const noexcept;

  /// Frame check of one 32-byte BASP header (CAF 0.17 layout, big-endian): empty when it may
  /// pass, else why not. Exposed for tests.
  [[nodiscard]] static std::string check_header(const unsigned char* h, uint64_t max_payload,
                                                uint32_t& payload_len);

  /// What one peer may address besides the door, learnt from the broker's direction: the
  /// broker's actors that sent it anything (it may monitor them, as CAF does for every
  /// sender it learns) and the requests they sent (each may be answered once).
  struct peer_view {
    std::set<uint64_t> introduced;
    std::set<std::pair<uint64_t, uint64_t>> awaiting; ///< (actor id, request id)
  };

  /// Destination check of one header from a peer against the door ids and what the broker
  /// sent that peer (an answer consumes its entry): empty when it may pass.
  [[nodiscard]] static std::string check_destination(const unsigned char* h,
                                                     const std::vector<uint64_t>& doors,
                                                     peer_view& view);

  /// Check of the head of a direct message's payload (`n` bytes of it, at most 64 needed):
  /// empty when it may pass. Refuses a forwarding stack and CAF's system messages (exit,
  /// down, error, timeout, stream messages), which CAF acts on in any actor, from any sender,
  /// before its behaviour sees them. Answers pass (they may carry errors). Exposed for tests.
  [[nodiscard]] static std::string check_payload(const unsigned char* h, const unsigned char* p,
                                                 size_t n);

  struct impl;

private:
  explicit basp_guard(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace holdfast
