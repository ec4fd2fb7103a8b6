#include "tools/commands.hpp"

#include "actors/broker.hpp"
#include "actors/wire/connect.hpp"
#include "client/producer.hpp"
#include "actors/wire/type_registry.hpp"
#include "config/loader.hpp"
#include "runtime/log.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <string>
#include <vector>

namespace holdfast::tools {

namespace {

constexpr const char* usage = R"(usage: holdfast bench --embedded [--flush MODES] [--inflight LIST] [--size LIST]
                      [--seconds S] [--dir DIR] [--sweep] [--csv FILE] [--json]
       holdfast bench --broker HOST:PORT [--inflight LIST] [--size LIST] [--seconds S]
                      [--sweep] [--csv FILE] [--label NAME] [--broker-pid PID] [--json]
                      [--tls --tls-ca FILE --tls-cert FILE --tls-key FILE]

--embedded runs the broker in this process on a real directory and keeps K sends in flight,
one message per append request, for S seconds per configuration. Without a flag the sweep is
both flush modes x {1, 64} in flight x 1024 bytes x 3 s; a flag narrows the sweep to its value.
Lists are comma-separated (--inflight 1,16,256; --flush ASYNC_FLUSH,SYNC_FLUSH).
--sweep widens the defaults to in flight {1,4,16,64,256} x sizes {128,1024,4096,65536}.
--csv appends one row per point (header when the file is new): mode, inflight, size, msgs/s,
MiB/s, p50 and p99 ms, messages per fsync, broker RSS in MiB, errors.
--dir picks where the store goes (default: a fresh directory under the current one, removed
afterwards).
--broker measures a running broker over the middleman through the producer actor (which
batches the sends waiting together), in the broker's own flush mode, topic "bench".
--label names the mode column for --broker (default: the broker's flush type).
--broker-pid reads the broker's RSS from /proc/PID/status (--embedded: this process's RSS).
--json adds one JSON object per configuration.
)" HOLDFAST_TLS_USAGE;

using clock_type = std::chrono::steady_clock;

struct bench_result {
  std::string mode;
  int inflight = 0;
  size_t size = 0;
  double msgs_per_s = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  uint64_t fsyncs = 0;
  uint64_t errors = 0;
  uint64_t statuses_not_ok = 0;
  double msgs_per_batch = 1; ///< messages per append request the broker received
  double msgs_per_fsync = 0; ///< group-commit factor: messages stored per fsync (0: no fsync)
  double rss_mib = 0;        ///< the broker's resident set at the end of the point
};

/// VmRSS of a process in MiB from /proc/PID/status (0 when unreadable).
double rss_mib_of(const std::string& pid) {
  std::ifstream in("/proc/" + pid + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stod(line.substr(6)) / 1024.0; // the kernel reports kB
  return 0;
}

void fill_storage_stats(bench_result& res, uint64_t messages, uint64_t fsyncs) {
  res.fsyncs = fsyncs;
  res.msgs_per_fsync = fsyncs > 0 ? static_cast<double>(messages) / static_cast<double>(fsyncs)
                                  : 0;
}

// Filled by the driver actor, read by run_one after `done` is set.
struct bench_sink {
  std::vector<double> latencies_ms;
  uint64_t errors = 0;
  uint64_t not_ok = 0;
  std::promise<void> done;
};

struct driver_state {
  /// When set, sends go through this producer actor (network bench) instead of the partition.
  producer_actor prod;
  // Not an aggregate: C++20 parenthesized aggregate init would make CAF try to build the
  // state from the actor pointer.
  driver_state() = default;
  partition_actor part;
  message msg;
  clock_type::time_point deadline;
  int outstanding = 0;
  bench_sink* sink = nullptr;
  static inline const char* name = "holdfast.bench_driver";
};

using driver_ptr = caf::stateful_actor<driver_state>*;

void issue(driver_ptr self) {
  auto t0 = clock_type::now();
  append_req req;
  req.msgs.push_back(self->state.msg);
  ++self->state.outstanding;
  auto next = [self, t0] {
    auto& st = self->state;
    auto now = clock_type::now();
    st.sink->latencies_ms.push_back(std::chrono::duration<double, std::milli>(now - t0).count());
    --st.outstanding;
    if (now < st.deadline)
      issue(self);
    else if (st.outstanding == 0) {
      self->quit();
      st.sink->done.set_value();
    }
  };
  if (self->state.prod) {
    self->request(self->state.prod, caf::infinite, self->state.msg)
      .then(
        [self, next](send_result& r) {
          if (r.status != send_status::send_ok)
            ++self->state.sink->not_ok;
          next();
        },
        [self, next](caf::error&) {
          ++self->state.sink->errors;
          next();
        });
    return;
  }
  self->request(self->state.part, caf::infinite, std::move(req))
    .then(
      [self, next](append_reply& r) {
        if (r.results.empty() || r.results[0].status != send_status::send_ok)
          ++self->state.sink->not_ok;
        next();
      },
      [self, next](caf::error&) {
        ++self->state.sink->errors;
        next();
      });
}

caf::behavior driver(driver_ptr self, partition_actor part, producer_actor prod, size_t size,
                     int inflight, clock_type::duration run_for, bench_sink* sink) {
  auto& st = self->state;
  st.part = std::move(part);
  st.prod = std::move(prod);
  st.msg.topic = "bench";
  st.msg.body.assign(size, 'x');
  st.sink = sink;
  st.deadline = clock_type::now() + run_for;
  for (int i = 0; i < inflight; ++i)
    issue(self);
  return {[](caf::unit_t) {}};
}

double percentile(std::vector<double>& v, double p) {
  if (v.empty())
    return 0;
  auto k = static_cast<size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k];
}

bench_result run_one(caf::actor_system& sys, const std::string& dir, const std::string& mode,
                     int inflight, size_t size, double seconds) {
  std::filesystem::remove_all(dir);
  auto loaded = config::load_broker_config(
    std::nullopt, {"storePathRootDir=\"" + dir + "\"", "flushDiskType=\"" + mode + "\""});
  bench_result res{mode, inflight, size};
  if (!loaded.ok()) {
    std::fprintf(stderr, "bench: %s\n", loaded.error_text().c_str());
    return res;
  }
  auto b = start_broker(sys, loaded.config, posix_fs());
  if (!b) {
    std::fprintf(stderr, "bench: %s\n", sys.render(b.error()).c_str());
    return res;
  }
  caf::scoped_actor self{sys};
  partition_status before;
  self->request(b->partition, caf::infinite, status_atom::value)
    .receive([&](partition_status& s) { before = s; }, [](caf::error&) {});
  bench_sink sink;
  auto fut = sink.done.get_future();
  auto t0 = clock_type::now();
  auto run_for = std::chrono::duration_cast<clock_type::duration>(
    std::chrono::duration<double>(seconds));
  sys.spawn(driver, b->partition, producer_actor{}, size, inflight, run_for, &sink);
  fut.wait();
  auto elapsed = std::chrono::duration<double>(clock_type::now() - t0).count();
  partition_status after;
  self->request(b->partition, caf::infinite, status_atom::value)
    .receive([&](partition_status& s) { after = s; }, [](caf::error&) {});
  res.msgs_per_s = static_cast<double>(sink.latencies_ms.size()) / elapsed;
  res.p50_ms = percentile(sink.latencies_ms, 0.50);
  res.p99_ms = percentile(sink.latencies_ms, 0.99);
  fill_storage_stats(res, after.messages - before.messages, after.fsyncs - before.fsyncs);
  res.rss_mib = rss_mib_of("self");
  res.errors = sink.errors;
  res.statuses_not_ok = sink.not_ok;
  stop_broker(sys, *b);
  return res;
}

bench_result run_remote(caf::actor_system& sys, client_door_actor broker, int inflight, size_t size,
                        double seconds, const std::string& label, const std::string& broker_pid) {
  caf::scoped_actor self{sys};
  partition_status before, after;
  self->request(broker, caf::duration{std::chrono::seconds(10)}, status_atom::value)
    .receive([&](partition_status& s) { before = s; }, [](caf::error&) {});
  bench_result res{label.empty() ? before.flush_disk_type : label, inflight, size};
  producer_options opts;
  opts.send_timeout = std::chrono::seconds(30);
  auto prod = sys.spawn(producer, broker, opts);
  bench_sink sink;
  auto fut = sink.done.get_future();
  auto t0 = clock_type::now();
  auto run_for = std::chrono::duration_cast<clock_type::duration>(
    std::chrono::duration<double>(seconds));
  sys.spawn(driver, partition_actor{}, prod, size, inflight, run_for, &sink);
  fut.wait();
  auto elapsed = std::chrono::duration<double>(clock_type::now() - t0).count();
  self->request(broker, caf::duration{std::chrono::seconds(10)}, status_atom::value)
    .receive([&](partition_status& s) { after = s; }, [](caf::error&) {});
  self->send_exit(prod, caf::exit_reason::user_shutdown);
  res.msgs_per_s = static_cast<double>(sink.latencies_ms.size()) / elapsed;
  res.p50_ms = percentile(sink.latencies_ms, 0.50);
  res.p99_ms = percentile(sink.latencies_ms, 0.99);
  fill_storage_stats(res, after.messages - before.messages, after.fsyncs - before.fsyncs);
  if (!broker_pid.empty())
    res.rss_mib = rss_mib_of(broker_pid);
  res.errors = sink.errors;
  res.statuses_not_ok = sink.not_ok;
  if (after.append_requests > before.append_requests)
    res.msgs_per_batch = static_cast<double>(after.messages - before.messages)
                         / static_cast<double>(after.append_requests - before.append_requests);
  return res;
}

} // namespace

int run_bench(const std::vector<std::string>& args) {
  std::vector<std::string> modes{"ASYNC_FLUSH", "SYNC_FLUSH"};
  std::vector<int> inflights{1, 64};
  std::vector<size_t> sizes{1024};
  double seconds = 3;
  bool json = false;
  bool embedded = false;
  std::string broker_addr;
  std::string dir;
  std::string csv_path;
  std::string label;
  std::string broker_pid;
  bool inflight_given = false, size_given = false, sweep = false;
  tls_client_options tls;
  auto split = [](const std::string& v) {
    std::vector<std::string> out;
    std::stringstream ss(v);
    for (std::string item; std::getline(ss, item, ',');)
      out.push_back(item);
    return out;
  };
  for (size_t i = 0; i < args.size(); ++i) {
    auto& a = args[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= args.size()) {
        std::fprintf(stderr, "holdfast bench: %s needs a value\n%s", a.c_str(), usage);
        std::exit(2);
      }
      return args[++i];
    };
    try {
      if (a == "--embedded")
        embedded = true;
      else if (a == "--broker")
        broker_addr = value();
      else if (a == "--flush") {
        modes = split(value());
        for (auto& m : modes)
          if (m != "ASYNC_FLUSH" && m != "SYNC_FLUSH") {
            std::fprintf(stderr, "holdfast bench: --flush takes ASYNC_FLUSH and/or SYNC_FLUSH\n");
            return 2;
          }
      } else if (a == "--inflight") {
        inflights.clear();
        for (auto& v : split(value()))
          inflights.push_back(std::stoi(v));
        inflight_given = true;
      } else if (a == "--size") {
        sizes.clear();
        for (auto& v : split(value()))
          sizes.push_back(static_cast<size_t>(std::stoul(v)));
        size_given = true;
      } else if (a == "--sweep")
        sweep = true;
      else if (a == "--csv")
        csv_path = value();
      else if (a == "--label")
        label = value();
      else if (a == "--broker-pid") {
        broker_pid = value();
        if (broker_pid.empty() || broker_pid.find_first_not_of("0123456789") != std::string::npos) {
          std::fprintf(stderr, "holdfast bench: --broker-pid takes a process id\n");
          return 2;
        }
      }
      else if (a == "--seconds")
        seconds = std::stod(value());
      else if (a == "--dir")
        dir = value();
      else if (a == "--json")
        json = true;
      else if (a == "--tls")
        tls.enable = true;
      else if (a == "--tls-cert")
        tls.cert_path = value();
      else if (a == "--tls-key")
        tls.key_path = value();
      else if (a == "--tls-ca")
        tls.trust_cert_path = value();
      else if (a == "--help" || a == "-h") {
        std::fputs(usage, stdout);
        return 0;
      } else {
        std::fprintf(stderr, "holdfast bench: unknown argument '%s'\n%s", a.c_str(), usage);
        return 2;
      }
    } catch (const std::exception&) {
      std::fprintf(stderr, "holdfast bench: bad number for %s\n", a.c_str());
      return 2;
    }
  }
  // As every other sub-command (flag_parser::get_tls): a file implies --tls.
  tls.enable = tls.enable || !tls.cert_path.empty() || !tls.key_path.empty()
               || !tls.trust_cert_path.empty();
  if (auto why = check_tls_client(tls); !why.empty()) {
    std::fprintf(stderr, "holdfast bench: %s\n", why.c_str());
    return 2;
  }
  if (tls.enable && broker_addr.empty()) {
    std::fprintf(stderr, "holdfast bench: the TLS flags need --broker\n");
    return 2;
  }
  if (sweep && !inflight_given)
    inflights = {1, 4, 16, 64, 256};
  if (sweep && !size_given)
    sizes = {128, 1024, 4096, 65536};
  if (inflights.empty() || sizes.empty() || modes.empty()) {
    std::fprintf(stderr, "holdfast bench: empty list\n");
    return 2;
  }
  if (embedded == !broker_addr.empty()) {
    std::fprintf(stderr, "holdfast bench: give exactly one of --embedded and --broker\n%s", usage);
    return 2;
  }
  for (auto k : inflights)
    if (k < 1 || k > 100000) {
      std::fprintf(stderr, "holdfast bench: --inflight must be 1..100000\n");
      return 2;
    }
  for (auto s : sizes)
    if (s > (4u << 20)) {
      std::fprintf(stderr, "holdfast bench: --size must be at most 4194304 (maxMessageSize)\n");
      return 2;
    }
  if (!(seconds > 0 && seconds <= 3600)) {
    std::fprintf(stderr, "holdfast bench: --seconds must be in (0, 3600]\n");
    return 2;
  }
  set_log_level(log_level::warning);
  caf::actor_system_config cfg;
  register_types(cfg);
  if (!broker_addr.empty())
    cfg.load<caf::io::middleman>();
  use_tls_client(cfg, tls);
  caf::actor_system sys{cfg};
  std::vector<bench_result> results;
  std::FILE* csv = nullptr;
  if (!csv_path.empty()) {
    bool fresh = !std::filesystem::exists(csv_path) || std::filesystem::file_size(csv_path) == 0;
    csv = std::fopen(csv_path.c_str(), "a");
    if (csv == nullptr) {
      std::fprintf(stderr, "holdfast bench: cannot open %s\n", csv_path.c_str());
      return 2;
    }
    if (fresh)
      std::fprintf(csv, "mode,inflight,size,msgs_per_s,mib_per_s,p50_ms,p99_ms,msgs_per_fsync,"
                        "broker_rss_mib,errors\n");
  }
  auto print_row = [&](const bench_result& r) {
    auto mib_s = r.msgs_per_s * static_cast<double>(r.size) / (1024.0 * 1024.0);
    std::printf("%-12s %8d %8zu %12.0f %8.1f %9.3f %9.3f %8llu %7.1f %7.1f %7llu %6.1f\n",
                r.mode.c_str(), r.inflight, r.size, r.msgs_per_s, mib_s, r.p50_ms, r.p99_ms,
                static_cast<unsigned long long>(r.fsyncs), r.msgs_per_fsync, r.rss_mib,
                static_cast<unsigned long long>(r.errors + r.statuses_not_ok), r.msgs_per_batch);
    std::fflush(stdout);
    if (csv) {
      std::fprintf(csv, "%s,%d,%zu,%.0f,%.2f,%.4f,%.4f,%.1f,%.1f,%llu\n", r.mode.c_str(),
                   r.inflight, r.size, r.msgs_per_s, mib_s, r.p50_ms, r.p99_ms, r.msgs_per_fsync,
                   r.rss_mib, static_cast<unsigned long long>(r.errors + r.statuses_not_ok));
      std::fflush(csv);
    }
    results.push_back(r);
  };
  std::printf("%-12s %8s %8s %12s %8s %9s %9s %8s %7s %7s %7s %6s\n", "mode", "inflight", "size",
              "msgs/s", "MiB/s", "p50_ms", "p99_ms", "fsyncs", "msg/fs", "rss_MiB", "errors",
              "batch");
  if (!broker_addr.empty()) {
    std::string host;
    uint16_t port = 0;
    if (!parse_address(broker_addr, host, port)) {
      std::fprintf(stderr, "holdfast bench: --broker takes HOST:PORT\n");
      return 2;
    }
    auto broker = connect_blocking<client_door_actor>(sys, broker_addr);
    if (!broker) {
      std::fprintf(stderr, "holdfast bench: cannot connect to %s: %s\n", broker_addr.c_str(),
                   sys.render(broker.error()).c_str());
      return 1;
    }
    for (auto k : inflights)
      for (auto s : sizes)
        print_row(run_remote(sys, *broker, k, s, seconds, label, broker_pid));
  } else {
    bool own_dir = dir.empty();
    if (own_dir) {
      char tmpl[] = "holdfast-bench.XXXXXX";
      if (::mkdtemp(tmpl) == nullptr) {
        std::perror("holdfast bench: mkdtemp");
        return 1;
      }
      dir = std::filesystem::absolute(tmpl).string();
    }
    for (auto& m : modes)
      for (auto k : inflights)
        for (auto s : sizes)
          print_row(run_one(sys, dir + "/store", m, k, s, seconds));
    if (own_dir)
      std::filesystem::remove_all(dir);
  }
  if (json)
    for (auto& r : results)
      std::printf("{\"mode\":\"%s\",\"inflight\":%d,\"size\":%zu,\"msgs_per_s\":%.0f,"
                  "\"p50_ms\":%.4f,\"p99_ms\":%.4f,\"fsyncs\":%llu,\"errors\":%llu,"
                  "\"msgs_per_batch\":%.1f,\"msgs_per_fsync\":%.1f,\"rss_mib\":%.1f}\n",
                  r.mode.c_str(), r.inflight, r.size, r.msgs_per_s, r.p50_ms, r.p99_ms,
                  static_cast<unsigned long long>(r.fsyncs),
                  static_cast<unsigned long long>(r.errors + r.statuses_not_ok), r.msgs_per_batch,
                  r.msgs_per_fsync, r.rss_mib);
  if (csv)
    std::fclose(csv);
  return 0;
}

} // namespace holdfast::tools
