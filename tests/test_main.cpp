// The main of every test executable: Catch2's session, plus test cases that skip themselves
// (skip.hpp). ctest runs one test case per process; when every test case that ran was skipped
// the process exits with skip_exit_code, which ctest reports as "Skipped".

#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "skip.hpp"

#include <cstdio>
#include <set>
#include <string>

namespace {

std::string current_test;
std::set<std::string> skipped;
size_t test_cases_run = 0;

struct skip_listener : Catch::TestEventListenerBase {
  using TestEventListenerBase::TestEventListenerBase;
  void testCaseStarting(const Catch::TestCaseInfo& info) override {
    current_test = info.name;
    ++test_cases_run;
  }
};

} // namespace

CATCH_REGISTER_LISTENER(skip_listener)

void holdfast::test::skip(const std::string& why) {
  skipped.insert(current_test);
  std::fprintf(stderr, "SKIPPED: %s: %s\n", current_test.c_str(), why.c_str());
  std::fflush(stderr);
}

int main(int argc, char** argv) {
  int rc = Catch::Session().run(argc, argv);
  if (test_cases_run == 0)
    return rc; // listing (--list-test-names-only returns the count) or nothing matched
  if (rc != 0)
    return rc == holdfast::test::skip_exit_code ? 1 : rc;
  if (skipped.empty())
    return 0;
  std::fprintf(stderr, "%zu of %zu test cases skipped:\n", skipped.size(), test_cases_run);
  for (auto& name : skipped)
    std::fprintf(stderr, "  %s\n", name.c_str());
  return skipped.size() == test_cases_run ? holdfast::test::skip_exit_code : 0;
}
