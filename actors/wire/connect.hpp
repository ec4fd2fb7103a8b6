#pragma once

// Reaching a broker's door over the CAF middleman: the one place that parses HOST:PORT and
// connects, for the client library (blocking, at its edge) and for actors (asynchronously,
// so their mailbox keeps running while a connect hangs). A system with CAF's OpenSSL module
// loaded (use_tls_client, tls_client.hpp) connects with TLS, every other one in plain text.

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>

#include <set>
#include <string>

namespace holdfast {

/// Splits "host:port"; false when it is not of that form (port 1..65535).
[[nodiscard]] bool parse_address(const std::string& addr, std::string& host, uint16_t& port);

/// Connects to the actor published at `addr` and checks its interface; blocks.
template <class Handle>
caf::expected<Handle> connect_blocking(caf::actor_system& sys, const std::string& addr) {
  std::string host;
  uint16_t port = 0;
  if (!parse_address(addr, host, port))
    return caf::make_error(caf::sec::invalid_argument,
                           "invalid address '" + addr + "' (expected HOST:PORT)");
  if (sys.has_openssl_manager())
    return caf::openssl::remote_actor<Handle>(sys, host, port);
  return sys.middleman().remote_actor<Handle>(host, port);
}

/// Connects from inside an actor without blocking it: `ok(Handle)` or `fail(caf::error)` runs
/// later on the actor's own context. The handle is not checked against the interface (the
/// middleman's connect request does not carry it), so callers talk to it as `Handle` and the
/// first answer tells whether it is one.
template <class Handle, class Self, class Ok, class Fail>
void connect_async(Self* self, const std::string& addr, Ok ok, Fail fail) {
  std::string host;
  uint16_t port = 0;
  if (!parse_address(addr, host, port)) {
    fail(caf::make_error(caf::sec::invalid_argument,
                         "invalid address '" + addr + "' (expected HOST:PORT)"));
    return;
  }
  auto& sys = self->home_system();
  auto mm = sys.has_openssl_manager() ? sys.openssl_manager().actor_handle()
                                      : sys.middleman().actor_handle();
  self->request(mm, caf::infinite, caf::connect_atom::value, host, port)
    .then(
      [ok, fail, addr](const caf::node_id&, caf::strong_actor_ptr& ptr,
                       const std::set<std::string>&) mutable {
        if (!ptr) {
          fail(caf::make_error(caf::sec::no_actor_published_at_port,
                               "nothing published at " + addr));
          return;
        }
        ok(caf::actor_cast<Handle>(std::move(ptr)));
      },
      [fail](caf::error& err) mutable { fail(std::move(err)); });
}

} // namespace holdfast
