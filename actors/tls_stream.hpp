#pragma once

// The guard's side of TLS (tls_context.hpp): one peer connection that is plain TCP or TLS,
// decided per connection. Only basp_guard.cpp and tls_context.cpp include it (Asio, OpenSSL).

#include "actors/tls_context.hpp"

#include <asio.hpp>
#include <asio/ssl.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace holdfast {

/// A peer's stream: plain TCP, or TLS terminated here. Lives inside the guard's session, used
/// only from the guard's io_context thread; the handlers given keep the session alive.
///
/// Lifecycle: `async_start` decides and handshakes (nothing is read for the BASP parser and
/// nothing of the broker's is written before it completes); then `async_read_some` and
/// `async_write` as on a socket, one of each outstanding at a time.
class peer_stream {
public:
  using io_handler = std::function<void(const asio::error_code&, size_t)>;

  /// `tls` null: plain TCP only (tlsMode disabled).
  peer_stream(asio::ip::tcp::socket s, std::shared_ptr<tls_server> tls);

  /// The TCP socket underneath (endpoints, options).
  [[nodiscard]] asio::ip::tcp::socket& socket() noexcept;
  [[nodiscard]] bool encrypted() const noexcept {
    return ssl_.has_value();
  }

  /// Peeks at the first byte the peer sends (0x16 opens a TLS handshake record; a BASP header
  /// starts with its kind, 0..6), then handshakes or not per the mode. `done` gets an empty
  /// string when the stream may carry BASP, else why the peer was refused (a peer that closed
  /// before saying anything gets "closed").
  void async_start(std::function<void(std::string)> done);

  void async_read_some(asio::mutable_buffer buf, io_handler h);
  /// Writes all of `buf`.
  void async_write(asio::const_buffer buf, io_handler h);
  void close();

private:
  void decide(std::function<void(std::string)> done);
  void handshake(std::function<void(std::string)> done);

  asio::ip::tcp::socket plain_;
  std::shared_ptr<tls_server> tls_;
  std::optional<asio::ssl::stream<asio::ip::tcp::socket>> ssl_;
  asio::steady_timer timer_;
  bool timed_out_ = false; ///< the timer of the current phase fired
  bool decided_ = false;   ///< the current phase (first byte, handshake) completed
};

} // namespace holdfast
