#include "actors/basp_guard.hpp"

#include "runtime/log.hpp"

#include <asio.hpp>
#include <caf/atom.hpp>

#include <array>
#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

namespace holdfast {

namespace {

constexpr size_t header_size = 32; // kind, 2 padding bytes, flags, u32 length, 3 x u64
constexpr uint8_t last_kind = 6;   // heartbeat
constexpr size_t buffer_size = 256 * 1024;
// Before a peer has authenticated: a header and a payload head fit, and payloads stream
// through in chunks, so a small buffer only costs a few more reads of a handshake.
constexpr size_t small_buffer_size = 16 * 1024;
constexpr size_t payload_head = 64; // stages, object header and the type names of one message

using asio::ip::tcp;

// One relayed connection. Each direction is a read-then-write loop on its own buffer; the
// session lives as long as one of its handlers holds it.
struct session : std::enable_shared_from_this<session> {
  session(tcp::socket c, asio::io_context& io, basp_guard::impl& g);
  ~session();
  tcp::socket client;
  tcp::socket upstream;
  asio::steady_timer auth_timer;
  basp_guard::impl& guard;
  // Sized small until the peer authenticates (`authenticated`), then grown where no read is
  // pending on them: at the start of the next read.
  std::vector<char> in;
  std::vector<char> out;
  bool authenticated = false;
  size_t have = 0;          // bytes in `in`, from its start
  uint64_t payload_left = 0; // of the frame being forwarded
  std::string peer;
  // The broker's direction, parsed only to learn which of its actors wait for an answer from
  // this peer: (actor id, request id) of each request sent. A response may reach only those.
  basp_guard::peer_view view;
  std::array<unsigned char, header_size> out_header{};
  size_t out_header_have = 0;
  uint64_t out_payload_left = 0;
  // The head of an answer from the broker to a peer not yet authenticated: its type names
  // tell whether the door accepted the hello.
  std::string out_head;
  size_t out_head_left = 0;
  void learn_requests(const char* data, size_t n);
  void learn_answer();
  uint64_t max_payload() const;

  void start(uint16_t target);
  void read_client();
  void read_upstream();
  void close() {
    asio::error_code ignored;
    auth_timer.cancel(ignored);
    client.close(ignored);
    upstream.close(ignored);
  }
};

// The type names at the head of a direct message's payload (after an empty forwarding stack),
// or empty when the head is not of that shape.
std::string type_names(const unsigned char* p, size_t n) {
  if (n < 4 || p[0] != 0 || p[1] != 0 || p[2] != 0 || p[3] > 0x7f)
    return {};
  size_t len = p[3];
  return std::string(reinterpret_cast<const char*>(p + 4), std::min(len, n - 4));
}

} // namespace

struct basp_guard::impl {
  // Declared before `io`: sessions that io's destructor still holds count themselves out.
  std::atomic<uint64_t> live{0};
  std::atomic<uint64_t> over_limit{0};
  asio::io_context io;
  tcp::acceptor acceptor{io};
  basp_guard::options opts;
  std::thread thread;
  std::atomic<uint64_t> refused{0};

  void accept() {
    acceptor.async_accept([this](const asio::error_code& ec, tcp::socket s) {
      if (ec == asio::error::operation_aborted)
        return;
      if (!ec && opts.max_connections > 0 && live.load() >= opts.max_connections) {
        // Logged once per 1000 so that a flood cannot fill the disk with this line.
        if (over_limit++ % 1000 == 0)
          log_warning("basp guard: {} connections open (maxConnections), closed a new one "
                      "({} so far)",
                      live.load(), over_limit.load());
        asio::error_code ignored;
        s.close(ignored);
      } else if (!ec) {
        auto sess = std::make_shared<session>(std::move(s), io, *this);
        sess->start(opts.target_port);
      }
      accept();
    });
  }
};

namespace {

session::session(tcp::socket c, asio::io_context& io, basp_guard::impl& g)
  : client(std::move(c)), upstream(io), auth_timer(io), guard(g),
    authenticated(g.opts.auth_replies.empty()) {
  in.resize(authenticated ? buffer_size : small_buffer_size);
  out.resize(authenticated ? buffer_size : small_buffer_size);
  ++guard.live;
}

session::~session() {
  --guard.live;
}

uint64_t session::max_payload() const {
  return authenticated ? guard.opts.max_payload
                       : std::min(guard.opts.max_payload, guard.opts.pre_auth_max_payload);
}

void session::learn_answer() {
  auto names = type_names(reinterpret_cast<const unsigned char*>(out_head.data()),
                          out_head.size());
  for (const auto& accepted : guard.opts.auth_replies)
    if (names == "@<>+" + accepted) {
      authenticated = true;
      asio::error_code ignored;
      auth_timer.cancel(ignored);
      return;
    }
}

void session::start(uint16_t target) {
  asio::error_code ec;
  auto ep = client.remote_endpoint(ec);
  peer = ec ? std::string("?") : ep.address().to_string() + ":" + std::to_string(ep.port());
  auto self = shared_from_this();
  if (!authenticated && guard.opts.auth_timeout_ms > 0) {
    auth_timer.expires_after(std::chrono::milliseconds(guard.opts.auth_timeout_ms));
    auth_timer.async_wait([self](const asio::error_code& ec) {
      if (ec || self->authenticated)
        return;
      log_warning("basp guard: dropped the connection from {}: not authenticated within {} ms",
                  self->peer, self->guard.opts.auth_timeout_ms);
      self->close();
    });
  }
  upstream.async_connect(tcp::endpoint(asio::ip::address_v4::loopback(), target),
                         [self](const asio::error_code& ec) {
                           if (ec) {
                             log_warning("basp guard: cannot reach the middleman: {}",
                                         ec.message());
                             self->close();
                             return;
                           }
                           asio::error_code ignored;
                           self->upstream.set_option(tcp::no_delay(true), ignored);
                           self->client.set_option(tcp::no_delay(true), ignored);
                           self->read_client();
                           self->read_upstream();
                         });
}

void session::read_client() {
  auto self = shared_from_this();
  if (authenticated && in.size() < buffer_size)
    in.resize(buffer_size);
  client.async_read_some(
    asio::buffer(in.data() + have, in.size() - have),
    [self](const asio::error_code& ec, size_t n) {
      if (ec) {
        self->close();
        return;
      }
      auto& s = *self;
      s.have += n;
      // Walk the frames: whole payloads pass, each header is checked before it does.
      size_t pos = 0;
      for (;;) {
        if (s.payload_left > 0) {
          auto take = std::min<uint64_t>(s.payload_left, s.have - pos);
          pos += take;
          s.payload_left -= take;
          if (s.payload_left > 0)
            break;
        }
        if (s.have - pos < header_size)
          break;
        uint32_t len = 0;
        auto h = reinterpret_cast<const unsigned char*>(s.in.data() + pos);
        auto why = basp_guard::check_header(h, s.max_payload(), len);
        if (!why.empty() && !s.authenticated && len <= s.guard.opts.max_payload)
          why += " before the peer authenticated";
        // The head of a message's payload names its types: wait for it before checking (the
        // destination check consumes an awaited answer, so it runs once per frame).
        auto head = h[0] == 2 ? std::min<size_t>(len, payload_head) : 0;
        if (why.empty() && !s.guard.opts.doors.empty() && s.have - pos < header_size + head)
          break;
        if (why.empty())
          why = basp_guard::check_destination(h, s.guard.opts.doors, s.view);
        if (why.empty() && !s.guard.opts.doors.empty())
          why = basp_guard::check_payload(
            h, reinterpret_cast<const unsigned char*>(s.in.data() + pos + header_size), head);
        if (!why.empty()) {
          ++s.guard.refused;
          log_warning("basp guard: dropped the connection from {}: {}", s.peer, why);
          s.close();
          return;
        }
        pos += header_size;
        s.payload_left = len;
      }
      if (pos == 0) {
        // Only part of a header so far; a buffer always has room for one.
        s.read_client();
        return;
      }
      asio::async_write(s.upstream, asio::buffer(s.in.data(), pos),
                        [self, pos](const asio::error_code& ec, size_t) {
                          if (ec) {
                            self->close();
                            return;
                          }
                          auto& s = *self;
                          std::memmove(s.in.data(), s.in.data() + pos, s.have - pos);
                          s.have -= pos;
                          s.read_client();
                        });
    });
}

void session::learn_requests(const char* data, size_t n) {
  constexpr uint8_t direct_message = 2;
  size_t pos = 0;
  while (pos < n) {
    if (out_payload_left > 0) {
      auto take = std::min<uint64_t>(out_payload_left, n - pos);
      if (out_head_left > 0) {
        auto head = std::min<uint64_t>(out_head_left, take);
        out_head.append(data + pos, head);
        out_head_left -= head;
        if (out_head_left == 0)
          learn_answer();
      }
      pos += take;
      out_payload_left -= take;
      continue;
    }
    auto take = std::min(header_size - out_header_have, n - pos);
    std::memcpy(out_header.data() + out_header_have, data + pos, take);
    out_header_have += take;
    pos += take;
    if (out_header_have < header_size)
      break;
    out_header_have = 0;
    auto h = out_header.data();
    auto be = [h](int at, int len) {
      uint64_t v = 0;
      for (int i = 0; i < len; ++i)
        v = (v << 8) | h[at + i];
      return v;
    };
    out_payload_left = be(4, 4);
    auto op = be(8, 8);
    constexpr uint64_t response_flag = 0x8000000000000000ull;
    constexpr uint64_t request_id_mask = 0x0FFFFFFFFFFFFFFFull;
    if (h[0] != direct_message)
      continue;
    if (!authenticated && (op & response_flag) != 0 && out_payload_left > 0) {
      out_head.clear();
      out_head_left = std::min<uint64_t>(out_payload_left, payload_head);
    }
    // Bounded: a peer that never answers cannot make the guard grow without limit; the
    // oldest entries go (their answers are then refused, as if late).
    auto source = be(16, 8);
    if (view.introduced.size() < 4096)
      view.introduced.insert(source);
    if ((op & response_flag) == 0 && (op & request_id_mask) != 0) {
      if (view.awaiting.size() >= 4096)
        view.awaiting.erase(view.awaiting.begin());
      view.awaiting.insert({source, op & request_id_mask});
    }
  }
}

void session::read_upstream() {
  auto self = shared_from_this();
  if (authenticated && out.size() < buffer_size)
    out.resize(buffer_size);
  upstream.async_read_some(asio::buffer(out), [self](const asio::error_code& ec, size_t n) {
    if (ec) {
      self->close();
      return;
    }
    self->learn_requests(self->out.data(), n);
    asio::async_write(self->client, asio::buffer(self->out.data(), n),
                      [self](const asio::error_code& ec, size_t) {
                        if (ec) {
                          self->close();
                          return;
                        }
                        self->read_upstream();
                      });
  });
}

} // namespace

std::string basp_guard::check_header(const unsigned char* h, uint64_t max_payload,
                                     uint32_t& payload_len) {
  auto kind = h[0];
  payload_len = (uint32_t{h[4]} << 24) | (uint32_t{h[5]} << 16) | (uint32_t{h[6]} << 8)
                | uint32_t{h[7]};
  if (kind > last_kind)
    return "unknown BASP message kind " + std::to_string(kind);
  if (kind <= 3 && payload_len == 0)
    return "BASP message of kind " + std::to_string(kind) + " without the payload it needs";
  if (payload_len > max_payload)
    return "BASP payload of " + std::to_string(payload_len) + " bytes, more than "
           + std::to_string(max_payload);
  return {};
}

std::string basp_guard::check_destination(const unsigned char* h,
                                          const std::vector<uint64_t>& doors,
                                          peer_view& view) {
  constexpr uint8_t direct_message = 2, routed_message = 3, monitor_message = 4;
  constexpr uint8_t named_receiver_flag = 0x01;
  auto kind = h[0];
  if (doors.empty())
    return {};
  if (kind == routed_message)
    return "a routed BASP message (this broker routes nothing)";
  if (kind != direct_message && kind != monitor_message)
    return {};
  uint64_t dest = 0;
  for (int i = 24; i < 32; ++i)
    dest = (dest << 8) | h[i];
  uint64_t op = 0;
  for (int i = 8; i < 16; ++i)
    op = (op << 8) | h[i];
  constexpr uint64_t response_flag = 0x8000000000000000ull;
  constexpr uint64_t request_id_mask = 0x0FFFFFFFFFFFFFFFull;
  // caf::message_id's mailbox category: CAF files categories 2 and 3 in its stream queues and
  // reads every message there as a stream message, whatever it holds.
  if (kind == direct_message && ((op >> 60) & 3) >= 2)
    return "a BASP message for CAF's stream queues (this broker runs no streams)";
  if (kind == direct_message && (op & response_flag) != 0) {
    // An answer: only to a request this connection carried from the broker, and only once.
    if (view.awaiting.erase({dest, op & request_id_mask}) > 0)
      return {};
    return "a BASP response to actor " + std::to_string(dest) + " that asked this peer nothing";
  }
  if (kind == direct_message && (h[3] & named_receiver_flag) != 0) {
    // Every CAF node asks a new peer's spawn server for its "info" when it connects. That
    // actor can only spawn actor types registered by name, and a broker registers none; the
    // config server (which takes `put`) and every other name stay unreachable.
    if (dest == static_cast<uint64_t>(caf::atom("SpawnServ")))
      return {};
    return "a BASP message to a named actor";
  }
  for (auto d : doors)
    if (d == dest)
      return {};
  // A monitor request, or a message that is no request (CAF's spawn-server exchange on connect
  // answers so), for an actor that spoke to this peer first.
  bool request = (op & request_id_mask) != 0;
  if ((kind == monitor_message || !request) && view.introduced.count(dest) > 0)
    return {};
  return "a BASP message (kind " + std::to_string(kind) + ") to actor " + std::to_string(dest)
         + ", which is not this port's door";
}

std::string basp_guard::check_payload(const unsigned char* h, const unsigned char* p, size_t n) {
  constexpr uint8_t direct_message = 2;
  if (h[0] != direct_message || (h[8] & 0x80) != 0)
    return {}; // answers carry errors legitimately; only what the broker asked for passes
  // sink(forwarding_stack, msg): a varbyte count of stages (the broker forwards nothing, so
  // 0), then the message's begin_object (u16 0 and the type names as a varbyte-sized string).
  if (n < 1)
    return {};
  if (p[0] != 0)
    return "a BASP message with a forwarding stack (this broker forwards nothing)";
  if (n < 4 || p[1] != 0 || p[2] != 0)
    return {}; // CAF refuses such a message itself
  size_t len = p[3];
  if (len > 0x7f)
    return {}; // longer than every name below
  std::string names(reinterpret_cast<const char*>(p + 4), std::min(len, n - 4));
  // CAF's actors handle these system messages before any behaviour, from any sender: an
  // exit_msg with `kill`, or an error, makes the receiver quit, a down message ends what the
  // receiver watched.
  for (const char* system : {"@<>+@exit", "@<>+@down", "@<>+@error", "@<>+@timeout",
                             "@<>+@open_stream_msg", "@<>+@upstream_msg",
                             "@<>+@downstream_msg", "@<>+@group_down"})
    if (names == system)
      return "a CAF system message (" + names.substr(4) + ") from a peer";
  return {};
}

basp_guard::basp_guard(std::unique_ptr<impl> p) : impl_(std::move(p)) {
}

basp_guard::~basp_guard() {
  impl_->io.stop();
  if (impl_->thread.joinable())
    impl_->thread.join();
}

std::unique_ptr<basp_guard> basp_guard::start(const options& opts, std::string& error) {
  auto p = std::make_unique<impl>();
  p->opts = opts;
  asio::error_code ec;
  auto addr = asio::ip::make_address(opts.listen_host, ec);
  if (ec) {
    // A host name: resolve it once.
    tcp::resolver r(p->io);
    auto res = r.resolve(opts.listen_host, std::to_string(opts.listen_port), ec);
    if (ec || res.empty()) {
      error = "cannot resolve " + opts.listen_host + ": " + ec.message();
      return nullptr;
    }
    addr = res.begin()->endpoint().address();
  }
  tcp::endpoint ep(addr, opts.listen_port);
  p->acceptor.open(ep.protocol(), ec);
  if (!ec)
    p->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec)
    p->acceptor.bind(ep, ec);
  if (!ec)
    p->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    error = "cannot listen on " + opts.listen_host + ":" + std::to_string(opts.listen_port) + ": "
            + ec.message();
    return nullptr;
  }
  p->accept();
  auto* raw = p.get();
  p->thread = std::thread([raw] { raw->io.run(); });
  return std::unique_ptr<basp_guard>(new basp_guard(std::move(p)));
}

uint16_t basp_guard::port() const noexcept {
  asio::error_code ec;
  auto ep = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

uint64_t basp_guard::refused() const noexcept {
  return impl_->refused.load();
}

uint64_t basp_guard::over_limit() const noexcept {
  return impl_->over_limit.load();
}

uint64_t basp_guard::connections() const noexcept {
  return impl_->live.load();
}

} // namespace holdfast
