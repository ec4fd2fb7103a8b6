#pragma once

// TLS for the connections a process opens to a broker's door: clients (client/, the `holdfast`
// commands) and a SLAVE's replication link. It runs over CAF's OpenSSL module
// (libcaf_openssl): once `use_tls_client` loaded it into an actor system, connect_blocking and
// connect_async (connect.hpp) connect through it. What that module verifies is measured in
// docs/security.md: the broker's certificate against the trusted CA, yes; its host name, no.

#include <string>

namespace caf {
class actor_system_config;
} // namespace caf

namespace holdfast {

/// The client options (RocketMQ's names: tlsEnable, tlsClientCertPath, ...). With TLS all three
/// files are required: CAF 0.17's module verifies the broker only when it has its own
/// certificate and key too.
struct tls_client_options {
  bool enable = false;         ///< tlsEnable: connect with TLS
  std::string cert_path;       ///< tlsClientCertPath: PEM chain presented to the broker
  std::string key_path;        ///< tlsClientKeyPath: its unencrypted PEM private key
  std::string trust_cert_path; ///< tlsClientTrustCertPath: PEM CA(s) the broker must chain to
};

/// Checks the options and loads every file the way CAF will (so CAF, which throws from its
/// multiplexer thread on a file it cannot load, never sees a bad one): empty when usable, else
/// what is wrong, naming the file. Disabled options are always usable.
[[nodiscard]] std::string check_tls_client(const tls_client_options& opts);

/// Loads CAF's OpenSSL module into `cfg` with these files; call before the actor_system is
/// built, after check_tls_client said yes. Does nothing when disabled.
void use_tls_client(caf::actor_system_config& cfg, const tls_client_options& opts);

} // namespace holdfast
