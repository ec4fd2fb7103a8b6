#include "actors/tls_context.hpp"
#include "actors/tls_stream.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

namespace holdfast {

namespace {

using asio::ip::tcp;
using namespace std::chrono_literals;

// A TLS client's ClientHello leaves as soon as its connect completes, so on loopback or a LAN
// it arrives within milliseconds; these windows only bound how long a silent peer is waited
// for. Permissive: a plaintext CAF peer pays this once per connection before the broker speaks
// (kept short). Enforcing: a plaintext CAF peer is refused after this long instead of hanging.
constexpr auto permissive_window = 300ms;
constexpr auto enforcing_window = 3s;
// The whole handshake after the first byte: generous for a loaded machine, short enough that a
// peer stalling mid-handshake holds its socket only briefly.
constexpr auto handshake_timeout = 10s;
constexpr unsigned char tls_handshake_record = 0x16;

std::string check_readable(const char* key, const std::string& path) {
  std::ifstream f(path);
  if (!f)
    return std::string(key) + " '" + path + "' cannot be read: " + std::strerror(errno);
  return {};
}

// OpenSSL's full error string (library and reason), Asio's message otherwise.
std::string reason(const asio::error_code& ec) {
  if (ec.category() != asio::error::get_ssl_category())
    return ec.message();
  char buf[256];
  ERR_error_string_n(static_cast<unsigned long>(ec.value()), buf, sizeof buf);
  return buf;
}

} // namespace

struct tls_server::impl {
  options opts;
  asio::ssl::context ctx{asio::ssl::context::tls_server};
};

tls_server::tls_server(std::unique_ptr<impl> p) : impl_(std::move(p)) {
}

tls_server::~tls_server() = default;

tls_server::mode tls_server::policy() const noexcept {
  return impl_->opts.policy;
}

std::chrono::milliseconds tls_server::first_byte_window() const noexcept {
  return impl_->opts.policy == mode::enforcing ? enforcing_window : permissive_window;
}

std::shared_ptr<tls_server> tls_server::make(const options& opts, std::string& error) {
  auto p = std::make_unique<impl>();
  p->opts = opts;
  bool need_ca = opts.policy == mode::enforcing || opts.need_client_auth;
  if (opts.cert_path.empty() || opts.key_path.empty()) {
    error = "TLS needs tlsServerCertPath and tlsServerKeyPath";
    return nullptr;
  }
  if (need_ca && opts.trust_cert_path.empty()) {
    error = "client certificates need tlsServerTrustCertPath";
    return nullptr;
  }
  for (auto [key, path] : {std::pair{"tlsServerCertPath", &opts.cert_path},
                           std::pair{"tlsServerKeyPath", &opts.key_path},
                           std::pair{"tlsServerTrustCertPath", &opts.trust_cert_path}})
    if (!path->empty())
      if (error = check_readable(key, *path); !error.empty())
        return nullptr;
  auto& ctx = p->ctx;
  // TLS 1.2 and later: CAF 0.17's OpenSSL module speaks exactly TLS 1.2.
  ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2
                  | asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1
                  | asio::ssl::context::no_tlsv1_1);
  asio::error_code ec;
  ERR_clear_error();
  // No passphrases: without this OpenSSL would prompt on the terminal for an encrypted key and
  // a daemon would hang there; now such a key is a load error.
  ctx.set_password_callback(
    [](size_t, asio::ssl::context::password_purpose) { return std::string(); });
  // The key first: loaded after it, a certificate of another key leaves the key unset, which
  // the check below names (in the other order OpenSSL's "key values mismatch" blames the key).
  if (ctx.use_private_key_file(opts.key_path, asio::ssl::context::pem, ec); ec) {
    error = "tlsServerKeyPath '" + opts.key_path + "' is no unencrypted PEM key: " + reason(ec);
    return nullptr;
  }
  if (ctx.use_certificate_chain_file(opts.cert_path, ec); ec) {
    error = "tlsServerCertPath '" + opts.cert_path + "' is no PEM certificate: " + reason(ec);
    return nullptr;
  }
  if (SSL_CTX_check_private_key(ctx.native_handle()) != 1) {
    error = "tlsServerKeyPath '" + opts.key_path + "' is not the key of '" + opts.cert_path + "'";
    ERR_clear_error();
    return nullptr;
  }
  if (!opts.trust_cert_path.empty()) {
    if (ctx.load_verify_file(opts.trust_cert_path, ec); ec) {
      error = "tlsServerTrustCertPath '" + opts.trust_cert_path
              + "' holds no PEM CA certificate: " + reason(ec);
      return nullptr;
    }
    // Tells clients which CA to pick a certificate for.
    if (auto* names = SSL_load_client_CA_file(opts.trust_cert_path.c_str()))
      SSL_CTX_set_client_CA_list(ctx.native_handle(), names);
    auto verify = asio::ssl::verify_peer;
    if (need_ca)
      verify |= asio::ssl::verify_fail_if_no_peer_cert;
    ctx.set_verify_mode(verify);
  } else {
    ctx.set_verify_mode(asio::ssl::verify_none);
  }
  // Needed once peers are verified, or a resumed session fails ("session id context
  // uninitialized").
  static const unsigned char sid[] = "holdfast";
  SSL_CTX_set_session_id_context(ctx.native_handle(), sid, sizeof sid - 1);
  ERR_clear_error();
  return std::shared_ptr<tls_server>(new tls_server(std::move(p)));
}

// ---- peer_stream ----------------------------------------------------------------------------

peer_stream::peer_stream(tcp::socket s, std::shared_ptr<tls_server> tls)
  : plain_(std::move(s)), tls_(std::move(tls)), timer_(plain_.get_executor()) {
}

tcp::socket& peer_stream::socket() noexcept {
  return ssl_ ? ssl_->next_layer() : plain_;
}

void peer_stream::async_start(std::function<void(std::string)> done) {
  if (!tls_) {
    done({});
    return;
  }
  decide(std::move(done));
}

void peer_stream::decide(std::function<void(std::string)> done) {
  // Wait until the peer sends something or the window closes, whichever comes first; the
  // `decided_` flag makes the later of the two a no-op (a cancel must never hit the handshake).
  // Each timer handler holds `done` (and so the session that owns this stream): a timer that
  // expired just as the peer spoke still finds the stream alive when its handler runs.
  timer_.expires_after(tls_->first_byte_window());
  timer_.async_wait([this, done](const asio::error_code& ec) {
    (void) done; // held for its lifetime only
    if (ec || decided_)
      return;
    timed_out_ = true;
    asio::error_code ignored;
    plain_.cancel(ignored);
  });
  plain_.async_wait(tcp::socket::wait_read, [this, done](const asio::error_code& ec) {
    decided_ = true;
    timer_.cancel();
    auto window = std::to_string(tls_->first_byte_window().count()) + " ms";
    if (ec && timed_out_) {
      if (tls_->policy() == tls_server::mode::permissive)
        done({}); // a plaintext CAF peer: it waits for the broker's BASP handshake
      else
        done("sent nothing within " + window
             + " (a TLS client speaks first; a plaintext CAF client waits for the broker)");
      return;
    }
    unsigned char first = 0;
    asio::error_code peek_ec;
    size_t n = 0;
    if (!ec)
      n = plain_.receive(asio::buffer(&first, 1), tcp::socket::message_peek, peek_ec);
    if (ec || peek_ec || n == 0) {
      done("closed");
      return;
    }
    if (first == tls_handshake_record) {
      handshake(done);
      return;
    }
    if (tls_->policy() == tls_server::mode::permissive) {
      done({});
      return;
    }
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02x", first);
    done(std::string("plain text (first byte ") + hex
         + ", no TLS handshake record) on a port that requires TLS");
  });
}

void peer_stream::handshake(std::function<void(std::string)> done) {
  ssl_.emplace(std::move(plain_), tls_->get().ctx);
  timed_out_ = false;
  decided_ = false;
  timer_.expires_after(handshake_timeout);
  timer_.async_wait([this, done](const asio::error_code& ec) {
    (void) done; // held for its lifetime only
    if (ec || decided_)
      return;
    timed_out_ = true;
    asio::error_code ignored;
    ssl_->next_layer().cancel(ignored);
  });
  ssl_->async_handshake(asio::ssl::stream_base::server, [this, done](const asio::error_code& ec) {
    decided_ = true;
    timer_.cancel();
    if (ec && timed_out_) {
      done("TLS handshake not finished within "
           + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(handshake_timeout)
                              .count())
           + " s");
      return;
    }
    if (ec == asio::error::operation_aborted) {
      done("closed"); // closed by the guard (authTimeout, shutdown), which said why
      return;
    }
    if (ec) {
      done("TLS handshake failed: " + reason(ec));
      return;
    }
    done({});
  });
}

void peer_stream::async_read_some(asio::mutable_buffer buf, io_handler h) {
  if (ssl_)
    ssl_->async_read_some(buf, std::move(h));
  else
    plain_.async_read_some(buf, std::move(h));
}

void peer_stream::async_write(asio::const_buffer buf, io_handler h) {
  if (ssl_)
    asio::async_write(*ssl_, buf, std::move(h));
  else
    asio::async_write(plain_, buf, std::move(h));
}

void peer_stream::close() {
  asio::error_code ignored;
  timer_.cancel();
  socket().close(ignored);
}

} // namespace holdfast
