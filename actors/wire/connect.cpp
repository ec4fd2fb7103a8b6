#include "actors/wire/connect.hpp"

namespace holdfast {

bool parse_address(const std::string& addr, std::string& host, uint16_t& port) {
  auto colon = addr.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == addr.size())
    return false;
  host = addr.substr(0, colon);
  auto p = addr.substr(colon + 1);
  unsigned long v = 0;
  for (char c : p) {
    if (c < '0' || c > '9')
      return false;
    v = v * 10 + static_cast<unsigned long>(c - '0');
    if (v > 65535)
      return false;
  }
  port = static_cast<uint16_t>(v);
  return port != 0;
}

} // namespace holdfast
