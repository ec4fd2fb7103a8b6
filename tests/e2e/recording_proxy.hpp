#pragma once

// A loopback TCP proxy that records what real clients send, for tests that replay or mutate
// real CAF BASP sessions (hostile_test.cpp, doors_test.cpp).

#include <arpa/inet.h>
#include <atomic>
#include <mutex>
#include <netinet/in.h>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace holdfast::e2e {

/// A TCP connection to 127.0.0.1:`port`; -1 when it is refused.
inline int connect_loopback(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

/// A loopback TCP proxy that forwards every connection to `upstream` and records, per
/// connection, what the client sent: real CAF BASP handshakes and messages, to mutate later.
class recording_proxy {
public:
  explicit recording_proxy(uint16_t upstream) : upstream_(upstream) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    ::listen(listen_fd_, 16);
    socklen_t len = sizeof(a);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~recording_proxy() {
    stop_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    ::close(listen_fd_);
    acceptor_.join();
    for (auto& t : pumps_)
      t.join();
  }
  uint16_t port() const {
    return port_;
  }
  /// What each connection's client sent so far.
  std::vector<std::string> sessions() {
    std::lock_guard guard{mtx_};
    return sessions_;
  }

private:
  void accept_loop() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0)
        continue;
      int c = ::accept(listen_fd_, nullptr, nullptr);
      if (c < 0)
        continue;
      int u = connect_loopback(upstream_);
      if (u < 0) {
        ::close(c);
        continue;
      }
      size_t idx;
      {
        std::lock_guard guard{mtx_};
        idx = sessions_.size();
        sessions_.emplace_back();
      }
      pumps_.emplace_back([this, c, u, idx] { pump(c, u, idx); });
    }
  }
  void pump(int c, int u, size_t idx) {
    char buf[65536];
    pollfd p[2] = {{c, POLLIN, 0}, {u, POLLIN, 0}};
    while (!stop_) {
      if (::poll(p, 2, 100) <= 0)
        continue;
      bool done = false;
      for (int i = 0; i < 2 && !done; ++i) {
        if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
          continue;
        auto n = ::read(p[i].fd, buf, sizeof(buf));
        if (n <= 0) {
          done = true;
          break;
        }
        if (i == 0) {
          std::lock_guard guard{mtx_};
          sessions_[idx].append(buf, static_cast<size_t>(n));
        }
        if (::write(i == 0 ? u : c, buf, static_cast<size_t>(n)) != n)
          done = true;
      }
      if (done)
        break;
    }
    ::close(c);
    ::close(u);
  }

  uint16_t upstream_;
  uint16_t port_ = 0;
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::vector<std::thread> pumps_;
  std::mutex mtx_;
  std::vector<std::string> sessions_;
};

} // namespace holdfast::e2e
