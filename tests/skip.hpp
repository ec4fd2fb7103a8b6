#pragma once

// Skipping a test whose environment is missing (no tmpfs mount, no libfaketime), so that ctest's
// summary says "Skipped" instead of "Passed": a test that checked nothing must not look green.

#include <string>

namespace holdfast::test {

/// The exit code of a test process in which every test case that ran was skipped (automake's
/// convention); tests/CMakeLists.txt gives every discovered test SKIP_RETURN_CODE with it. The
/// test main turns a failure count that happens to equal it into 1, so a failure never reads
/// as a skip.
inline constexpr int skip_exit_code = 77;

/// Marks the running test case as skipped and says why (stderr: "SKIPPED: <test>: <why>").
/// The caller returns at once: `return test::skip("cannot mount a tmpfs: ...");`. Call it
/// before any CHECK: a test case that skipped must not pass or fail on half its checks.
void skip(const std::string& why);

} // namespace holdfast::test
