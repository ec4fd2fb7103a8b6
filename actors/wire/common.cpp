#include "actors/wire/common.hpp"

namespace holdfast {

namespace {
const caf::atom_value category = caf::atom("holdfast");
}

std::string_view to_string(broker_errc x) noexcept {
  switch (x) {
    case broker_errc::none: return "none";
    case broker_errc::invalid_message: return "invalid_message";
    case broker_errc::storage_failure: return "storage_failure";
    case broker_errc::shutting_down: return "shutting_down";
    case broker_errc::not_master: return "not_master";
    case broker_errc::unauthorized: return "unauthorized";
    case broker_errc::out_of_order: return "out_of_order";
    case broker_errc::out_of_sequence: return "out_of_sequence";
    case broker_errc::sequence_expired: return "sequence_expired";
    case broker_errc::unknown_producer: return "unknown_producer";
    case broker_errc::budget_too_short: return "budget_too_short";
    case broker_errc::topic_not_exist: return "topic_not_exist";
    case broker_errc::busy: return "busy";
  }
  return "unknown";
}

caf::error make_error(broker_errc x) {
  return {static_cast<uint8_t>(x), category};
}

caf::error make_error(broker_errc x, std::string context) {
  return {static_cast<uint8_t>(x), category, caf::make_message(std::move(context))};
}

bool retriable(const caf::error& err) noexcept {
  if (err.category() == category)
    return err.code() != static_cast<uint8_t>(broker_errc::invalid_message)
           && err.code() != static_cast<uint8_t>(broker_errc::not_master)
           && err.code() != static_cast<uint8_t>(broker_errc::unauthorized)
           && err.code() != static_cast<uint8_t>(broker_errc::sequence_expired)
           && err.code() != static_cast<uint8_t>(broker_errc::budget_too_short)
           && err.code() != static_cast<uint8_t>(broker_errc::topic_not_exist);
  return true; // timeouts, broken connections, dead actors: worth another attempt
}

bool is(const caf::error& err, broker_errc x) noexcept {
  return err.category() == category && err.code() == static_cast<uint8_t>(x);
}

std::string describe(const caf::error& err) {
  std::string out;
  if (err.category() == category) {
    out = to_string(static_cast<broker_errc>(err.code()));
    if (err.context().match_elements<std::string>())
      out += ": " + err.context().get_as<std::string>(0);
    return out;
  }
  if (err.category() == caf::atom("system"))
    return caf::to_string(static_cast<caf::sec>(err.code()));
  return caf::to_string(err);
}

} // namespace holdfast
