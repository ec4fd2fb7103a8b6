#include "runtime/set_state.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace holdfast;

namespace {

// A malformed text and what its error must say.
using bad = std::pair<std::string, std::string>;

broker_set_state three_members() {
  broker_set_state s;
  s.epoch = 7;
  s.master = "10.0.0.2:10911";
  s.sync_state_set = {"10.0.0.1:10911", "10.0.0.2:10911", "[::1]:10921"};
  return s;
}

} // namespace

TEST_CASE("a broker set state round-trips through its text encoding", "[set_state]") {
  auto s = GENERATE(three_members(), broker_set_state{},
                    broker_set_state{UINT64_MAX, "", {"broker-a.example:1"}},
                    broker_set_state{1, "h:65535", {"h:65535"}});
  std::string text;
  REQUIRE(encode(s, text).ok());
  broker_set_state back;
  auto st = decode(text, back);
  INFO(text << st.context());
  REQUIRE(st.ok());
  CHECK(back == s);
  std::string again;
  REQUIRE(encode(back, again).ok());
  CHECK(again == text);
}

TEST_CASE("the set state encoding is the documented one", "[set_state]") {
  std::string text;
  REQUIRE(encode(three_members(), text).ok());
  CHECK(text == "holdfast-set-state v1\n"
                "epoch 7\n"
                "master 10.0.0.2:10911\n"
                "syncStateSet 10.0.0.1:10911,10.0.0.2:10911,[::1]:10921\n");
  REQUIRE(encode(broker_set_state{}, text).ok());
  CHECK(text == "holdfast-set-state v1\nepoch 0\nmaster -\nsyncStateSet -\n");
}

TEST_CASE("a broker member round-trips through its text encoding", "[set_state]") {
  broker_member m{"10.0.0.1:10911", "10.0.0.1:10912", 3, 1048576};
  std::string text;
  REQUIRE(encode(m, text).ok());
  CHECK(text == "holdfast-member v1\naddress 10.0.0.1:10911\nhaAddress 10.0.0.1:10912\n"
                "lastEpoch 3\nlogEnd 1048576\n");
  broker_member back;
  REQUIRE(decode(text, back).ok());
  CHECK(back == m);
}

TEST_CASE("a set state that breaks an invariant is not encoded", "[set_state]") {
  auto [s, why] = GENERATE(
    std::pair{broker_set_state{1, "a:1", {"b:1"}}, "not in the syncStateSet"},
    std::pair{broker_set_state{1, "", {"b:1", "a:1"}}, "not sorted"},
    std::pair{broker_set_state{1, "", {"a:1", "a:1"}}, "not sorted"},
    std::pair{broker_set_state{1, "", {"a"}}, "not host:port"},
    std::pair{broker_set_state{1, "a:0", {"a:0"}}, "not host:port"},
    std::pair{broker_set_state{1, "", {"a:1,b:2"}}, "not host:port"},
    std::pair{broker_set_state{1, "", {"a\n:1"}}, "not host:port"});
  std::string text = "untouched";
  auto st = encode(s, text);
  INFO(st.context());
  CHECK(st == errc::invalid_argument);
  CHECK(st.context().find(why) != std::string::npos);
  CHECK(text == "untouched");
}

TEST_CASE("malformed set state text is a clear error, never a guess", "[set_state]") {
  const std::string good = "holdfast-set-state v1\nepoch 7\nmaster a:1\nsyncStateSet a:1,b:2\n";
  std::string with_nul = "holdfast-set-state v1\nepoch 1\nmaster -\nsyncStateSet a";
  with_nul += '\0';
  with_nul += ":1\n";
  auto [text, why] = GENERATE_COPY(
    bad{"", "line 1 missing"},
    bad{"holdfast-set-state v2\nepoch 1\n", "line 1 is not"},
    bad{good.substr(0, good.size() - 1), "newline"},
    bad{good + "extra 1\n", "line 5 is after the last key"},
    bad{"holdfast-set-state v1\nmaster a:1\n", "line 2 is not 'epoch"},
    bad{"holdfast-set-state v1\nepoch 07\nmaster -\nsyncStateSet -\n", "epoch is not a number"},
    bad{"holdfast-set-state v1\nepoch -1\nmaster -\nsyncStateSet -\n", "epoch is not a number"},
    bad{"holdfast-set-state v1\nepoch 18446744073709551616\nmaster -\nsyncStateSet -\n", "epoch is not a number"},
    bad{"holdfast-set-state v1\nepoch 1\nmaster \nsyncStateSet -\n", "empty value"},
    bad{"holdfast-set-state v1\nepoch 1\nmaster  a:1\nsyncStateSet a:1\n", "not host:port"},
    bad{"holdfast-set-state v1\r\nepoch 1\n", "carriage return"},
    bad{"holdfast-set-state v1\nepoch 1\nmaster c:1\nsyncStateSet a:1,b:2\n", "not in the syncStateSet"},
    bad{"holdfast-set-state v1\nepoch 1\nmaster -\nsyncStateSet a:1,,b:2\n", "not host:port"},
    bad{"holdfast-set-state v1\nepoch 1\nmaster -\nsyncStateSet b:2,a:1\n", "not sorted"},
    bad{"holdfast-set-state v1\nepoch 1\nmaster -\nsyncStateSet a:1,a:1\n", "not sorted"},
    bad{"holdfast-set-state v1\nepoch 1\nsyncStateSet a:1\nmaster a:1\n", "line 3 is not 'master"},
    bad{with_nul, "not host:port"});
  broker_set_state out = three_members();
  auto st = decode(text, out);
  INFO(st.context());
  CHECK(st == errc::corrupt);
  CHECK(st.context().find(why) != std::string::npos);
  CHECK(out == three_members()); // untouched on error
}

TEST_CASE("a set state with more members than the bound is refused", "[set_state]") {
  std::string text = "holdfast-set-state v1\nepoch 1\nmaster -\nsyncStateSet ";
  for (size_t i = 0; i <= max_set_members; ++i)
    text += (i ? ",h" : "h") + std::to_string(1000 + i) + ":1";
  text += "\n";
  broker_set_state out;
  auto st = decode(text, out);
  CHECK(st == errc::corrupt);
  CHECK(st.context().find("more than 32 members") != std::string::npos);
  CHECK(decode(std::string(20000, 'x'), out) == errc::corrupt);
}

TEST_CASE("malformed member text is a clear error", "[set_state]") {
  auto [text, why] = GENERATE(
    bad{"holdfast-set-state v1\n", "line 1 is not"},
    bad{"holdfast-member v1\naddress a:1\nhaAddress a:2\nlastEpoch 1\n", "line 5 missing"},
    bad{"holdfast-member v1\naddress a:1\nhaAddress a:2\nlastEpoch x\nlogEnd 1\n", "lastEpoch is not a number"},
    bad{"holdfast-member v1\naddress a:1\nhaAddress a:2\nlastEpoch 1\nlogEnd 1 \n", "logEnd is not a number"},
    bad{"holdfast-member v1\naddress a:1\nhaAddress a:99999\nlastEpoch 1\nlogEnd 1\n", "haAddress"},
    bad{"holdfast-member v1\naddress [a:1\nhaAddress a:2\nlastEpoch 1\nlogEnd 1\n", "address '[a:1'"});
  broker_member out;
  auto st = decode(text, out);
  INFO(st.context());
  CHECK(st == errc::corrupt);
  CHECK(st.context().find(why) != std::string::npos);
}

TEST_CASE("broker addresses are host:port with a port from 1 to 65535", "[set_state]") {
  for (auto a : {"10.0.0.1:10911", "broker-a.example.com:1", "[::1]:10911", "[fe80::1]:65535",
                 "b_1:80"})
    CHECK(valid_broker_address(a));
  for (auto a : {"", ":1", "a", "a:", "a:0", "a:65536", "a:01", "a:+1", "a b:1", "[]:1", "[::1:1",
                 "a/b:1", "a:1:x"})
    CHECK_FALSE(valid_broker_address(a));
}
