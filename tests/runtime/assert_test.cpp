#include "runtime/assert.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <cstdio>
#include <fcntl.h>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

namespace {

/// Runs `fn` in a child process with stderr captured; returns how it ended and what it wrote.
template <class F>
int run_in_child(F fn, std::string& err) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  auto pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // The abort must end the child as it would end a broker, not be reported by Catch's own
    // handler as a failure of this test in the child's copy of the runner.
    std::signal(SIGABRT, SIG_DFL);
    ::dup2(fds[1], 2);
    int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    ::close(fds[0]);
    fn();
    ::_exit(0);
  }
  ::close(fds[1]);
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof(buf))) > 0)
    err.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  return status;
}

} // namespace

TEST_CASE("a failed assertion logs where and why and aborts", "[assert]") {
  std::string err;
  auto status = run_in_child(
    [] {
      int written = 40, flushed = 42;
      HF_ASSERT(flushed <= written, "flushed {} past written {}", flushed, written);
    },
    err);
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGABRT);
  CHECK(err.find("assert_test.cpp:") != std::string::npos);
  CHECK(err.find("flushed <= written") != std::string::npos);
  CHECK(err.find("flushed 42 past written 40") != std::string::npos);
}

TEST_CASE("a holding assertion costs no formatting and lets the code go on", "[assert]") {
  int formatted = 0;
  auto state = [&formatted] {
    ++formatted;
    return 1;
  };
  for (int i = 0; i < 3; ++i)
    HF_ASSERT(i < 3, "i is {}", state());
  CHECK(formatted == 0);
}
