#include "config/loader.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace holdfast::config;
using namespace std::chrono_literals;

namespace {

// Renders the errors into the assertion message, so a failing check shows what was reported.
std::string dump(const load_result& result) {
  return result.ok() ? std::string{"(no errors)"} : result.error_text();
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

// A file in a fresh temporary directory, removed with the directory when the test ends.
class temp_file {
public:
  explicit temp_file(const std::string& content) {
    auto base = std::filesystem::temp_directory_path() / "holdfast-config-test-XXXXXX";
    std::string pattern = base.string();
    dir_ = ::mkdtemp(pattern.data());
    path_ = dir_ / "broker.toml";
    std::ofstream{path_} << content;
  }
  ~temp_file() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  temp_file(const temp_file&) = delete;
  temp_file& operator=(const temp_file&) = delete;

  [[nodiscard]] std::string path() const { return path_.string(); }
  [[nodiscard]] std::string dir() const { return dir_.string(); }

private:
  std::filesystem::path dir_;
  std::filesystem::path path_;
};

} // namespace

TEST_CASE("an empty file yields the defaults", "[config]") {
  auto result = parse_broker_config("", "broker.toml");
  INFO(dump(result));
  REQUIRE(result.ok());
  CHECK(result.config == broker_config{});
}

TEST_CASE("a file sets every key it names", "[config]") {
  auto result = parse_broker_config(R"(# a comment
brokerName = "broker-b"
listenHost = "0.0.0.0"
listenPort = 0
storePathRootDir = "/var/lib/holdfast"
flushDiskType = "SYNC_FLUSH"
brokerRole = "SLAVE"
haMasterAddress = "10.0.0.1:10912"
haAuthToken = "secret"
syncFlushTimeout = 1
flushIntervalCommitLog = 60000
flushCommitLogLeastPages = 0
flushCommitLogThoroughInterval = 3600000
flushIntervalConsumeQueue = 250
mappedFileSizeCommitLog = 4096
maxMessageSize = 4096
defaultTopicQueueNums = 1024
)",
                                    "broker.toml");
  INFO(dump(result));
  REQUIRE(result.ok());
  const auto& c = result.config;
  CHECK(c.broker_name == "broker-b");
  CHECK(c.listen_host == "0.0.0.0");
  CHECK(c.listen_port == 0);
  CHECK(c.store_path_root_dir == "/var/lib/holdfast");
  CHECK(c.flush_disk_type == flush_disk_type::sync_flush);
  CHECK(c.broker_role == broker_role::slave);
  CHECK(c.sync_flush_timeout == 1ms);
  CHECK(c.flush_interval_commit_log == 60000ms);
  CHECK(c.flush_commit_log_least_pages == 0);
  CHECK(c.flush_commit_log_thorough_interval == 3600000ms);
  CHECK(c.flush_interval_consume_queue == 250ms);
  CHECK(c.mapped_file_size_commit_log == 4096);
  CHECK(c.max_message_size == 4096);
  CHECK(c.default_topic_queue_nums == 1024);
}

TEST_CASE("an unknown key is reported with its line and a suggestion", "[config]") {
  auto typed = GENERATE(as<std::string>{}, "flushDiskTyp", "flushdisktype", "flush_disk_type");
  auto result = parse_broker_config("brokerName = \"b\"\n\n" + typed + " = \"SYNC_FLUSH\"\n",
                                    "broker.toml");
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].to_string()
        == "broker.toml:3:1: key '" + typed + "': unknown key; did you mean 'flushDiskType'?");
  CHECK(result.config.flush_disk_type == flush_disk_type::async_flush);
}

TEST_CASE("an unknown key unlike any declared key gets no suggestion", "[config]") {
  auto result = parse_broker_config("namesrvAddr = \"localhost:9876\"\n", "broker.toml");
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].to_string() == "broker.toml:1:1: key 'namesrvAddr': unknown key");
}

TEST_CASE("a value of the wrong type names the expected type", "[config]") {
  auto [line, expected] = GENERATE(table<std::string, std::string>({
    {R"(listenPort = "10911")", "expected an integer, got a string (\"10911\")"},
    {"listenPort = 10911.0", "expected an integer, got a floating-point number (10911.0)"},
    {"listenPort = true", "expected an integer, got a boolean (true)"},
    {"listenPort = [10911]", "expected an integer, got an array"},
    {"listenPort = { port = 10911 }", "expected an integer, got a table"},
    {"brokerName = 5", "expected a string, got an integer (5)"},
    {"brokerName = 1979-05-27", "expected a string, got a date (1979-05-27)"},
    {"flushDiskType = 1",
     "expected a string (one of ASYNC_FLUSH, SYNC_FLUSH), got an integer (1)"},
  }));
  auto result = parse_broker_config(line + "\n", "broker.toml");
  REQUIRE(result.errors.size() == 1);
  const auto& e = result.errors[0];
  CHECK(e.source == "broker.toml");
  CHECK(e.line == 1);
  CHECK(e.key == line.substr(0, line.find(' ')));
  CHECK(e.message == expected);
}

TEST_CASE("an integer outside its range is reported with the range", "[config]") {
  auto [line, message] = GENERATE(table<std::string, std::string>({
    {"syncFlushTimeout = -5", "value -5 is out of range [1, 600000] ms"},
    {"syncFlushTimeout = 0", "value 0 is out of range [1, 600000] ms"},
    {"syncFlushTimeout = 600001", "value 600001 is out of range [1, 600000] ms"},
    {"listenPort = -1", "value -1 is out of range [0, 65535]"},
    {"listenPort = 65536", "value 65536 is out of range [0, 65535]"},
    {"flushCommitLogLeastPages = 1048577", "value 1048577 is out of range [0, 1048576] pages"},
    {"mappedFileSizeCommitLog = 4095",
     "value 4095 is out of range [4096, 1099511627776] bytes"},
    {"defaultTopicQueueNums = 0", "value 0 is out of range [1, 1024]"},
  }));
  auto result = parse_broker_config("brokerName = \"b\"\n\n" + line + "\n", "broker.toml");
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].line == 3);
  CHECK(result.errors[0].message == message);
  CHECK(result.config == [] {
    broker_config expected;
    expected.broker_name = "b";
    return expected;
  }());
}

TEST_CASE("the out-of-range error reads as file, line, column, key and range", "[config]") {
  auto result = parse_broker_config("brokerName = \"b\"\nlistenPort = 1\nsyncFlushTimeout = -5\n",
                                    "broker.toml");
  CHECK(result.error_text()
        == "broker.toml:3:1: key 'syncFlushTimeout': value -5 is out of range [1, 600000] ms\n");
}

TEST_CASE("an enum value that is not allowed lists the allowed values", "[config]") {
  auto [line, message] = GENERATE(table<std::string, std::string>({
    {R"(flushDiskType = "FAST_FLUSH")",
     "value \"FAST_FLUSH\" is not one of ASYNC_FLUSH, SYNC_FLUSH"},
    {R"(brokerRole = "MASTER")",
     "value \"MASTER\" is not one of ASYNC_MASTER, SYNC_MASTER, SLAVE"},
    {R"(brokerRole = "slave")",
     "value \"slave\" is not one of ASYNC_MASTER, SYNC_MASTER, SLAVE; did you mean \"SLAVE\"?"},
  }));
  auto result = parse_broker_config(line, "broker.toml");
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].message == message);
}

TEST_CASE("an empty store path is rejected", "[config]") {
  auto result = parse_broker_config(R"(storePathRootDir = "")", "broker.toml");
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].to_string()
        == "broker.toml:1:1: key 'storePathRootDir': must not be empty");
}

TEST_CASE("a section table is reported as an unknown key", "[config]") {
  auto text = GENERATE(as<std::string>{}, "[broker]\nflushDiskType = \"SYNC_FLUSH\"\n",
                       "broker.flushDiskType = \"SYNC_FLUSH\"\n");
  auto result = parse_broker_config(text, "broker.toml");
  REQUIRE(result.errors.size() == 1);
  const auto& e = result.errors[0];
  CHECK(e.line == 1);
  CHECK(e.key == "broker");
  CHECK(contains(e.message, "unknown key"));
  CHECK(contains(e.message, "top level"));
  CHECK(result.config.flush_disk_type == flush_disk_type::async_flush);
}

TEST_CASE("a section named like a key is a type error, not silently read", "[config]") {
  auto result = parse_broker_config("[brokerRole]\nvalue = \"SLAVE\"\n", "broker.toml");
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].key == "brokerRole");
  CHECK(contains(result.errors[0].message, "got a table"));
}

TEST_CASE("bad TOML syntax is reported with toml++'s line and column", "[config]") {
  auto result = parse_broker_config("brokerName = \"b\"\nlistenPort = = 5\n", "broker.toml",
                                    {"listenPort=12"});
  REQUIRE(result.errors.size() == 1);
  const auto& e = result.errors[0];
  CHECK(e.source == "broker.toml");
  CHECK(e.line == 2);
  CHECK(e.column > 0);
  CHECK(e.key.empty());
  CHECK(contains(e.to_string(), "broker.toml:2:"));
  // Nothing from a broken file is trusted, but the overrides still apply and are checked.
  CHECK(result.config.broker_name == "broker-a");
  CHECK(result.config.listen_port == 12);
}

TEST_CASE("a key given twice in a file is a syntax error", "[config]") {
  auto result = parse_broker_config("listenPort = 1\nlistenPort = 2\n", "broker.toml");
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].line == 2);
}

TEST_CASE("a missing file is reported with its path", "[config]") {
  const std::string path = "/nonexistent/holdfast/broker.toml";
  auto result = load_broker_config(path);
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].source == path);
  CHECK(result.errors[0].to_string() == path + ": cannot read config file: no such file");
}

TEST_CASE("a directory given as the config file is reported with its path", "[config]") {
  temp_file file{""};
  auto result = load_broker_config(file.dir());
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].to_string()
        == file.dir() + ": cannot read config file: it is a directory");
}

TEST_CASE("a file on disk is loaded and overrides apply after it", "[config]") {
  temp_file file{"flushDiskType = \"SYNC_FLUSH\"\nlistenPort = 9000\n"};
  auto result = load_broker_config(file.path(), {"listenPort=9001"});
  INFO(dump(result));
  REQUIRE(result.ok());
  CHECK(result.config.flush_disk_type == flush_disk_type::sync_flush);
  CHECK(result.config.listen_port == 9001);
}

TEST_CASE("without a file only defaults and overrides apply", "[config]") {
  auto result = load_broker_config(std::nullopt, {"brokerRole=SLAVE", "haMasterAddress=h:1", "haAuthToken=t"});
  INFO(dump(result));
  REQUIRE(result.ok());
  broker_config expected;
  expected.broker_role = broker_role::slave;
  expected.ha_master_address = "h:1";
  expected.ha_auth_token = "t";
  CHECK(result.config == expected);
}

TEST_CASE("an override without '=' is an error", "[config]") {
  auto text = GENERATE(as<std::string>{}, "listenPort", "", "=5");
  auto result = parse_broker_config("", "broker.toml", {text});
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].to_string()
        == "--set: override '" + text + "' is not of the form key=value");
}

TEST_CASE("an override of an unknown key is an error with a suggestion", "[config]") {
  auto result = parse_broker_config("", "broker.toml", {"listenprot=1"});
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].to_string()
        == "--set: key 'listenprot': unknown key; did you mean 'listenPort'?");
}

TEST_CASE("an override value is parsed as TOML, or else taken as a plain string", "[config]") {
  auto [override_text, key, value] = GENERATE(table<std::string, std::string, scalar>({
    {R"(flushDiskType="SYNC_FLUSH")", "flushDiskType", std::string{"SYNC_FLUSH"}},
    {"flushDiskType=SYNC_FLUSH", "flushDiskType", std::string{"SYNC_FLUSH"}},
    {"flushDiskType = SYNC_FLUSH", "flushDiskType", std::string{"SYNC_FLUSH"}},
    {"listenPort=0", "listenPort", std::int64_t{0}},
    {"maxMessageSize=1_024", "maxMessageSize", std::int64_t{1024}},
    {"listenPort=0x10", "listenPort", std::int64_t{16}},
    {"brokerName=broker-b", "brokerName", std::string{"broker-b"}},
    {"brokerName=a=b", "brokerName", std::string{"a=b"}},
    {R"(brokerName="has \"quotes\"")", "brokerName", std::string{"has \"quotes\""}},
    {"brokerName='123'", "brokerName", std::string{"123"}},
    {"storePathRootDir=/var/lib/holdfast", "storePathRootDir",
     std::string{"/var/lib/holdfast"}},
  }));
  auto result = parse_broker_config("", "broker.toml", {override_text});
  INFO(dump(result));
  REQUIRE(result.ok());
  const auto& s = broker_schema();
  CHECK(s.get(result.config, *find_key(s.properties(), key)) == value);
}

TEST_CASE("an override that parses as a non-string TOML value is rejected for a string key",
          "[config]") {
  auto result = parse_broker_config("", "broker.toml", {"brokerName=123"});
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].to_string()
        == "--set: key 'brokerName': expected a string, got an integer (123); to pass it as a "
           "string, quote it: --set 'brokerName=\"...\"'");
}

TEST_CASE("an override that is not TOML is a string, so integer keys reject it", "[config]") {
  auto result = parse_broker_config("", "broker.toml", {"listenPort=80a"});
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].message == "expected an integer, got a string (\"80a\")");
}

TEST_CASE("overrides apply after the file and in order", "[config]") {
  auto result = parse_broker_config("listenPort = 1\nbrokerName = \"file\"\n", "broker.toml",
                                    {"listenPort=2", "listenPort=3"});
  INFO(dump(result));
  REQUIRE(result.ok());
  CHECK(result.config.listen_port == 3);
  CHECK(result.config.broker_name == "file");
}

TEST_CASE("maxMessageSize larger than mappedFileSizeCommitLog names both keys", "[config]") {
  auto [text, overrides, blamed, source, line] =
    GENERATE(table<std::string, std::vector<std::string>, std::string, std::string, int>({
      {"maxMessageSize = 8192\nmappedFileSizeCommitLog = 4096\n", {}, "mappedFileSizeCommitLog",
       "broker.toml", 2},
      {"mappedFileSizeCommitLog = 4096\nmaxMessageSize = 8192\n", {}, "maxMessageSize",
       "broker.toml", 2},
      {"mappedFileSizeCommitLog = 4096\n", {}, "mappedFileSizeCommitLog", "broker.toml", 1},
      {"mappedFileSizeCommitLog = 4096\n", {"maxMessageSize=8192"}, "maxMessageSize", "--set",
       0},
    }));
  auto result = parse_broker_config(text, "broker.toml", overrides);
  REQUIRE(result.errors.size() == 1);
  const auto& e = result.errors[0];
  CHECK(e.key == blamed);
  CHECK(e.source == source);
  CHECK(e.line == line);
  CHECK(contains(e.message, "maxMessageSize"));
  CHECK(contains(e.message, "mappedFileSizeCommitLog"));
}

TEST_CASE("a rejected value does not also trigger the cross-key check", "[config]") {
  auto result = parse_broker_config("mappedFileSizeCommitLog = 4096\nmaxMessageSize = -1\n",
                                    "broker.toml");
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].key == "maxMessageSize");
  CHECK(contains(result.errors[0].message, "out of range"));
}

TEST_CASE("several errors are reported at once in file order", "[config]") {
  auto result = parse_broker_config(R"(listenPort = 70000
flushDiskTyp = "SYNC_FLUSH"
brokerName = "ok"
syncFlushTimeout = "5s"
brokerRole = "LEADER"
[extra]
x = 1
)",
                                    "broker.toml", {"listenPort", "defaultTopicQueueNums=0"});
  INFO(dump(result));
  CHECK(result.error_text()
        == "broker.toml:1:1: key 'listenPort': value 70000 is out of range [0, 65535]\n"
           "broker.toml:2:1: key 'flushDiskTyp': unknown key; did you mean 'flushDiskType'?\n"
           "broker.toml:4:1: key 'syncFlushTimeout': expected an integer, got a string "
           "(\"5s\")\n"
           "broker.toml:5:1: key 'brokerRole': value \"LEADER\" is not one of ASYNC_MASTER, "
           "SYNC_MASTER, SLAVE\n"
           "broker.toml:6:2: key 'extra': unknown key (config files are flat like RocketMQ's "
           "broker.conf: every key goes at the top level, not in a [section] or dotted key)\n"
           "--set: override 'listenPort' is not of the form key=value\n"
           "--set: key 'defaultTopicQueueNums': value 0 is out of range [1, 1024]\n");
  // The valid key among them still applies; the invalid ones keep their defaults.
  CHECK(result.config.broker_name == "ok");
  CHECK(result.config.listen_port == 10911);
}

TEST_CASE("to_toml round-trips through the parser to an equal config", "[config]") {
  auto overrides = GENERATE(as<std::vector<std::string>>{}, std::vector<std::string>{},
                            std::vector<std::string>{"flushDiskType=SYNC_FLUSH", "listenPort=0",
                                                     "brokerRole=SLAVE", "haMasterAddress=h:1",
                                                     "haAuthToken=t",
                                                     "mappedFileSizeCommitLog=1099511627776",
                                                     "maxMessageSize=1073741824"},
                            std::vector<std::string>{
                              R"(brokerName="quote \" backslash \\ tab \t newline \n bell \u0007")",
                              R"(listenHost="é ü 中")",
                              R"(storePathRootDir='C:\data\holdfast')"});
  auto original = parse_broker_config("", "broker.toml", overrides);
  INFO(dump(original));
  REQUIRE(original.ok());
  const auto text = to_toml(original.config);
  INFO(text);
  auto reparsed = parse_broker_config(text, "printed.toml");
  INFO(dump(reparsed));
  REQUIRE(reparsed.ok());
  CHECK(reparsed.config == original.config);
  CHECK(to_toml(reparsed.config) == text);
}

TEST_CASE("to_toml comments every key with its doc, unit and default", "[config]") {
  broker_config config;
  config.sync_flush_timeout = 250ms;
  const auto text = to_toml(config);
  CHECK(contains(text, "# In SYNC_FLUSH, how long a send waits for its fsync before it fails "
                       "with FLUSH_DISK_TIMEOUT (ms, default 5000)\nsyncFlushTimeout = 250\n"));
  CHECK(contains(text, "(default \"ASYNC_FLUSH\")\nflushDiskType = \"ASYNC_FLUSH\"\n"));
  std::istringstream lines{text};
  std::string line, previous;
  std::size_t keys = 0;
  while (std::getline(lines, line)) {
    if (!line.empty() && line[0] != '#') {
      ++keys;
      INFO(line);
      CHECK(previous.rfind("# ", 0) == 0);
      CHECK(contains(previous, "default "));
    }
    previous = line;
  }
  CHECK(keys == broker_schema().properties().size());
}

TEST_CASE("config errors print with or without a location", "[config]") {
  CHECK(config_error{"b.toml", 3, 7, "listenPort", "bad"}.to_string()
        == "b.toml:3:7: key 'listenPort': bad");
  CHECK(config_error{"--set", 0, 0, "listenPort", "bad"}.to_string()
        == "--set: key 'listenPort': bad");
  CHECK(config_error{"b.toml", 2, 1, "", "syntax"}.to_string() == "b.toml:2:1: syntax");
}

TEST_CASE("docs/config.md is the generated reference", "[config]") {
  const std::string path = HOLDFAST_SOURCE_DIR "/docs/config.md";
  std::ifstream in{path, std::ios::binary};
  std::ostringstream content;
  content << in.rdbuf();
  const auto generated = reference_markdown();
  INFO(path << " is out of date or missing; regenerate it with\n"
               "  build/bin/holdfast-broker --config-reference > docs/config.md\n"
               "after changing the table in config/broker_config.cpp.");
  CHECK(content.str() == generated);
}

TEST_CASE("the reference lists every key with its type, default, unit and range", "[config]") {
  const auto text = reference_markdown();
  CHECK(contains(text, "generated from `config/broker_config.cpp` by "
                       "`build/bin/holdfast-broker --config-reference`"));
  CHECK(contains(text, "| key | type | default | unit | allowed | description |"));
  CHECK(contains(text, "| `syncFlushTimeout` | integer | `5000` | ms | [1, 600000] | "));
  CHECK(contains(text, "| `flushDiskType` | enum | `ASYNC_FLUSH` |  | ASYNC_FLUSH, SYNC_FLUSH | "));
  for (const auto& info : broker_schema().properties())
    CHECK(contains(text, "| `" + info.name + "` |"));
}

namespace {

// A second config struct, standing in for the producer config that will reuse the machinery.
struct toy_config {
  bool compress = false;
  std::chrono::milliseconds send_timeout{};
  std::string group{};
};

const schema<toy_config>& toy_schema() {
  static const schema<toy_config> s = [] {
    schema<toy_config> result;
    result.add(boolean_property("compressMsgBody", &toy_config::compress, true,
                                "Compress bodies above the threshold."));
    result.add(duration_property("sendMsgTimeout", &toy_config::send_timeout, 3000, 1, 60000,
                                 "How long a send waits for the broker."));
    result.add(string_property("producerGroup", &toy_config::group, "DEFAULT_PRODUCER",
                               "Group this producer belongs to."));
    return result;
  }();
  return s;
}

} // namespace

TEST_CASE("the same machinery loads and prints another config struct", "[config]") {
  REQUIRE(toy_schema().problems() == std::vector<std::string>{});
  auto result = parse_config(toy_schema(), "compressMsgBody = false\nsendMsgTimeout = 10\n",
                             "producer.toml", {"producerGroup=orders"});
  INFO(result.error_text());
  REQUIRE(result.ok());
  CHECK_FALSE(result.config.compress);
  CHECK(result.config.send_timeout == 10ms);
  CHECK(result.config.group == "orders");

  auto bad = parse_config(toy_schema(), "compressMsgBody = \"yes\"\n", "producer.toml", {});
  REQUIRE(bad.errors.size() == 1);
  CHECK(bad.errors[0].message == "expected a boolean, got a string (\"yes\")");

  const auto text = config_to_toml(toy_schema(), result.config, "");
  CHECK(contains(text, "# How long a send waits for the broker (ms, default 3000)\n"
                       "sendMsgTimeout = 10\n"));
  auto again = parse_config(toy_schema(), text, "printed.toml", {});
  REQUIRE(again.ok());
  CHECK(again.config.compress == result.config.compress);
  CHECK(again.config.send_timeout == result.config.send_timeout);
  CHECK(again.config.group == result.config.group);
}
