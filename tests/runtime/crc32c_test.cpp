#include "runtime/crc32c.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>

using namespace holdfast;

TEST_CASE("crc32c of the standard check string is 0xE3069283", "[codec]") {
  std::string s = "123456789";
  CHECK(crc32c::value(s.data(), s.size()) == 0xE3069283u);
}

TEST_CASE("crc32c of nothing is zero and of 32 zero bytes is the published vector", "[codec]") {
  // RFC 3720 (iSCSI) appendix B.4: 32 bytes of zeros -> 0x8A9136AA.
  std::string zeros(32, '\0');
  CHECK(crc32c::value(zeros.data(), 0) == 0u);
  CHECK(crc32c::value(zeros.data(), zeros.size()) == 0x8A9136AAu);
}

TEST_CASE("masking a crc and unmasking it gives the crc back", "[codec]") {
  auto crc = GENERATE(0u, 1u, 0xE3069283u, 0xFFFFFFFFu, 0x12345678u, crc32c::mask_delta);
  CAPTURE(crc);
  CHECK(crc32c::unmask(crc32c::mask(crc)) == crc);
  // The mask must actually change the value, or storing it masked would be pointless.
  CHECK(crc32c::mask(crc) != crc);
}

TEST_CASE("extending a crc piece by piece equals the crc of the whole", "[codec]") {
  // Lengths around the 8-byte stride of the SSE4.2 path, so both loops are exercised.
  std::string data;
  for (int i = 0; i < 1000; ++i)
    data.push_back(static_cast<char>((i * 131 + 7) & 0xff));
  auto whole = crc32c::value(data.data(), data.size());
  auto piece = GENERATE(as<size_t>{}, 1, 3, 7, 8, 9, 64, 999);
  CAPTURE(piece);
  uint32_t crc = 0;
  for (size_t pos = 0; pos < data.size(); pos += piece) {
    auto n = std::min(piece, data.size() - pos);
    crc = crc32c::extend(crc, data.data() + pos, n);
  }
  CHECK(crc == whole);
}

TEST_CASE("crc32c notices a single flipped bit", "[codec]") {
  std::string data(100, 'x');
  auto before = crc32c::value(data.data(), data.size());
  auto bit = GENERATE(0, 7, 400, 799);
  data[bit / 8] = static_cast<char>(data[bit / 8] ^ (1 << (bit % 8)));
  CHECK(crc32c::value(data.data(), data.size()) != before);
}
