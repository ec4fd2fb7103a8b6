// Asynchronous send (the seed's second listing): returns at once; one callback per send.
// usage: async_producer HOST:PORT [TOPIC]

#include "client/client.hpp"

#include <cstdio>
#include <latch>
#include <mutex>
#include <string>

int main(int argc, char** argv) {
  using namespace holdfast;
  client::producer_config cfg;
  cfg.broker = argc > 1 ? argv[1] : "127.0.0.1:10911";
  cfg.retry_times_when_send_async_failed = 3;
  std::string topic = argc > 2 ? argv[2] : "demo";
  client::producer producer{cfg};
  try {
    producer.start();
  } catch (const client::client_error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  constexpr int n = 5;
  std::latch done{n};
  std::mutex out;
  int failures = 0;
  for (int i = 0; i < n; ++i) {
    message msg;
    msg.topic = topic;
    std::string text = "async Hello World #" + std::to_string(i);
    msg.body.assign(text.begin(), text.end());
    producer.send(
      std::move(msg),
      [&](const send_result& r) {
        std::lock_guard guard{out};
        std::printf("async   %-19s %s queue %d offset %llu\n",
                    std::string(to_string(r.status)).c_str(), r.msg_id.c_str(), r.queue_id,
                    static_cast<unsigned long long>(r.queue_offset));
        done.count_down();
      },
      [&](std::exception_ptr e) {
        // The seed: persist the failed message and compensate later. Here we report it.
        std::lock_guard guard{out};
        ++failures;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& x) {
          std::printf("async   FAILED %s\n", x.what());
        }
        done.count_down();
      });
  }
  done.wait();
  return failures == 0 ? 0 : 1;
}
