#pragma once

// Shared set-up for actor tests: a temp directory, an actor system with our types, and a broker
// config pointing into the directory.

#include "actors/broker.hpp"
#include "actors/wire/type_registry.hpp"
#include "config/loader.hpp"
#include "runtime/log.hpp"

#include <caf/all.hpp>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace holdfast::test {

/// A fresh directory under /tmp, removed with everything in it when the object dies.
class scratch_dir {
public:
  scratch_dir() {
    char tmpl[] = "/tmp/holdfast-test.XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~scratch_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const {
    return path_;
  }

private:
  std::string path_;
};

/// An actor system config with every Holdfast type registered.
struct test_system_config : caf::actor_system_config {
  test_system_config() {
    register_types(*this);
    set("scheduler.max-threads", 2);
    set("logger.console", caf::atom("none"));
  }
};

/// The broker config for tests: defaults, the store in `dir`, then `extra` overrides.
inline config::broker_config broker_config_for(const std::string& dir,
                                               std::vector<std::string> extra = {}) {
  extra.insert(extra.begin(), "storePathRootDir=\"" + dir + "\"");
  auto r = config::load_broker_config(std::nullopt, extra);
  if (!r.ok())
    throw std::runtime_error(r.error_text());
  return r.config;
}

/// A broker started on a fresh directory (through `fs`, the real file system by default), with
/// its actor system; stopped cleanly at the end of the test unless the test stopped it.
class broker_fixture {
public:
  explicit broker_fixture(std::vector<std::string> extra = {}, file_system& fs = posix_fs()) {
    auto started = start_broker(sys, broker_config_for(dir.path(), std::move(extra)), fs);
    if (!started)
      throw std::runtime_error(sys.render(started.error()));
    b = std::move(*started);
  }
  ~broker_fixture() {
    if (b.partition)
      stop_broker(sys, b);
  }
  /// Stops the broker now; true when the clean-shutdown marker was written.
  bool stop() {
    return stop_broker(sys, b);
  }

  scratch_dir dir;
  test_system_config cfg;
  caf::actor_system sys{cfg};
  broker_handles b;
};

inline message text_message(std::string topic, const std::string& id, std::string body) {
  message m;
  m.topic = std::move(topic);
  m.msg_id = id;
  m.body.assign(body.begin(), body.end());
  return m;
}

} // namespace holdfast::test
