#pragma once

#include "actors/wire/tls_client.hpp"

#include <string>
#include <vector>

namespace holdfast::tools {

/// The usage lines of the TLS flags, shared by every sub-command that connects (a macro: the
/// usage texts are literals concatenated at compile time).
#define HOLDFAST_TLS_USAGE                                                                    \
  "\nTLS (docs/security.md): --tls connects with TLS and needs all three files: --tls-ca FILE,\n" \
  "the CA that signed the broker's certificate, and --tls-cert FILE / --tls-key FILE, this\n" \
  "client's certificate and key (CAF's TLS client verifies only with a certificate of its own).\n"

/// Each sub-command of `holdfast`; returns the process exit code.
int run_bench(const std::vector<std::string>& args);
int run_produce(const std::vector<std::string>& args);
int run_consume(const std::vector<std::string>& args);
int run_verify(const std::vector<std::string>& args);
int run_status(const std::vector<std::string>& args);
/// `holdfast admin <verb>`: administration verbs (admin_commands.cpp).
int run_admin(const std::vector<std::string>& args);

/// Minimal flag parsing shared by the sub-commands: `--name value` and `--flag`.
class flag_parser {
public:
  flag_parser(std::string command, const std::vector<std::string>& args, std::string usage);
  /// The value of --name, or `fallback`. Exits with 2 on a missing value.
  std::string get(const std::string& name, const std::string& fallback = "");
  /// Numeric value with bounds; exits with 2 and a message when invalid.
  long long get_int(const std::string& name, long long fallback, long long min, long long max);
  bool has(const std::string& name);
  /// --tls, --tls-cert FILE, --tls-key FILE, --tls-ca FILE (any of the files implies --tls),
  /// checked and loaded once: exits with 2 and the reason when unusable.
  tls_client_options get_tls();
  /// Exits with 2 if any argument was not consumed.
  void done();

private:
  [[noreturn]] void fail(const std::string& why);
  std::string command_;
  std::vector<std::string> args_;
  std::vector<bool> used_;
  std::string usage_;
};

} // namespace holdfast::tools
