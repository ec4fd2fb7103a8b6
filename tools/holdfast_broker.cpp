// holdfast-broker: the broker daemon. Loads the config (embedded defaults when no file is given),
// recovers the store, spawns the actors and publishes the partition with the CAF middleman.
// SIGTERM/SIGINT: stop accepting, flush, write the clean-shutdown marker, exit 0.
// For testing only (scripts/reliability-matrix): --fault-fs runs the store on the
// fault-injecting file system, and SIGUSR1 then simulates a power cut of this machine.

#include "actors/broker.hpp"
#include "actors/wire/type_registry.hpp"
#include "config/loader.hpp"
#include "actors/basp_guard.hpp"
#include "runtime/fault_fs.hpp"
#include "runtime/log.hpp"

#include <memory>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <chrono>
#include <algorithm>
#include <csignal>
#include <sys/resource.h>
#include <cstdlib>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <pthread.h>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

constexpr const char* usage = R"(usage: holdfast-broker [--config FILE] [--set key=value]... [--print-config]
                       [--config-reference] [--help]

  --config FILE         broker config in TOML (keys: docs/config.md); defaults when omitted
  --set key=value       override one key; the value is TOML (a plain string if it is not TOML)
  --print-config        print the effective config as TOML and exit
  --config-reference    print the generated config reference (docs/config.md) and exit

For testing only (fault injection, see docs/cli.md): --fault-fs (SIGUSR1: power cut, SIGUSR2:
  the disk stalls from then on), --fault-fs-sync-delay-ms MS,
  --fault-drop-replies N (store every batch but drop the reply to every Nth: producers retry)
)";

// A published door: the actor, the middleman's port and, with baspGuard, the guard in front.
struct door {
  caf::actor actor; ///< for unpublish
  uint16_t mm_port = 0;
  uint16_t port = 0; ///< where peers connect
  std::unique_ptr<holdfast::basp_guard> guard;
};

// With baspGuard the middleman listens on loopback only and peers reach it through the guard,
// which drops a connection at its first malformed frame (CAF 0.17.6 crashes on some) and at
// the first message addressed to anything but this door (docs/hostile-input.md).
// Published with its typed handle: peers check the door's interface on connect.
template <class Handle>
std::optional<door> open_door(caf::actor_system& sys, const Handle& actor, const char* what,
                              const char* auth_reply, const holdfast::config::broker_config& cfg,
                              uint16_t port) {
  using namespace holdfast;
  door d;
  d.actor = caf::actor_cast<caf::actor>(actor);
  auto host = cfg.basp_guard ? std::string("127.0.0.1") : cfg.listen_host;
  auto published = sys.middleman().publish(actor, cfg.basp_guard ? 0 : port, host.c_str(), true);
  if (!published) {
    log_error("holdfast-broker: cannot listen for the {} door on {}:{}: {}", what, host,
              cfg.basp_guard ? 0 : port, sys.render(published.error()));
    return std::nullopt;
  }
  d.mm_port = *published;
  d.port = *published;
  if (cfg.basp_guard) {
    basp_guard::options go;
    go.listen_host = cfg.listen_host;
    go.listen_port = port;
    go.target_port = *published;
    go.max_payload = std::max<uint64_t>(256ull << 20, 4 * cfg.max_message_size + (1u << 20));
    go.doors = {d.actor.id()};
    go.auth_replies = {auth_reply};
    go.auth_timeout_ms = static_cast<uint32_t>(cfg.auth_timeout.count());
    go.max_connections = cfg.max_connections;
    std::string guard_error;
    d.guard = basp_guard::start(go, guard_error);
    if (!d.guard) {
      log_error("holdfast-broker: {} door: {}", what, guard_error);
      (void) sys.middleman().unpublish(d.actor, d.mm_port);
      return std::nullopt;
    }
    d.port = d.guard->port();
  }
  return d;
}

void close_doors(caf::actor_system& sys, std::vector<door>& doors) {
  for (auto& d : doors) {
    (void) sys.middleman().unpublish(d.actor, d.mm_port);
    d.guard.reset();
  }
  doors.clear();
}

} // namespace

int main(int argc, char** argv) {
  using namespace holdfast;
  std::optional<std::string> path;
  std::vector<std::string> overrides;
  bool print_config = false;
  broker_faults faults;
  bool use_fault_fs = false;
  long long sync_delay_ms = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* flag) -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "holdfast-broker: %s needs a value\n%s", flag, usage);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--config")
      path = value("--config");
    else if (a == "--set")
      overrides.push_back(value("--set"));
    else if (a.rfind("--set=", 0) == 0)
      overrides.push_back(a.substr(6));
    else if (a == "--fault-drop-replies") {
      auto v = value("--fault-drop-replies");
      char* end = nullptr;
      auto n = std::strtoul(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || n == 0 || n > 1000000) {
        std::fprintf(stderr, "holdfast-broker: --fault-drop-replies needs a number in [1, 1000000]\n");
        return 2;
      }
      faults.drop_replies_every = static_cast<uint32_t>(n);
    } else if (a == "--fault-fs")
      use_fault_fs = true;
    else if (a == "--fault-fs-sync-delay-ms") {
      auto v = value("--fault-fs-sync-delay-ms");
      char* end = nullptr;
      sync_delay_ms = std::strtoll(v.c_str(), &end, 10);
      if (end == v.c_str() || *end != '\0' || sync_delay_ms < 0 || sync_delay_ms > 600000) {
        std::fprintf(stderr, "holdfast-broker: --fault-fs-sync-delay-ms takes 0..600000\n%s",
                     usage);
        return 2;
      }
      use_fault_fs = true;
    } else if (a == "--print-config")
      print_config = true;
    else if (a == "--config-reference") {
      std::cout << config::reference_markdown();
      return 0;
    } else if (a == "--help" || a == "-h") {
      std::cout << usage;
      return 0;
    } else {
      std::fprintf(stderr, "holdfast-broker: unknown argument '%s'\n%s", a.c_str(), usage);
      return 2;
    }
  }
  auto loaded = config::load_broker_config(path, overrides);
  if (!loaded.ok()) {
    std::fprintf(stderr, "holdfast-broker: invalid configuration, not starting:\n%s\n",
                 loaded.error_text().c_str());
    return 2;
  }
  auto& cfg = loaded.config;
  if (print_config) {
    std::cout << config::to_toml(cfg);
    return 0;
  }

  // Each queue keeps its index file open: under a soft limit of 1024 (Debian's default) a
  // broker with a few hundred topics fails its sends and cannot even restart. The hard limit is
  // what the operator allowed us; start scripts of Kafka and RocketMQ raise it the same way.
  if (rlimit nofile{}; ::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    auto soft = nofile.rlim_cur;
    nofile.rlim_cur = nofile.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &nofile) == 0)
      log_info("holdfast-broker: open file limit raised from {} to {}", soft, nofile.rlim_max);
  }

  // Block the stop signals in every thread (CAF's included) so sigwait below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  if (use_fault_fs)
    sigaddset(&stop_signals, SIGUSR1);
  if (use_fault_fs)
    sigaddset(&stop_signals, SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  caf::actor_system_config sys_cfg;
  register_types(sys_cfg);
  sys_cfg.load<caf::io::middleman>();
  sys_cfg.set("logger.console", caf::atom("none"));
  caf::actor_system sys{sys_cfg};

  // The fault FS outlives the actor system: the store's files keep pointing into it.
  std::unique_ptr<fault_fs> faulty;
  if (use_fault_fs) {
    faulty = std::make_unique<fault_fs>(std::random_device{}());
    faulty->set_sync_delay(std::chrono::milliseconds(sync_delay_ms));
    log_warning("holdfast-broker: running on the fault-injecting file system (testing only; "
                "SIGUSR1 = power cut)");
  }
  auto started = start_broker(sys, cfg, faulty ? static_cast<file_system&>(*faulty) : posix_fs(), faults);
  if (!started) {
    log_error("holdfast-broker: {}", sys.render(started.error()));
    return 1;
  }
  auto& b = *started;
  auto ha_port = config::ha_listen_port_of(cfg);
  std::vector<door> doors;
  auto client = open_door(sys, b.client_door, "client", "holdfast::hello_reply", cfg,
                          cfg.listen_port);
  if (!client) {
    stop_broker(sys, b);
    return 1;
  }
  doors.push_back(std::move(*client));
  auto replication = open_door(sys, b.replication_door, "replication",
                               "holdfast::ha_hello_reply", cfg, ha_port);
  if (!replication) {
    close_doors(sys, doors);
    stop_broker(sys, b);
    return 1;
  }
  doors.push_back(std::move(*replication));
  caf::anon_send(b.partition, ha_port_atom::value, doors[1].port);
  std::printf("holdfast-broker listening on %s:%u ha=%s:%u role=%s flush=%s\n",
              cfg.listen_host.c_str(), static_cast<unsigned>(doors[0].port),
              cfg.listen_host.c_str(), static_cast<unsigned>(doors[1].port),
              std::string(config::to_string(cfg.broker_role)).c_str(),
              std::string(config::to_string(cfg.flush_disk_type)).c_str());
  std::fflush(stdout);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  while (sig == SIGUSR2) {
    // A disk that stalls from now on (start-up's own fsyncs are behind us): every fsync sleeps
    // 10 minutes first.
    log_warning("holdfast-broker: SIGUSR2: the disk stalls from now on (every fsync 600 s)");
    faulty->set_sync_delay(std::chrono::minutes(10));
    sigwait(&stop_signals, &sig);
  }
  if (sig == SIGUSR1) {
    // A power cut: every byte no fsync covered is gone, and nothing else runs afterwards (no
    // flush, no clean-shutdown marker, no destructors), as when the machine loses power.
    log_warning("holdfast-broker: SIGUSR1: simulated power cut, dropping unsynced data");
    faulty->power_cut(tear_mode::drop);
    std::fflush(stderr);
    ::_exit(9);
  }
  log_info("holdfast-broker: signal {} received, stopping", sig);
  for (auto& d : doors)
    (void) sys.middleman().unpublish(d.actor, d.mm_port);
  bool timed_out = false;
  // The last answers still travel through the guards.
  bool clean = stop_broker(sys, b, cfg.shutdown_timeout, &timed_out);
  if (timed_out) {
    // A stalled disk holds the partition in a write or fsync that no signal ends; waiting for
    // it (the actor system's destructor would) could take forever. Acknowledged data is
    // already where its mode promised, and without the marker the next start recovers.
    log_error("holdfast-broker: the store did not finish stopping within shutdownTimeout ({} "
              "ms): exiting without the clean-shutdown marker; the next start recovers",
              cfg.shutdown_timeout.count());
    std::fflush(stdout);
    std::fflush(stderr);
    ::_exit(3);
  }
  close_doors(sys, doors);
  log_info("holdfast-broker: stopped ({})", clean ? "clean" : "NOT clean: recovery will scan");
  return 0;
}
