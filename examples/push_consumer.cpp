// Push consumer (RocketMQ's DefaultMQPushConsumer shape): register a listener, start; the
// library pulls, calls the listener and commits. A message whose body starts with "fail" is
// answered RECONSUME_LATER: it comes back through %RETRY%<group> after a delay, and after
// maxReconsumeTimes (2 here) ends in %DLQ%<group>.
// usage: push_consumer HOST:PORT [TOPIC] [GROUP] [IDLE_SECONDS]

#include "client/client.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

int main(int argc, char** argv) {
  using namespace holdfast;
  client::push_consumer_config cfg;
  cfg.broker = argc > 1 ? argv[1] : "127.0.0.1:10911";
  cfg.topic = argc > 2 ? argv[2] : "demo";
  cfg.group = argc > 3 ? argv[3] : "push_example_group";
  auto idle = std::chrono::seconds(argc > 4 ? std::atoi(argv[4]) : 3);
  cfg.from_beginning = true;
  cfg.max_reconsume_times = 2;
  std::atomic<long> calls{0};
  client::push_consumer consumer{cfg};
  consumer.register_message_listener([&](const stored_message& m) {
    ++calls;
    std::string body(m.body.begin(), m.body.end());
    auto times = m.properties.count("RECONSUME_TIME") ? m.properties.at("RECONSUME_TIME") : "0";
    std::printf("consume %s queue %d offset %llu reconsumeTimes %s: %s\n", m.topic.c_str(),
                m.queue_id, static_cast<unsigned long long>(m.queue_offset), times.c_str(),
                body.c_str());
    std::fflush(stdout);
    return body.rfind("fail", 0) == 0 ? client::consume_status::reconsume_later
                                      : client::consume_status::consume_success;
  });
  try {
    consumer.start();
  } catch (const client::client_error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  // Runs until nothing was consumed for IDLE_SECONDS.
  for (long last = -1; last != calls.load();) {
    last = calls.load();
    std::this_thread::sleep_for(idle);
  }
  consumer.shutdown();
  auto s = consumer.statistics();
  std::printf("consumed %llu, sent back %llu, dead letters %llu\n",
              static_cast<unsigned long long>(s.consumed),
              static_cast<unsigned long long>(s.sent_back),
              static_cast<unsigned long long>(s.dead_lettered));
  return 0;
}
