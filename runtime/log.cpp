#include "runtime/log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>

namespace holdfast {

namespace {

log_level initial_level() {
  const char* env = std::getenv("HOLDFAST_LOG");
  if (env == nullptr)
    return log_level::info;
  std::string_view v = env;
  if (v == "debug")
    return log_level::debug;
  if (v == "warning")
    return log_level::warning;
  if (v == "error")
    return log_level::error;
  return log_level::info;
}

std::atomic<log_level> current_level{initial_level()};

const char* level_name(log_level lvl) {
  switch (lvl) {
    case log_level::debug: return "DEBUG";
    case log_level::info: return "INFO ";
    case log_level::warning: return "WARN ";
    case log_level::error: return "ERROR";
  }
  return "?";
}

} // namespace

void set_log_level(log_level lvl) noexcept {
  current_level = lvl;
}

bool log_enabled(log_level lvl) noexcept {
  return lvl >= current_level.load(std::memory_order_relaxed);
}

void log_line(log_level lvl, std::string_view text) {
  using namespace std::chrono;
  auto now = system_clock::now();
  auto secs = system_clock::to_time_t(now);
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
  std::string line;
  line.reserve(text.size() + 48);
  line += stamp;
  char frac[8];
  std::snprintf(frac, sizeof(frac), ".%03dZ ", static_cast<int>(ms));
  line += frac;
  line += level_name(lvl);
  line += ' ';
  line += text;
  line += '\n';
  // One fwrite per line keeps lines from different threads whole.
  std::fwrite(line.data(), 1, line.size(), stderr);
}

} // namespace holdfast
