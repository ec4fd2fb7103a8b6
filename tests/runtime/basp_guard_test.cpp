#include "runtime/basp_guard.hpp"

#include <catch2/catch.hpp>

#include <array>

using namespace holdfast;

namespace {

std::array<unsigned char, 32> header(uint8_t kind, uint32_t len) {
  std::array<unsigned char, 32> h{};
  h[0] = kind;
  h[4] = static_cast<unsigned char>(len >> 24);
  h[5] = static_cast<unsigned char>(len >> 16);
  h[6] = static_cast<unsigned char>(len >> 8);
  h[7] = static_cast<unsigned char>(len);
  return h;
}

} // namespace

TEST_CASE("the BASP guard passes well-formed headers and names what is wrong with others",
          "[basp_guard][hostile]") {
  uint32_t len = 0;
  // Kinds 0-3 carry a payload; monitor, down and heartbeat may come without one.
  CHECK(basp_guard::check_header(header(1, 200).data(), 1024, len).empty());
  CHECK(len == 200);
  CHECK(basp_guard::check_header(header(2, 1024).data(), 1024, len).empty());
  CHECK(basp_guard::check_header(header(6, 0).data(), 1024, len).empty());
  CHECK(basp_guard::check_header(header(4, 0).data(), 1024, len).empty());
  // What CAF 0.17.6 crashes on, or would allocate without bound for.
  for (uint8_t kind : {0, 1, 2, 3})
    CHECK(basp_guard::check_header(header(kind, 0).data(), 1024, len).find("without the payload")
          != std::string::npos);
  CHECK(basp_guard::check_header(header(7, 10).data(), 1024, len).find("unknown")
        != std::string::npos);
  CHECK(basp_guard::check_header(header(255, 10).data(), 1024, len).find("unknown")
        != std::string::npos);
  CHECK(basp_guard::check_header(header(2, 1025).data(), 1024, len).find("more than")
        != std::string::npos);
  CHECK(basp_guard::check_header(header(2, 0xffffffffu).data(), 1024, len).find("more than")
        != std::string::npos);
}
