#pragma once

#include <caf/fwd.hpp>

namespace holdfast {

/// Registers every message type that may cross the middleman, under the same names on every
/// node, and the "holdfast" error category. Call before building the actor_system.
void register_types(caf::actor_system_config& cfg);

} // namespace holdfast
