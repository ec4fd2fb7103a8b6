// Pull consumer with a consumer group: process, then commit (at-least-once).
// usage: consumer HOST:PORT [TOPIC] [GROUP]

#include "client/client.hpp"

#include <chrono>
#include <cstdio>
#include <string>

int main(int argc, char** argv) {
  using namespace holdfast;
  client::consumer_config cfg;
  cfg.broker = argc > 1 ? argv[1] : "127.0.0.1:10911";
  cfg.topic = argc > 2 ? argv[2] : "demo";
  cfg.group = argc > 3 ? argv[3] : "example_group";
  cfg.from_beginning = true;
  cfg.poll_wait = std::chrono::milliseconds(1000);
  client::consumer consumer{cfg};
  try {
    consumer.start();
    size_t total = 0;
    for (;;) {
      auto msgs = consumer.poll(); // long poll: waits up to poll_wait for something new
      if (msgs.empty())
        break; // idle for a second: done for this example
      for (auto& m : msgs)
        std::printf("consume queue %d offset %llu %s: %.*s\n", m.queue_id,
                    static_cast<unsigned long long>(m.queue_offset), m.msg_id.c_str(),
                    static_cast<int>(m.body.size()), m.body.data());
      total += msgs.size();
      consumer.commit(msgs); // only after processing: a crash before this re-delivers
    }
    std::printf("consumed %zu messages\n", total);
  } catch (const client::client_error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
