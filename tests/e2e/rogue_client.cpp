// A client that tries to use other producers' ids: the test helper of idempotence_test.cpp's
// "another client cannot pre-empt a producer's stream". It says hello like any client, then
// sends a message stamped with each producer id just below its own (the broker hands ids out
// in order, so those are other clients'), with a sequence number far ahead. If a refusal tells
// the number the stream expects, it sends again with that number, which would make the real
// producer's next send count as a duplicate and never be stored. Prints one line per attempt.
//
//   rogue_client HOST:PORT TOPIC
//
// With `flood N` it instead sends N appends at once without waiting for any answer (the
// helper of hostile_test.cpp's maxRequestsPerClient case), then waits up to 20 s for the
// answers and prints `busy B answered A`.
//
//   rogue_client HOST:PORT TOPIC flood N

#include "actors/wire/client_wire.hpp"
#include "actors/wire/connect.hpp"
#include "actors/wire/type_registry.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <cstdio>
#include <cstdlib>
#include <regex>
#include <string>

using namespace holdfast;

namespace {

std::string attempt(caf::scoped_actor& self, const client_door_actor& door,
                    const std::string& topic, uint64_t pid, uint64_t sequence) {
  message m;
  m.topic = topic;
  m.msg_id = "rogue-" + std::to_string(pid) + "-" + std::to_string(sequence);
  m.body = {'x'};
  m.producer_id = pid;
  m.sequence = sequence;
  append_req req{{m}};
  std::string out;
  self->request(door, std::chrono::seconds(10), req)
    .receive([&](append_reply&) { out = "STORED"; },
             [&](caf::error& e) { out = "ERROR " + describe(e); });
  return out;
}

} // namespace

int flood(caf::actor_system& sys, const client_door_actor& door, const std::string& topic,
          int n) {
  caf::scoped_actor self{sys};
  self->request(door, std::chrono::seconds(10), hello_req{"flood", "", {}, false})
    .receive([](hello_reply&) {}, [](caf::error&) {});
  for (int i = 0; i < n; ++i) {
    message m;
    m.topic = topic;
    m.msg_id = "flood-" + std::to_string(i);
    m.body = {'x'};
    self->send(door, append_req{{m}});
  }
  int busy = 0, answered = 0;
  for (int i = 0; i < n; ++i) {
    bool timed_out = false;
    self->receive([&](append_reply&) { ++answered; },
                  [&](caf::error& e) {
                    ++answered;
                    if (is(e, broker_errc::busy))
                      ++busy;
                  },
                  caf::after(std::chrono::seconds(20)) >> [&] { timed_out = true; });
    if (timed_out)
      break;
  }
  std::printf("busy %d answered %d\n", busy, answered);
  std::fflush(stdout);
  return 0;
}

int main(int argc, char** argv) {
  if (argc != 3 && !(argc == 5 && std::string(argv[3]) == "flood")) {
    std::fprintf(stderr, "usage: rogue_client HOST:PORT TOPIC [flood N]\n");
    return 2;
  }
  caf::actor_system_config cfg;
  register_types(cfg);
  cfg.load<caf::io::middleman>();
  cfg.set("logger.console", caf::atom("none"));
  caf::actor_system sys{cfg};
  auto door = connect_blocking<client_door_actor>(sys, argv[1]);
  if (!door) {
    std::fprintf(stderr, "rogue_client: %s\n", sys.render(door.error()).c_str());
    return 1;
  }
  if (argc == 5)
    return flood(sys, *door, argv[2], std::atoi(argv[4]));
  caf::scoped_actor self{sys};
  hello_reply hello;
  self->request(*door, std::chrono::seconds(10), hello_req{"rogue", "", {}, false})
    .receive([&](hello_reply& r) { hello = r; }, [](caf::error&) {});
  std::printf("own %llu\n", static_cast<unsigned long long>(hello.producer_id));
  std::regex expected{"expected sequence ([0-9]+)"};
  for (uint64_t k = 1; k <= 16 && k < hello.producer_id; ++k) {
    auto victim = hello.producer_id - k;
    auto r = attempt(self, *door, argv[2], victim, uint64_t{1} << 20);
    std::printf("victim %llu: %s\n", static_cast<unsigned long long>(victim), r.c_str());
    std::smatch m;
    if (std::regex_search(r, m, expected)) {
      auto seq = std::stoull(m[1].str());
      auto again = attempt(self, *door, argv[2], victim, seq);
      std::printf("preempt %llu at %llu: %s\n", static_cast<unsigned long long>(victim),
                  static_cast<unsigned long long>(seq), again.c_str());
    }
  }
  std::fflush(stdout);
  return 0;
}
