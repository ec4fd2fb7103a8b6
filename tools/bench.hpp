#pragma once

#include <string>
#include <vector>

namespace holdfast::tools {

/// `holdfast bench ...`: returns the process exit code.
int run_bench(const std::vector<std::string>& args);

} // namespace holdfast::tools
