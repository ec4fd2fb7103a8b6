#include "tools/commands.hpp"

#include <cstdio>
#include <cstdlib>

namespace holdfast::tools {

flag_parser::flag_parser(std::string command, const std::vector<std::string>& args,
                         std::string usage)
  : command_(std::move(command)), args_(args), used_(args.size(), false), usage_(std::move(usage)) {
  for (auto& a : args_)
    if (a == "--help" || a == "-h") {
      std::fputs(usage_.c_str(), stdout);
      std::exit(0);
    }
}

void flag_parser::fail(const std::string& why) {
  std::fprintf(stderr, "holdfast %s: %s\n%s", command_.c_str(), why.c_str(), usage_.c_str());
  std::exit(2);
}

std::string flag_parser::get(const std::string& name, const std::string& fallback) {
  for (size_t i = 0; i < args_.size(); ++i) {
    if (args_[i] == name) {
      if (i + 1 >= args_.size())
        fail(name + " needs a value");
      used_[i] = used_[i + 1] = true;
      return args_[i + 1];
    }
  }
  return fallback;
}

long long flag_parser::get_int(const std::string& name, long long fallback, long long min,
                               long long max) {
  auto v = get(name);
  if (v.empty())
    return fallback;
  char* end = nullptr;
  errno = 0;
  long long x = std::strtoll(v.c_str(), &end, 10);
  if (errno != 0 || end == v.c_str() || *end != '\0' || x < min || x > max)
    fail(name + " must be an integer in [" + std::to_string(min) + ", " + std::to_string(max)
         + "], got '" + v + "'");
  return x;
}

bool flag_parser::has(const std::string& name) {
  for (size_t i = 0; i < args_.size(); ++i)
    if (args_[i] == name) {
      used_[i] = true;
      return true;
    }
  return false;
}

tls_client_options flag_parser::get_tls() {
  tls_client_options t;
  t.cert_path = get("--tls-cert");
  t.key_path = get("--tls-key");
  t.trust_cert_path = get("--tls-ca");
  t.enable = has("--tls") || !t.cert_path.empty() || !t.key_path.empty()
             || !t.trust_cert_path.empty();
  if (auto why = check_tls_client(t); !why.empty())
    fail(why);
  return t;
}

void flag_parser::done() {
  for (size_t i = 0; i < args_.size(); ++i)
    if (!used_[i])
      fail("unknown argument '" + args_[i] + "'");
}

} // namespace holdfast::tools
