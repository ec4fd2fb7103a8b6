#include "actors/basp_guard.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <caf/atom.hpp>

using namespace holdfast;

namespace {

std::array<unsigned char, 32> header(uint8_t kind, uint32_t len) {
  std::array<unsigned char, 32> h{};
  h[0] = kind;
  h[4] = static_cast<unsigned char>(len >> 24);
  h[5] = static_cast<unsigned char>(len >> 16);
  h[6] = static_cast<unsigned char>(len >> 8);
  h[7] = static_cast<unsigned char>(len);
  return h;
}

} // namespace

TEST_CASE("the BASP guard passes well-formed headers and names what is wrong with others",
          "[basp_guard][hostile]") {
  uint32_t len = 0;
  // Kinds 0-3 carry a payload; monitor, down and heartbeat may come without one.
  CHECK(basp_guard::check_header(header(1, 200).data(), 1024, len).empty());
  CHECK(len == 200);
  CHECK(basp_guard::check_header(header(2, 1024).data(), 1024, len).empty());
  CHECK(basp_guard::check_header(header(6, 0).data(), 1024, len).empty());
  CHECK(basp_guard::check_header(header(4, 0).data(), 1024, len).empty());
  // What CAF 0.17.6 crashes on, or would allocate without bound for.
  for (uint8_t kind : {0, 1, 2, 3})
    CHECK(basp_guard::check_header(header(kind, 0).data(), 1024, len).find("without the payload")
          != std::string::npos);
  CHECK(basp_guard::check_header(header(7, 10).data(), 1024, len).find("unknown")
        != std::string::npos);
  CHECK(basp_guard::check_header(header(255, 10).data(), 1024, len).find("unknown")
        != std::string::npos);
  CHECK(basp_guard::check_header(header(2, 1025).data(), 1024, len).find("more than")
        != std::string::npos);
  CHECK(basp_guard::check_header(header(2, 0xffffffffu).data(), 1024, len).find("more than")
        != std::string::npos);
}

TEST_CASE("the BASP guard lets messages reach only the door of its port", "[basp_guard][doors]") {
  auto to = [](uint8_t kind, uint64_t dest, uint8_t flags = 0) {
    auto h = header(kind, 100);
    h[3] = flags;
    for (int i = 0; i < 8; ++i)
      h[31 - i] = static_cast<unsigned char>(dest >> (8 * i));
    return h;
  };
  std::vector<uint64_t> doors{7};
  basp_guard::peer_view awaiting;
  CHECK(basp_guard::check_destination(to(2, 7).data(), doors, awaiting).empty());
  CHECK(basp_guard::check_destination(to(4, 7).data(), doors, awaiting).empty()); // monitor the door
  CHECK(basp_guard::check_destination(to(2, 3).data(), doors, awaiting).find("not this port's door")
        != std::string::npos);
  CHECK(basp_guard::check_destination(to(4, 3).data(), doors, awaiting).find("not this port's door")
        != std::string::npos);
  CHECK(basp_guard::check_destination(to(2, 7, 0x01).data(), doors, awaiting).find("named")
        != std::string::npos);
  auto config_serv = to(2, static_cast<uint64_t>(caf::atom("ConfigServ")), 0x01);
  CHECK(basp_guard::check_destination(config_serv.data(), doors, awaiting).find("named")
        != std::string::npos);
  // What every CAF node sends a new peer on connect; that actor spawns nothing of ours.
  auto spawn_serv = to(2, static_cast<uint64_t>(caf::atom("SpawnServ")), 0x01);
  CHECK(basp_guard::check_destination(spawn_serv.data(), doors, awaiting).empty());
  CHECK(basp_guard::check_destination(to(3, 7).data(), doors, awaiting).find("routed")
        != std::string::npos);
  // Handshakes, down messages and heartbeats name no receiver.
  for (uint8_t kind : {0, 1, 5, 6})
    CHECK(basp_guard::check_destination(to(kind, 99).data(), doors, awaiting).empty());
  basp_guard::peer_view none;
  CHECK(basp_guard::check_destination(to(2, 3).data(), {}, none).empty());
}

TEST_CASE("the BASP guard lets an answer through only to a request the broker sent that peer",
          "[basp_guard][doors]") {
  auto response = [](uint64_t dest, uint64_t request_id) {
    auto h = header(2, 100);
    uint64_t op = 0x8000000000000000ull | request_id;
    for (int i = 0; i < 8; ++i) {
      h[15 - i] = static_cast<unsigned char>(op >> (8 * i));
      h[31 - i] = static_cast<unsigned char>(dest >> (8 * i));
    }
    return h;
  };
  std::vector<uint64_t> doors{7};
  basp_guard::peer_view awaiting{{14}, {{14, 3}}};
  CHECK(basp_guard::check_destination(response(14, 4).data(), doors, awaiting).find("asked")
        != std::string::npos);
  CHECK(basp_guard::check_destination(response(15, 3).data(), doors, awaiting).find("asked")
        != std::string::npos);
  CHECK(basp_guard::check_destination(response(14, 3).data(), doors, awaiting).empty());
  // Once: a second answer to the same request is refused.
  CHECK_FALSE(basp_guard::check_destination(response(14, 3).data(), doors, awaiting).empty());
  // A monitor request for an actor that talked to this peer (CAF announces every proxy).
  auto monitor = [](uint64_t dest) {
    auto h = header(4, 0);
    for (int i = 0; i < 8; ++i)
      h[31 - i] = static_cast<unsigned char>(dest >> (8 * i));
    return h;
  };
  CHECK(basp_guard::check_destination(monitor(14).data(), doors, awaiting).empty());
  CHECK_FALSE(basp_guard::check_destination(monitor(15).data(), doors, awaiting).empty());
}

TEST_CASE("the BASP guard refuses CAF's system messages and stream queues from a peer",
          "[basp_guard][doors]") {
  auto message = [](uint64_t op) {
    auto h = header(2, 100);
    for (int i = 0; i < 8; ++i) {
      h[15 - i] = static_cast<unsigned char>(op >> (8 * i));
      h[31 - i] = static_cast<unsigned char>(uint64_t{7} >> (8 * i));
    }
    return h;
  };
  // The payload's head as CAF 0.17 writes it: no forwarding stack, u16 0, the type names.
  auto payload = [](const std::string& names, uint8_t stages = 0) {
    std::string p{static_cast<char>(stages), '\0', '\0', static_cast<char>(names.size())};
    p += names;
    p += std::string(8, '\0');
    return p;
  };
  auto check = [](const std::array<unsigned char, 32>& h, const std::string& p) {
    return basp_guard::check_payload(h.data(), reinterpret_cast<const unsigned char*>(p.data()),
                                     p.size());
  };
  auto request = message(0x1000000000000003ull);
  CHECK(check(request, payload("@<>+holdfast::hello_req")).empty());
  CHECK(check(request, payload("@<>+@atom")).empty());
  // exit_msg with `kill` ends any actor that gets it, whatever its handlers; an error or an
  // exit_msg ends one with the default handlers; a down message ends what it watched.
  for (auto system : {"@<>+@exit", "@<>+@error", "@<>+@down", "@<>+@timeout",
                      "@<>+@upstream_msg", "@<>+@downstream_msg", "@<>+@open_stream_msg"})
    CHECK(check(request, payload(system)).find("system message") != std::string::npos);
  CHECK(check(message(0x1000000000000000ull), payload("@<>+@exit")).find("system message")
        != std::string::npos);
  CHECK(check(request, payload("@<>+holdfast::hello_req", 1)).find("forwarding stack")
        != std::string::npos);
  // Answers may carry errors: they pass (the destination check admits only awaited ones).
  CHECK(check(message(0x9000000000000003ull), payload("@<>+@error")).empty());

  std::vector<uint64_t> doors{7};
  basp_guard::peer_view view;
  CHECK(basp_guard::check_destination(request.data(), doors, view).empty());
  CHECK(basp_guard::check_destination(message(0x0000000000000003ull).data(), doors, view)
          .empty()); // urgent
  for (uint64_t category : {2, 3})
    CHECK(basp_guard::check_destination(message(category << 60).data(), doors, view)
            .find("stream") != std::string::npos);
}
