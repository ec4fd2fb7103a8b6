// Oneway send: no result and no retry; for data where speed beats certainty.
// usage: oneway_producer HOST:PORT [TOPIC]

#include "client/client.hpp"

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

int main(int argc, char** argv) {
  using namespace holdfast;
  client::producer_config cfg;
  cfg.broker = argc > 1 ? argv[1] : "127.0.0.1:10911";
  std::string topic = argc > 2 ? argv[2] : "demo";
  client::producer producer{cfg};
  try {
    producer.start();
  } catch (const client::client_error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  for (int i = 0; i < 5; ++i) {
    message msg;
    msg.topic = topic;
    std::string text = "oneway Hello World #" + std::to_string(i);
    msg.body.assign(text.begin(), text.end());
    producer.send_oneway(std::move(msg));
  }
  std::printf("oneway  5 messages handed over (no answers by design)\n");
  // Give the messages time to leave before the producer (and its connection) goes away.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  return 0;
}
