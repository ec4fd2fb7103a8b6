#include "runtime/secret.hpp"

#include <cstring>
#include <random>

namespace holdfast::secret {

namespace {

constexpr uint64_t rotl(uint64_t x, int b) noexcept {
  return (x << b) | (x >> (64 - b));
}

uint64_t load_le64(const uint8_t* p) noexcept {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i)
    v = (v << 8) | p[i];
  return v;
}

struct sip_state {
  uint64_t v0, v1, v2, v3;
  void round() noexcept {
    v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);
    v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;
    v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;
    v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);
  }
};

} // namespace

key random_key() {
  std::random_device rd; // /dev/urandom on Linux
  key k{};
  for (size_t i = 0; i < k.size(); i += 4) {
    auto r = rd();
    std::memcpy(k.data() + i, &r, 4);
  }
  return k;
}

uint64_t siphash(const key& k, const void* data, size_t len) noexcept {
  auto in = static_cast<const uint8_t*>(data);
  auto k0 = load_le64(k.data());
  auto k1 = load_le64(k.data() + 8);
  sip_state s{k0 ^ 0x736f6d6570736575ull, k1 ^ 0x646f72616e646f6dull,
              k0 ^ 0x6c7967656e657261ull, k1 ^ 0x7465646279746573ull};
  size_t full = len - len % 8;
  for (size_t i = 0; i < full; i += 8) {
    auto m = load_le64(in + i);
    s.v3 ^= m;
    s.round();
    s.round();
    s.v0 ^= m;
  }
  uint64_t b = static_cast<uint64_t>(len) << 56;
  for (size_t i = 0; i < len % 8; ++i)
    b |= static_cast<uint64_t>(in[full + i]) << (8 * i);
  s.v3 ^= b;
  s.round();
  s.round();
  s.v0 ^= b;
  s.v2 ^= 0xff;
  for (int i = 0; i < 4; ++i)
    s.round();
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

bool equal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size())
    return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

} // namespace holdfast::secret
