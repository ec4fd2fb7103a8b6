// holdfast: the command-line tool. Sub-commands: bench (more arrive with issue #3).

#include "tools/bench.hpp"

#include <cstdio>
#include <string>
#include <vector>

namespace {

constexpr const char* usage = R"(usage: holdfast <command> [options]

commands:
  bench     measure send throughput and latency (see `holdfast bench --help`)
)";

} // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(usage, stderr);
    return 2;
  }
  std::string cmd = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  if (cmd == "bench")
    return holdfast::tools::run_bench(args);
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    std::fputs(usage, stdout);
    return 0;
  }
  std::fprintf(stderr, "holdfast: unknown command '%s'\n%s", cmd.c_str(), usage);
  return 2;
}
