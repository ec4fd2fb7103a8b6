// libFuzzer target: arbitrary text -> the broker config loader (see tests/fuzz/fuzz_entry.hpp).
#include "tests/fuzz/fuzz_entry.hpp"

#include <cstdio>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto err = holdfast::fuzz::config_one({reinterpret_cast<const char*>(data), size});
  if (!err.empty()) {
    std::fprintf(stderr, "invariant broken: %s\n", err.c_str());
    std::abort();
  }
  return 0;
}
