// Synchronous send (the seed's first listing): send() returns a SendResult or throws.
// usage: sync_producer HOST:PORT [TOPIC]

#include "client/client.hpp"

#include <cstdio>
#include <string>

int main(int argc, char** argv) {
  using namespace holdfast;
  client::producer_config cfg;
  cfg.broker = argc > 1 ? argv[1] : "127.0.0.1:10911";
  std::string topic = argc > 2 ? argv[2] : "demo";
  client::producer producer{cfg};
  try {
    producer.start();
    for (int i = 0; i < 5; ++i) {
      message msg;
      msg.topic = topic;
      std::string text = "Hello World #" + std::to_string(i);
      msg.body.assign(text.begin(), text.end());
      auto r = producer.send(msg);
      // Reaching the broker is not the same as being safe: check the status (the seed).
      std::printf("sync    %-19s %s queue %d offset %llu\n", std::string(to_string(r.status)).c_str(),
                  r.msg_id.c_str(), r.queue_id, static_cast<unsigned long long>(r.queue_offset));
    }
  } catch (const client::client_error& e) {
    std::fprintf(stderr, "send failed: %s\n", e.what());
    return 1;
  }
  return 0;
}
