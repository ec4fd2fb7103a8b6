// libFuzzer target: arbitrary text -> the broker set's ZooKeeper node decoders (see
// tests/fuzz/fuzz_entry.hpp).
#include "tests/fuzz/fuzz_entry.hpp"

#include <cstdio>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto err = holdfast::fuzz::set_state_one({reinterpret_cast<const char*>(data), size});
  if (!err.empty()) {
    std::fprintf(stderr, "invariant broken: %s\n", err.c_str());
    std::abort();
  }
  return 0;
}
