// The main job of `scripts/demo`: a broker on the embedded default config, in this process, and
// a producer actor sending in each mode (sync, async, oneway), first with ASYNC_FLUSH (the
// default) and then with SYNC_FLUSH; then a read of everything back through the partition.
// The other examples do the same with separate processes talking over the middleman.

#include "actors/broker.hpp"
#include "client/producer.hpp"
#include "actors/wire/type_registry.hpp"
#include "config/loader.hpp"
#include "runtime/log.hpp"

#include <caf/all.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

using namespace holdfast;

namespace {

message make_message(const std::string& text) {
  message m;
  m.topic = "demo";
  m.body.assign(text.begin(), text.end());
  return m;
}

void print_result(const char* mode, const send_result& r) {
  std::printf("  %-6s %-20s %s queue=%d queue_offset=%llu commit_log_offset=%llu\n", mode,
              std::string(to_string(r.status)).c_str(), r.msg_id.c_str(), r.queue_id,
              static_cast<unsigned long long>(r.queue_offset),
              static_cast<unsigned long long>(r.commit_log_offset));
}

int run(caf::actor_system& sys, const std::string& dir, const char* flush) {
  auto loaded = config::load_broker_config(
    std::nullopt, {"storePathRootDir=\"" + dir + "\"", std::string("flushDiskType=\"") + flush + "\""});
  if (!loaded.ok()) {
    std::fprintf(stderr, "%s\n", loaded.error_text().c_str());
    return 1;
  }
  auto b = start_broker(sys, loaded.config, posix_fs());
  if (!b) {
    std::fprintf(stderr, "cannot start broker: %s\n", sys.render(b.error()).c_str());
    return 1;
  }
  std::printf("\nbroker: flushDiskType=%s brokerRole=%s store=%s\n", flush,
              std::string(config::to_string(loaded.config.broker_role)).c_str(), dir.c_str());
  auto prod = sys.spawn(producer, b->client_door, producer_options{});
  caf::scoped_actor self{sys};
  int failures = 0;

  // Sync send: wait for the SendResult (or an error once the retries are used up).
  for (int i = 0; i < 3; ++i)
    self->request(prod, std::chrono::seconds(10), make_message("sync #" + std::to_string(i)))
      .receive([](send_result& r) { print_result("sync", r); },
               [&](caf::error& e) {
                 ++failures;
                 std::printf("  sync   ERROR %s\n", describe(e).c_str());
               });

  // Async send: fire three, then collect the callbacks as they come.
  for (int i = 0; i < 3; ++i)
    self->send(prod, make_message("async #" + std::to_string(i)));
  for (int i = 0; i < 3; ++i)
    self->receive([](send_result& r) { print_result("async", r); },
                  [&](caf::error& e) {
                    ++failures;
                    std::printf("  async  ERROR %s\n", describe(e).c_str());
                  });

  // Oneway: nobody waits for the answer.
  for (int i = 0; i < 3; ++i)
    caf::anon_send(prod, make_message("oneway #" + std::to_string(i)));

  // Read the topic back, as a consumer would (only what is confirmed).
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  size_t total = 0;
  for (int32_t q = 0; q < static_cast<int32_t>(loaded.config.default_topic_queue_nums); ++q) {
    pull_req req{"demo", q, 0, 100};
    self->request(b->client_door, std::chrono::seconds(5), req)
      .receive([&](pull_reply& r) { total += r.msgs.size(); },
               [&](caf::error& e) { std::printf("  pull ERROR %s\n", describe(e).c_str()); });
  }
  std::printf("  read back %zu messages from topic 'demo' (9 sent in this run)\n", total);
  self->send_exit(prod, caf::exit_reason::user_shutdown);
  bool clean = stop_broker(sys, *b);
  std::printf("  broker stopped %s\n", clean ? "cleanly (marker written)" : "UNCLEANLY");
  return failures == 0 && total >= 9 ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
  std::string root = argc > 1 ? argv[1] : "build/demo-data";
  std::filesystem::remove_all(root);
  set_log_level(log_level::warning);
  caf::actor_system_config cfg;
  register_types(cfg);
  caf::actor_system sys{cfg};
  std::printf("Holdfast demo: in-process broker, producer actor, each send mode\n");
  int rc = run(sys, root + "/async", "ASYNC_FLUSH");
  rc |= run(sys, root + "/sync", "SYNC_FLUSH");
  std::printf("\n%s\n", rc == 0 ? "demo OK" : "demo FAILED");
  return rc;
}
