#include "actors/wire/tls_client.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>

namespace holdfast {

namespace {

std::string openssl_reason() {
  auto code = ERR_get_error();
  ERR_clear_error();
  if (code == 0)
    return "no detail from OpenSSL";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof buf);
  return buf;
}

std::string check_readable(const char* what, const std::string& path) {
  std::ifstream f(path);
  if (!f)
    return std::string(what) + " '" + path + "' cannot be read: " + std::strerror(errno);
  return {};
}

} // namespace

std::string check_tls_client(const tls_client_options& opts) {
  if (!opts.enable) {
    if (!opts.cert_path.empty() || !opts.key_path.empty() || !opts.trust_cert_path.empty())
      return "TLS files were given but TLS is not enabled (tlsEnable / --tls)";
    return {};
  }
  // CAF 0.17's module knows two modes: with any file set it verifies the peer and demands a
  // certificate and key of its own (it throws while the actor system starts otherwise);
  // without files it speaks anonymous ciphers and verifies nothing, which no broker accepts.
  if (opts.trust_cert_path.empty() || opts.cert_path.empty() || opts.key_path.empty())
    return "TLS needs a client certificate, its key and the CA that signed the broker's "
           "certificate (tlsClientCertPath, tlsClientKeyPath, tlsClientTrustCertPath / "
           "--tls-cert, --tls-key, --tls-ca): CAF's TLS client works with all three or none";
  for (auto [what, path] : {std::pair{"tlsClientCertPath", &opts.cert_path},
                            std::pair{"tlsClientKeyPath", &opts.key_path},
                            std::pair{"tlsClientTrustCertPath", &opts.trust_cert_path}})
    if (!path->empty())
      if (auto why = check_readable(what, *path); !why.empty())
        return why;
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()),
                                                        &SSL_CTX_free);
  if (!ctx)
    return "cannot create an OpenSSL context: " + openssl_reason();
  ERR_clear_error();
  // No passphrases (CAF's `openssl.passphrase` is not wired up): an encrypted key is refused
  // here instead of OpenSSL prompting on the terminal.
  SSL_CTX_set_default_passwd_cb(ctx.get(), [](char*, int, int, void*) { return 0; });
  {
    // The key first, so a mismatch is named by the check below (see tls_context.cpp).
    if (SSL_CTX_use_PrivateKey_file(ctx.get(), opts.key_path.c_str(), SSL_FILETYPE_PEM) != 1)
      return "tlsClientKeyPath '" + opts.key_path + "' is no unencrypted PEM key: "
             + openssl_reason();
    if (SSL_CTX_use_certificate_chain_file(ctx.get(), opts.cert_path.c_str()) != 1)
      return "tlsClientCertPath '" + opts.cert_path + "' is no PEM certificate: " + openssl_reason();
    if (SSL_CTX_check_private_key(ctx.get()) != 1)
      return "tlsClientKeyPath '" + opts.key_path + "' is not the key of '" + opts.cert_path
             + "': " + openssl_reason();
  }
  if (SSL_CTX_load_verify_locations(ctx.get(), opts.trust_cert_path.c_str(), nullptr) != 1)
    return "tlsClientTrustCertPath '" + opts.trust_cert_path + "' holds no PEM CA certificate: "
           + openssl_reason();
  return {};
}

void use_tls_client(caf::actor_system_config& cfg, const tls_client_options& opts) {
  if (!opts.enable)
    return;
  cfg.load<caf::openssl::manager>();
  cfg.openssl_certificate = opts.cert_path;
  cfg.openssl_key = opts.key_path;
  cfg.openssl_cafile = opts.trust_cert_path;
}

} // namespace holdfast
