// Consumption (issue #5): crash re-delivery, the retry path and dead letters, groups sharing
// queues. Real broker processes; a consumer that must die by SIGKILL is a `holdfast consume`
// process.

#include "process.hpp"

#include "client/client.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

using namespace holdfast;
using namespace holdfast::e2e;
using namespace std::chrono_literals;

namespace {

// Short delay levels: retries (levels 3, 4, 5...) wait 300-500 ms instead of 10 s and more.
const std::string short_delays = "messageDelayLevel=\"100ms 200ms 300ms 400ms 500ms\"";

std::vector<std::string> produce(const std::string& broker, const std::string& topic, int n,
                                 const std::string& tag) {
  client::producer_config cfg;
  cfg.broker = broker;
  client::producer p{cfg};
  p.start();
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) {
    message m;
    m.topic = topic;
    auto body = tag + std::to_string(i);
    m.body.assign(body.begin(), body.end());
    ids.push_back(p.send(std::move(m)).msg_id);
  }
  return ids;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);)
    if (!l.empty())
      out.push_back(l);
  return out;
}

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 20s) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until)
      return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

client::push_consumer_config push_config(const std::string& broker, const std::string& topic,
                                         const std::string& group) {
  client::push_consumer_config cfg;
  cfg.broker = broker;
  cfg.topic = topic;
  cfg.group = group;
  cfg.from_beginning = true;
  cfg.poll_wait = 300ms;
  cfg.heartbeat_interval = 200ms;
  cfg.local_retry_delay = 200ms;
  return cfg;
}

} // namespace

TEST_CASE("a consumer killed between receiving and committing: the group gets its messages again",
          "[consumer][crash]") {
  temp_dir dir;
  broker_process broker(dir.path(), dir.path() + "/store", free_port());
  auto ids = produce(broker.address(), "crash", 40, "c");
  // The victim prints what it received, then "processes" for a minute before committing.
  child victim({bin("holdfast"), "consume", "--broker", broker.address(), "--topic", "crash",
                "--group", "g", "--from-beginning", "--heartbeat-ms", "300", "--process-ms",
                "60000"},
               dir.path() + "/victim.out", dir.path() + "/victim.err");
  REQUIRE(eventually([&] { return !lines(victim.out()).empty(); }));
  auto received = lines(victim.out());
  victim.signal(SIGKILL);
  REQUIRE(victim.wait(10s) == 128 + SIGKILL);
  // The next member of the group gets every queue (the broker saw the connection break, or
  // the victim's heartbeat expires) and with them every message, the victim's included.
  std::string out;
  REQUIRE(run({bin("holdfast"), "consume", "--broker", broker.address(), "--topic", "crash",
               "--group", "g", "--from-beginning", "--heartbeat-ms", "300", "--idle-exit-ms",
               "6000"},
              dir.path(), out) == 0);
  auto got = lines(out);
  std::set<std::string> seen(got.begin(), got.end());
  for (auto& id : ids)
    CHECK(seen.count(id) == 1);
  for (auto& id : received)
    CHECK(seen.count(id) == 1);
  CHECK(got.size() == ids.size()); // nothing was committed, so nothing twice either
}

TEST_CASE("a listener that fails the first N times gets the message again through the retry "
          "topic, then succeeds",
          "[consumer]") {
  temp_dir dir;
  broker_process broker(dir.path(), dir.path() + "/store", free_port(), {short_delays});
  constexpr int fails = 3;
  std::mutex mu;
  std::map<std::string, std::vector<stored_message>> deliveries;
  client::push_consumer pc{push_config(broker.address(), "rt", "retry_g")};
  pc.register_message_listener([&](const stored_message& m) {
    std::lock_guard<std::mutex> g{mu};
    auto& d = deliveries[m.msg_id];
    d.push_back(m);
    if (d.size() == 2)
      throw std::runtime_error("a throwing listener counts as RECONSUME_LATER");
    return d.size() <= fails ? client::consume_status::reconsume_later
                             : client::consume_status::consume_success;
  });
  pc.start();
  auto ids = produce(broker.address(), "rt", 3, "r");
  auto done = [&] {
    std::lock_guard<std::mutex> g{mu};
    for (auto& id : ids)
      if (deliveries[id].size() < fails + 1)
        return false;
    return true;
  };
  REQUIRE(eventually(done, 25s));
  std::this_thread::sleep_for(1500ms); // longer than any retry delay: nothing more comes
  pc.shutdown();
  std::lock_guard<std::mutex> g{mu};
  for (auto& id : ids) {
    auto& d = deliveries[id];
    REQUIRE(d.size() == fails + 1);
    for (size_t i = 0; i < d.size(); ++i) {
      INFO("delivery " << i);
      CHECK(d[i].topic == "rt"); // retried messages show their original topic
      auto t = d[i].properties.find("RECONSUME_TIME");
      if (i == 0) {
        CHECK(t == d[i].properties.end());
      } else {
        REQUIRE(t != d[i].properties.end());
        CHECK(t->second == std::to_string(i));
        CHECK(d[i].properties.at("RETRY_TOPIC") == "rt");
        CHECK(d[i].properties.at("ORIGIN_MESSAGE_ID") == id);
      }
      CHECK(std::string(d[i].body.begin(), d[i].body.end()) == std::string(d[0].body.begin(), d[0].body.end()));
    }
  }
  auto s = pc.statistics();
  CHECK(s.consumed == 3);
  CHECK(s.sent_back == 3 * fails);
  CHECK(s.dead_lettered == 0);
}

TEST_CASE("a listener that always fails sends the message to the DLQ after maxReconsumeTimes",
          "[consumer]") {
  temp_dir dir;
  broker_process broker(dir.path(), dir.path() + "/store", free_port(), {short_delays});
  std::mutex mu;
  std::map<std::string, int> deliveries;
  auto cfg = push_config(broker.address(), "dt", "dlq_g");
  cfg.max_reconsume_times = 2;
  client::push_consumer pc{cfg};
  pc.register_message_listener([&](const std::vector<stored_message>& batch) {
    std::lock_guard<std::mutex> g{mu};
    for (auto& m : batch)
      ++deliveries[m.msg_id];
    return client::consume_status::reconsume_later;
  });
  pc.start();
  auto ids = produce(broker.address(), "dt", 2, "d");
  REQUIRE(eventually([&] { return pc.statistics().dead_lettered == 2; }, 25s));
  std::this_thread::sleep_for(1000ms);
  pc.shutdown();
  {
    std::lock_guard<std::mutex> g{mu};
    for (auto& id : ids)
      CHECK(deliveries[id] == 3); // the first delivery and maxReconsumeTimes retries
  }
  CHECK(pc.statistics().sent_back == 4);
  // The dead letters, read with the CLI: id, count and original topic.
  std::string out;
  REQUIRE(run({bin("holdfast"), "consume", "--broker", broker.address(), "--topic",
               "%DLQ%dlq_g", "--group", "inspect", "--from-beginning", "--heartbeat-ms", "300",
               "--idle-exit-ms", "2000"},
              dir.path(), out) == 0);
  auto got = lines(out);
  REQUIRE(got.size() == 2);
  for (auto& id : ids)
    CHECK(std::find(got.begin(), got.end(), id + " reconsumeTimes=3 originTopic=dt")
          != got.end());
}

TEST_CASE("three consumers share a topic's queues; when one leaves, its queues move to the others",
          "[consumer]") {
  temp_dir dir;
  broker_process broker(dir.path(), dir.path() + "/store", free_port());
  std::mutex mu;
  std::map<std::string, int> processed;
  auto listener = [&](const stored_message& m) {
    std::this_thread::sleep_for(10ms); // slow enough that every member gets work
    std::lock_guard<std::mutex> g{mu};
    ++processed[m.msg_id];
    return client::consume_status::consume_success;
  };
  auto ids = produce(broker.address(), "share", 300, "s");
  std::vector<std::unique_ptr<client::push_consumer>> members;
  for (std::string id : {"a", "b", "c"}) {
    auto cfg = push_config(broker.address(), "share", "share_g");
    cfg.consumer_id = id;
    cfg.pull_batch_size = 8;
    members.push_back(std::make_unique<client::push_consumer>(cfg));
    members.back()->register_message_listener(client::push_consumer::message_listener(listener));
    members.back()->start();
  }
  // AllocateMessageQueueAveragely over a, b, c: {0, 1}, {2}, {3}; each queue one owner.
  REQUIRE(eventually([&] {
    return members[0]->owned_queues() == std::vector<int32_t>{0, 1}
           && members[1]->owned_queues() == std::vector<int32_t>{2}
           && members[2]->owned_queues() == std::vector<int32_t>{3};
  }));
  REQUIRE(eventually([&] { return members[2]->statistics().consumed > 0; }));
  // c leaves cleanly (it commits what it consumed first), while messages keep coming.
  members[2]->shutdown();
  auto more = produce(broker.address(), "share", 150, "t");
  ids.insert(ids.end(), more.begin(), more.end());
  REQUIRE(eventually([&] {
    auto a = members[0]->owned_queues();
    auto b = members[1]->owned_queues();
    return a == std::vector<int32_t>{0, 1} && b == std::vector<int32_t>{2, 3};
  }));
  REQUIRE(eventually([&] {
    std::lock_guard<std::mutex> g{mu};
    return processed.size() == ids.size();
  }, 30s));
  members[0]->shutdown();
  members[1]->shutdown();
  std::lock_guard<std::mutex> g{mu};
  size_t duplicates = 0;
  for (auto& id : ids) {
    CHECK(processed.count(id) == 1);
    duplicates += processed[id] > 1 ? processed[id] - 1 : 0;
  }
  // A clean leave commits before letting go: at-least-once allows no duplicate here.
  CHECK(duplicates == 0);
  CHECK(members[0]->statistics().consumed + members[1]->statistics().consumed
          + members[2]->statistics().consumed
        == ids.size());
}

TEST_CASE("a slave copies the master's consumer offsets, so the group continues there",
          "[consumer][replication]") {
  temp_dir dir;
  ha_pair ha;
  broker_process master(dir.path(), dir.path() + "/m", ha.master_port,
                        ha.master_sets("ASYNC_MASTER"));
  broker_process slave(dir.path(), dir.path() + "/s", free_port(), ha.slave_sets("ASYNC_FLUSH"));
  auto ids = produce(master.address(), "off", 20, "o");
  std::string out;
  REQUIRE(run({bin("holdfast"), "consume", "--broker", master.address(), "--topic", "off",
               "--group", "g", "--from-beginning", "--max", "12"},
              dir.path(), out) == 0);
  auto first = lines(out);
  REQUIRE(first.size() == 12);
  // The copy runs every 500 ms here: the slave's offsets of g soon add up to the 12 committed.
  client::consumer_config cc;
  cc.broker = slave.address();
  cc.topic = "off";
  cc.group = "g";
  cc.from_beginning = true; // a queue without a commit counts 0, not its end
  cc.heartbeat_interval = 300ms;
  REQUIRE(eventually([&] {
    client::consumer c{cc};
    c.start();
    uint64_t sum = 0;
    for (auto p : c.positions())
      sum += p;
    return sum == 12;
  }));
  // A consumer of the group moving to the slave continues: exactly the other 8.
  REQUIRE(run({bin("holdfast"), "consume", "--broker", slave.address(), "--topic", "off",
               "--group", "g", "--from-beginning", "--heartbeat-ms", "300", "--idle-exit-ms",
               "2000"},
              dir.path(), out) == 0);
  auto rest = lines(out);
  CHECK(rest.size() == 8);
  std::set<std::string> all(first.begin(), first.end());
  all.insert(rest.begin(), rest.end());
  CHECK(all == std::set<std::string>(ids.begin(), ids.end()));
}

TEST_CASE("a group member killed mid-batch: its queues move to the others, duplicates only its "
          "uncommitted batch",
          "[consumer][crash]") {
  temp_dir dir;
  broker_process broker(dir.path(), dir.path() + "/store", free_port());
  std::mutex mu;
  std::map<std::string, int> processed;
  auto listener = [&](const stored_message& m) {
    std::lock_guard<std::mutex> g{mu};
    ++processed[m.msg_id];
    return client::consume_status::consume_success;
  };
  std::vector<std::unique_ptr<client::push_consumer>> members;
  for (std::string id : {"a", "b"}) {
    auto cfg = push_config(broker.address(), "kill", "kill_g");
    cfg.consumer_id = id;
    members.push_back(std::make_unique<client::push_consumer>(cfg));
    members.back()->register_message_listener(client::push_consumer::message_listener(listener));
    members.back()->start();
  }
  REQUIRE(eventually([&] {
    return members[0]->owned_queues() == std::vector<int32_t>{0, 1}
           && members[1]->owned_queues() == std::vector<int32_t>{2, 3};
  }));
  // The third member (a CLI process; its generated id sorts after "a" and "b") gets queue 3,
  // prints what it receives and never commits.
  child victim({bin("holdfast"), "consume", "--broker", broker.address(), "--topic", "kill",
                "--group", "kill_g", "--from-beginning", "--heartbeat-ms", "200",
                "--process-ms", "60000"},
               dir.path() + "/victim.out", dir.path() + "/victim.err");
  REQUIRE(eventually([&] { return members[1]->owned_queues() == std::vector<int32_t>{2}; }));
  auto ids = produce(broker.address(), "kill", 200, "k");
  REQUIRE(eventually([&] { return !lines(victim.out()).empty(); }));
  auto uncommitted = lines(victim.out());
  victim.signal(SIGKILL);
  REQUIRE(victim.wait(10s) == 128 + SIGKILL);
  REQUIRE(eventually([&] { return members[1]->owned_queues() == std::vector<int32_t>{2, 3}; }));
  REQUIRE(eventually([&] {
    std::lock_guard<std::mutex> g{mu};
    return processed.size() == ids.size();
  }, 30s));
  members[0]->shutdown();
  members[1]->shutdown();
  std::lock_guard<std::mutex> g{mu};
  // Every message processed by the survivors exactly once, the victim's batch included: its
  // processing counted for nothing because it was never committed.
  for (auto& id : ids)
    CHECK(processed[id] == 1);
  // Counting the victim's prints as processing, the duplicates are exactly its batch.
  size_t duplicates = 0;
  for (auto& id : uncommitted) {
    INFO(id);
    CHECK(processed.count(id) == 1);
    duplicates += processed.count(id);
  }
  CHECK(duplicates == uncommitted.size());
  CHECK(processed.size() == ids.size());
}

TEST_CASE("delayed messages reach their real topic once, across a broker restart",
          "[consumer]") {
  temp_dir dir;
  auto store = dir.path() + "/store";
  auto port = free_port();
  const std::string delays = "messageDelayLevel=\"100ms 200ms 5s\"";
  auto broker = std::make_unique<broker_process>(dir.path(), store, port,
                                                 std::vector<std::string>{delays});
  client::producer_config pcfg;
  pcfg.broker = broker->address();
  std::vector<std::string> ids;
  {
    client::producer p{pcfg};
    p.start();
    for (int level : {1, 3}) {
      message m;
      m.topic = "SCHEDULE_TOPIC_XXXX";
      m.queue_id = level - 1;
      m.properties = {{"REAL_TOPIC", "later"}, {"DELAY", std::to_string(level)}};
      m.body = {'x'};
      ids.push_back(p.send(std::move(m)).msg_id);
    }
  }
  int probes = 0;
  // Each look uses a fresh group, so it reads the whole topic.
  auto consume_all = [&](const std::string& name) {
    auto group = name + "-" + std::to_string(++probes);
    std::string out;
    REQUIRE(run({bin("holdfast"), "consume", "--broker", broker->address(), "--topic", "later",
                 "--group", group, "--from-beginning", "--heartbeat-ms", "300",
                 "--idle-exit-ms", "1000"},
                dir.path(), out) == 0);
    return lines(out);
  };
  // Level 1 is there soon; level 3 not yet.
  REQUIRE(eventually([&] { return consume_all("probe1").size() == 1; }));
  REQUIRE(broker->stop() == 0);
  broker = std::make_unique<broker_process>(dir.path(), store, port,
                                            std::vector<std::string>{delays});
  // The service continues from its durable positions: level 3 arrives, level 1 is not moved
  // a second time.
  REQUIRE(eventually([&] { return consume_all("probe2").size() >= 2; }));
  auto got = consume_all("probe3");
  std::sort(got.begin(), got.end());
  std::sort(ids.begin(), ids.end());
  CHECK(got == ids);
}

TEST_CASE("a group's position never skips messages acknowledged after a power cut took the ones "
          "it had consumed",
          "[consumer][crash][positions]") {
  // ASYNC_FLUSH: 20 messages acknowledged, consumed and committed (commits are fsynced), then
  // a power cut takes the 20 records, which no fsync covered. 30 new sends get SEND_OK at queue
  // offsets 0..29. The group's stored position 20 must not make it skip 20 of them.
  temp_dir dir;
  auto port = free_port();
  auto store = dir.path() + "/store";
  std::vector<std::string> sets{"defaultTopicQueueNums=1", "flushIntervalCommitLog=60000",
                                "flushCommitLogThoroughInterval=3600000"};
  std::string out;
  {
    broker_process broker(dir.path(), store, port, sets, {"--fault-fs"});
    produce(broker.address(), "pos", 20, "lost");
    REQUIRE(run({bin("holdfast"), "consume", "--broker", broker.address(), "--topic", "pos",
                 "--group", "g", "--from-beginning", "--max", "20", "--idle-exit-ms", "5000"},
                dir.path(), out) == 0);
    REQUIRE(lines(out).size() == 20);
    broker.proc().signal(SIGUSR1); // the power cut
    REQUIRE(broker.proc().wait(10s) >= 0);
  }
  broker_process broker(dir.path(), store, port, sets);
  auto status = [&] {
    std::string s;
    run({bin("holdfast"), "status", "--broker", broker.address()}, dir.path(), s);
    return s;
  };
  INFO(status());
  auto ids = produce(broker.address(), "pos", 30, "kept");
  REQUIRE(run({bin("holdfast"), "consume", "--broker", broker.address(), "--topic", "pos",
               "--group", "g", "--idle-exit-ms", "3000"},
              dir.path(), out) == 0);
  auto got = lines(out);
  std::set<std::string> seen(got.begin(), got.end());
  for (auto& id : ids)
    CHECK(seen.count(id) == 1);
  CHECK(broker.proc().err().find("lowered to it") != std::string::npos);
}

TEST_CASE("with a slow disk a committing consumer never stalls the broker's sends",
          "[consumer][slow-disk][e2e]") {
  // The real broker on the fault-injecting file system, every fsync 1.5 s, ASYNC_FLUSH (so a
  // send waits for no fsync of its own). A consumer polls and commits in a loop; each commit
  // waits for its fsync on the offset service's thread, while sends keep their usual latency.
  temp_dir dir;
  constexpr auto fsync_delay = 1500ms;
  broker_process broker(dir.path(), dir.path() + "/store", free_port(),
                        {"defaultTopicQueueNums=1"}, {"--fault-fs-sync-delay-ms", "1500"});
  produce(broker.address(), "slow", 5, "before-");
  std::atomic<bool> done{false};
  std::vector<std::chrono::steady_clock::duration> commits;
  std::string consumer_error;
  std::thread consuming([&] {
    try {
      client::consumer_config cfg;
      cfg.broker = broker.address();
      cfg.topic = "slow";
      cfg.group = "slow-group";
      cfg.from_beginning = true;
      cfg.poll_wait = 100ms;
      client::consumer c{cfg};
      c.start();
      while (!done) {
        auto got = c.poll();
        if (got.empty())
          continue;
        auto start = std::chrono::steady_clock::now();
        c.commit(got);
        commits.push_back(std::chrono::steady_clock::now() - start);
      }
    } catch (const std::exception& e) {
      consumer_error = e.what();
    }
  });
  client::producer_config pcfg;
  pcfg.broker = broker.address();
  client::producer p{pcfg};
  p.start();
  std::chrono::steady_clock::duration slowest{};
  auto until = std::chrono::steady_clock::now() + 2 * fsync_delay + 1s;
  for (int i = 0; std::chrono::steady_clock::now() < until; ++i) {
    message m;
    m.topic = "slow";
    m.body.assign(10, 'x');
    auto start = std::chrono::steady_clock::now();
    auto r = p.send(std::move(m));
    slowest = std::max(slowest, std::chrono::steady_clock::now() - start);
    CHECK(r.status == send_status::send_ok);
    std::this_thread::sleep_for(20ms); // give the consumer messages to commit
  }
  done = true;
  consuming.join();
  auto ms = [](auto d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
  INFO("slowest send: " << ms(slowest) << " ms; consumer error: " << consumer_error);
  CHECK(consumer_error.empty());
  CHECK(slowest < 500ms);
  REQUIRE_FALSE(commits.empty());
  for (auto& c : commits)
    CHECK(c >= fsync_delay); // a commit is answered only after its fsync
}
