// An application built of actors: three "order service" actors each request sends from the
// Holdfast producer actor, and a reporter actor collects the outcomes. The producer actor
// batches the sends that arrive together and retries failed ones with the same message id.
// usage: actor_producer_app HOST:PORT [TOPIC]

#include "actors/wire/connect.hpp"
#include "client/producer.hpp"
#include "actors/wire/type_registry.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <cstdio>
#include <string>

using namespace holdfast;

namespace {

using report_atom = caf::atom_constant<caf::atom("report")>;

// One order service: places `n` orders, each a message to the broker via the producer actor.
caf::behavior order_service(caf::event_based_actor* self, std::string name, producer_actor prod,
                            std::string topic, int n, caf::actor reporter) {
  for (int i = 0; i < n; ++i) {
    message msg;
    msg.topic = topic;
    msg.properties["service"] = name;
    std::string body = name + " order #" + std::to_string(i);
    msg.body.assign(body.begin(), body.end());
    self->request(prod, std::chrono::seconds(10), std::move(msg))
      .then(
        [=](send_result& r) {
          self->send(reporter, report_atom::value, name + " " + std::string(to_string(r.status))
                                                     + " " + r.msg_id);
        },
        [=](caf::error& e) { self->send(reporter, report_atom::value, name + " FAILED " + describe(e)); });
  }
  return {[](caf::unit_t) {}};
}

} // namespace

int main(int argc, char** argv) {
  std::string addr = argc > 1 ? argv[1] : "127.0.0.1:10911";
  std::string topic = argc > 2 ? argv[2] : "demo";
  std::string host;
  uint16_t port = 0;
  if (!parse_address(addr, host, port)) {
    std::fprintf(stderr, "usage: actor_producer_app HOST:PORT [TOPIC]\n");
    return 2;
  }
  caf::actor_system_config cfg;
  register_types(cfg);
  cfg.load<caf::io::middleman>();
  caf::actor_system sys{cfg};
  auto broker = connect_blocking<client_door_actor>(sys, addr);
  if (!broker) {
    std::fprintf(stderr, "cannot connect to %s: %s\n", addr.c_str(), sys.render(broker.error()).c_str());
    return 1;
  }
  producer_options opts;
  opts.broker_address = addr;
  opts.client_id = "actor_producer_app";
  auto prod = sys.spawn(producer, *broker, opts);
  constexpr int services = 3, orders = 4;
  caf::scoped_actor reporter{sys};
  for (int s = 0; s < services; ++s)
    sys.spawn(order_service, "service-" + std::to_string(s), prod, topic, orders,
              caf::actor{reporter});
  int failed = 0;
  for (int i = 0; i < services * orders; ++i)
    reporter->receive([&](report_atom, const std::string& line) {
      std::printf("actors  %s\n", line.c_str());
      failed += line.find("FAILED") != std::string::npos;
    });
  reporter->send_exit(prod, caf::exit_reason::user_shutdown);
  return failed == 0 ? 0 : 1;
}
