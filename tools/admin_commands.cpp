// holdfast admin <verb>: broker administration (RocketMQ's mqadmin verbs and names). One table
// of verbs, so a new one is a function and a row; see docs/cli.md.

#include "client/client.hpp"
#include "runtime/log.hpp"
#include "tools/commands.hpp"

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace holdfast::tools {

namespace {

constexpr const char* update_topic_usage =
  R"(usage: holdfast admin updateTopic --broker HOST:PORT --topic T --queues N [--auth-token TOKEN]
                                   [--tls --tls-ca FILE --tls-cert FILE --tls-key FILE]

Creates topic T with N queues (1 to 1024), or grows it to N queues; existing queues keep their
messages. Shrinking a topic is refused. Prints the topic's queue count once the broker has made
it durable. Needed when the broker runs with autoCreateTopicEnable = false.
)" HOLDFAST_TLS_USAGE;

int update_topic(const std::vector<std::string>& args) {
  flag_parser p{"admin updateTopic", args, update_topic_usage};
  auto broker = p.get("--broker");
  auto topic = p.get("--topic");
  auto queues = p.get_int("--queues", 0, 1, 1024);
  auto token = p.get("--auth-token");
  auto tls = p.get_tls();
  p.done();
  if (broker.empty() || topic.empty() || queues == 0) {
    std::fprintf(stderr, "holdfast admin updateTopic: --broker, --topic and --queues are "
                         "required\n%s",
                 update_topic_usage);
    return 2;
  }
  set_log_level(log_level::warning);
  try {
    auto n = client::update_topic(broker, topic, static_cast<int32_t>(queues),
                                  std::chrono::seconds(30), token, tls);
    std::printf("topic %s queues %d\n", topic.c_str(), n);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "holdfast admin updateTopic: %s\n", e.what());
    return 1;
  }
}

struct verb {
  const char* name;
  const char* summary;
  int (*run)(const std::vector<std::string>& args);
};

constexpr verb verbs[] = {
  {"updateTopic", "create a topic or grow its queue count", update_topic},
};

void print_usage(std::FILE* out) {
  std::fputs("usage: holdfast admin <verb> [options]   (`holdfast admin <verb> --help`)\n\nverbs:\n",
             out);
  for (auto& v : verbs)
    std::fprintf(out, "  %-12s %s\n", v.name, v.summary);
}

} // namespace

int run_admin(const std::vector<std::string>& args) {
  if (args.empty()) {
    print_usage(stderr);
    return 2;
  }
  if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    print_usage(stdout);
    return 0;
  }
  for (auto& v : verbs)
    if (args[0] == v.name)
      return v.run(std::vector<std::string>(args.begin() + 1, args.end()));
  std::fprintf(stderr, "holdfast admin: unknown verb '%s'\n", args[0].c_str());
  print_usage(stderr);
  return 2;
}

} // namespace holdfast::tools
