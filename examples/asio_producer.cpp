// The coroutine form for Asio applications: co_await async_send(...) inside an
// asio::awaitable, one io_context thread, sends awaited one after the other.
// usage: asio_producer HOST:PORT [TOPIC]

#include "client/client_asio.hpp"

#include <cstdio>
#include <string>

using namespace holdfast;

asio::awaitable<int> produce(client::producer& p, std::string topic) {
  int failures = 0;
  for (int i = 0; i < 5; ++i) {
    message msg;
    msg.topic = topic;
    std::string text = "asio Hello World #" + std::to_string(i);
    msg.body.assign(text.begin(), text.end());
    try {
      auto r = co_await client::async_send(p, std::move(msg), asio::use_awaitable);
      std::printf("asio    %-19s %s queue %d offset %llu\n", std::string(to_string(r.status)).c_str(),
                  r.msg_id.c_str(), r.queue_id, static_cast<unsigned long long>(r.queue_offset));
    } catch (const client::client_error& e) {
      ++failures;
      std::printf("asio    FAILED %s\n", e.what());
    }
  }
  co_return failures;
}

int main(int argc, char** argv) {
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
  asio::io_context io;
  int failures = -1;
  asio::co_spawn(io, produce(producer, topic), [&](std::exception_ptr e, int n) {
    failures = e ? 1 : n;
  });
  io.run();
  return failures == 0 ? 0 : 1;
}
