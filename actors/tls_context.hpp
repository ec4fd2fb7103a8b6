#pragma once

// The server side of TLS on the doors: the certificate, key and trusted CA a broker's BASP
// guards present and check (docs/security.md). Terminating TLS in the guard, before its frame
// checks, means a plaintext or foreign-CA peer is refused in the handshake before any BASP byte
// is parsed, and the checks keep working on the decrypted stream. No Asio or CAF in this
// header: the broker's main builds one from the config; tls_stream.hpp is the guard's side.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace holdfast {

/// One loaded server context, shared read-only by every connection of every guard.
class tls_server {
public:
  enum class mode : uint8_t { permissive, enforcing };

  struct options {
    mode policy = mode::enforcing;
    std::string cert_path;       ///< tlsServerCertPath: PEM chain
    std::string key_path;        ///< tlsServerKeyPath: unencrypted PEM key
    std::string trust_cert_path; ///< tlsServerTrustCertPath: CA(s) for client certificates
    /// A peer must present a certificate chaining to trust_cert_path (always under enforcing).
    bool need_client_auth = false;
  };

  /// Loads and checks the files (readable, PEM, key matches certificate); null with `error`
  /// naming the key and file otherwise.
  [[nodiscard]] static std::shared_ptr<tls_server> make(const options& opts, std::string& error);

  ~tls_server();
  tls_server(const tls_server&) = delete;
  tls_server& operator=(const tls_server&) = delete;

  [[nodiscard]] mode policy() const noexcept;

  /// How long a connection may stay silent before the guard decides. A TLS client speaks first
  /// (its ClientHello leaves right after connect); a plaintext CAF peer waits for the broker's
  /// BASP handshake. Under permissive, a peer silent this long is plain text; under enforcing
  /// it is refused.
  [[nodiscard]] std::chrono::milliseconds first_byte_window() const noexcept;

  struct impl;
  [[nodiscard]] impl& get() noexcept {
    return *impl_;
  }

private:
  explicit tls_server(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace holdfast
