// holdfast: the command-line tool.

#include "tools/commands.hpp"

#include <cstdio>
#include <string>
#include <vector>

namespace {

constexpr const char* usage = R"(usage: holdfast <command> [options]

commands:
  produce   send messages to a broker (`holdfast produce --help`)
  consume   consume a topic with a consumer group
  verify    check a topic against an --acked file of `produce`
  status    show a broker's role, offsets and topics
  bench     measure send throughput and latency
  admin     administer a broker: `holdfast admin updateTopic ...` (`holdfast admin --help`)
)";

} // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(usage, stderr);
    return 2;
  }
  std::string cmd = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  using namespace holdfast::tools;
  if (cmd == "bench")
    return run_bench(args);
  if (cmd == "produce")
    return run_produce(args);
  if (cmd == "consume")
    return run_consume(args);
  if (cmd == "verify")
    return run_verify(args);
  if (cmd == "status")
    return run_status(args);
  if (cmd == "admin")
    return run_admin(args);
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    std::fputs(usage, stdout);
    return 0;
  }
  std::fprintf(stderr, "holdfast: unknown command '%s'\n%s", cmd.c_str(), usage);
  return 2;
}
