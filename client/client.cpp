#include "client/client.hpp"

#include "actors/wire/connect.hpp"
#include "actors/wire/type_registry.hpp"
#include "runtime/log.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <thread>

#include <unistd.h>

namespace holdfast::client {

namespace {

using namespace std::chrono_literals;

// TLS settings are checked here, at the API's edge: CAF throws from its own thread on a file it
// cannot load.
std::unique_ptr<caf::actor_system_config> make_config(const tls_client_options& tls) {
  if (auto why = check_tls_client(tls); !why.empty())
    throw client_error(why);
  auto cfg = std::make_unique<caf::actor_system_config>();
  register_types(*cfg);
  cfg->load<caf::io::middleman>();
  use_tls_client(*cfg, tls);
  cfg->set("logger.console", caf::atom("none"));
  return cfg;
}

client_door_actor connect(caf::actor_system& sys, const std::string& addr) {
  auto h = connect_blocking<client_door_actor>(sys, addr);
  if (!h)
    throw remote_error("cannot connect to broker " + addr + ": " + sys.render(h.error()));
  return *h;
}

// A long-lived actor that says hello and sends the group heartbeats for a consumer: while it
// lives the broker keeps this connection's session, and when it goes (the process exits, the
// connection breaks) the broker ends the session and the member leaves its group at once.
caf::actor spawn_session(caf::actor_system& sys, const client_door_actor& door) {
  auto broker = caf::actor_cast<caf::actor>(door);
  return sys.spawn([broker](caf::event_based_actor* self) -> caf::behavior {
    auto forward = [self, broker](auto req, auto reply_tag) {
      using reply_type = decltype(reply_tag);
      auto rp = self->make_response_promise<reply_type>();
      self->request(broker, caf::duration{std::chrono::seconds(10)}, std::move(req))
        .then([rp](reply_type& r) mutable { rp.deliver(std::move(r)); },
              [rp](caf::error& e) mutable { rp.deliver(std::move(e)); });
      return rp;
    };
    return {
      [forward](hello_req& req) { return forward(std::move(req), hello_reply{}); },
      [forward](group_heartbeat_req& req) {
        return forward(std::move(req), group_heartbeat_reply{});
      },
    };
  });
}

template <class Handle>
hello_reply say_hello(caf::actor_system& sys, const Handle& broker, const std::string& client_id,
                      const std::string& token, std::chrono::milliseconds timeout = 10s) {
  caf::scoped_actor self{sys};
  hello_reply out;
  caf::error err;
  hello_req req{client_id, token, {}};
  self->request(broker, caf::duration{timeout}, req)
    .receive([&](hello_reply& r) { out = std::move(r); }, [&](caf::error& e) { err = e; });
  if (err)
    std::rethrow_exception(to_exception(err));
  return out;
}

} // namespace

std::exception_ptr to_exception(const caf::error& err) {
  auto text = describe(err);
  if (err == caf::sec::request_timeout)
    return std::make_exception_ptr(timeout_error("timeout: " + text));
  if (err.category() == caf::atom("holdfast"))
    return std::make_exception_ptr(broker_error(text));
  return std::make_exception_ptr(remote_error(text));
}

// ---- producer -----------------------------------------------------------------------------

producer::producer(producer_config cfg) : cfg_(std::move(cfg)), id_prefix_(make_msg_id_prefix()) {
}

producer::~producer() {
  shutdown();
}

void producer::start() {
  if (cfg_.send_msg_timeout.count() <= 0)
    throw client_error("sendMsgTimeout must be positive");
  if (cfg_.retry_times_when_send_failed < 0 || cfg_.retry_times_when_send_async_failed < 0)
    throw client_error("retry counts must not be negative");
  if (cfg_.request_timeout.count() < 0)
    throw client_error("requestTimeout must not be negative");
  if (cfg_.linger_ms.count() < 0 || cfg_.batch_max_bytes == 0)
    throw client_error("lingerMs must not be negative and batchMaxBytes must be positive");
  sys_cfg_ = make_config(cfg_.tls);
  sys_ = std::make_unique<caf::actor_system>(*sys_cfg_);
  // A broker that dies while our hello is on the wire never answers it (CAF drops what was in
  // flight on a lost connection), and while it restarts it refuses connections: once the
  // broker was reached, both are retried with a new connection for a while, as the producer
  // actor does for sends. A broker never reached (a wrong address) fails at once; a refusal by
  // the broker itself (a wrong token) is final.
  auto give_up_at = std::chrono::steady_clock::now() + 20s;
  bool reached = false;
  for (;;) {
    try {
      broker_ = connect(*sys_, cfg_.broker);
      reached = true;
      say_hello(*sys_, broker_, cfg_.client_id, cfg_.auth_token, 5s);
      break;
    } catch (const broker_error&) {
      throw;
    } catch (const client_error&) {
      if (!reached || std::chrono::steady_clock::now() >= give_up_at)
        throw;
      std::this_thread::sleep_for(200ms);
    }
  }
  producer_options opts;
  opts.send_timeout = cfg_.send_msg_timeout;
  opts.retry_times = cfg_.retry_times_when_send_failed;
  opts.batch_max_bytes = cfg_.batch_max_bytes;
  opts.linger = cfg_.linger_ms;
  opts.broker_address = cfg_.broker;
  opts.client_id = cfg_.client_id;
  opts.auth_token = cfg_.auth_token;
  opts.idempotence = cfg_.enable_idempotence;
  opts.request_timeout = cfg_.request_timeout;
  // The hello above came first so that a refused token is an exception, not a stream of
  // failed sends; the producer actor says its own hello (its session carries the producer id).
  hello_ = hello_reply{};
  actor_ = sys_->spawn(holdfast::producer, broker_, opts);
  // The producer actor says hello (the broker logs the connection); wait for its answer.
  caf::scoped_actor self{*sys_};
  for (int i = 0; i < 500 && hello_.broker_name.empty(); ++i) {
    self->request(actor_, caf::duration{5s}, status_atom::value)
      .receive([&](hello_reply& r) { hello_ = std::move(r); }, [](caf::error&) {});
    if (hello_.broker_name.empty())
      std::this_thread::sleep_for(10ms);
  }
  if (hello_.broker_name.empty())
    throw remote_error("broker " + cfg_.broker + " did not answer hello");
}

void producer::shutdown() {
  if (!sys_)
    return;
  caf::anon_send_exit(actor_, caf::exit_reason::user_shutdown);
  actor_ = nullptr;
  broker_ = nullptr;
  sys_.reset();
  sys_cfg_.reset();
}

send_result producer::send(message msg) {
  if (!sys_)
    throw client_error("producer not started");
  if (msg.msg_id.empty())
    msg.msg_id = id_prefix_ + std::to_string(++ids_);
  caf::scoped_actor self{*sys_};
  send_result out;
  caf::error err;
  send_req req{std::move(msg), cfg_.retry_times_when_send_failed};
  // The producer actor enforces sendMsgTimeout; the extra second only guards against a bug.
  self->request(actor_, caf::duration{cfg_.send_msg_timeout + 1s}, std::move(req))
    .receive([&](send_result& r) { out = std::move(r); }, [&](caf::error& e) { err = e; });
  if (err)
    std::rethrow_exception(to_exception(err));
  return out;
}

void producer::send(message msg, std::function<void(const send_result&)> on_success,
                    std::function<void(std::exception_ptr)> on_exception) {
  if (!sys_)
    throw client_error("producer not started");
  if (msg.msg_id.empty())
    msg.msg_id = id_prefix_ + std::to_string(++ids_);
  auto prod = actor_;
  auto timeout = caf::duration{cfg_.send_msg_timeout + 1s};
  send_req req{std::move(msg), cfg_.retry_times_when_send_async_failed};
  // A short-lived actor per call carries the callbacks; it ends with the answer.
  sys_->spawn([prod, timeout, req = std::move(req), ok = std::move(on_success),
               ex = std::move(on_exception)](caf::event_based_actor* self) mutable {
    self->request(prod, timeout, std::move(req))
      .then([ok](send_result& r) { ok(r); },
            [ex](caf::error& e) { ex(to_exception(e)); });
  });
}

void producer::send_oneway(message msg) {
  if (!sys_)
    throw client_error("producer not started");
  if (msg.msg_id.empty())
    msg.msg_id = id_prefix_ + std::to_string(++ids_);
  caf::anon_send(actor_, send_req{std::move(msg), 0});
}

std::vector<send_result> producer::send(std::vector<message> batch) {
  if (!sys_)
    throw client_error("producer not started");
  if (batch.empty())
    return {};
  for (auto& m : batch)
    if (m.msg_id.empty())
      m.msg_id = id_prefix_ + std::to_string(++ids_);
  // Through the producer actor: stamped for idempotence and retried like single sends.
  caf::scoped_actor self{*sys_};
  std::vector<send_result> out;
  caf::error err;
  self->request(actor_, caf::duration{cfg_.send_msg_timeout + 1s},
                batch_send_req{std::move(batch), cfg_.retry_times_when_send_failed})
    .receive([&](append_reply& r) { out = std::move(r.results); },
             [&](caf::error& e) { err = e; });
  if (err)
    std::rethrow_exception(to_exception(err));
  return out;
}

// ---- consumer -----------------------------------------------------------------------------

namespace {

std::string make_consumer_id(const std::string& client_id) {
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0)
    host[0] = '\0';
  std::random_device rd;
  char buf[64];
  std::snprintf(buf, sizeof(buf), "#%d#%08x", static_cast<int>(::getpid()), rd());
  return client_id.substr(0, 64) + "@" + std::string(host).substr(0, 64) + buf;
}

template <class Reply, class Msg>
Reply ask_broker(caf::actor_system& sys, const caf::actor& dest, caf::duration timeout, Msg msg) {
  caf::scoped_actor self{sys};
  Reply out{};
  caf::error err;
  self->request(dest, timeout, std::move(msg))
    .receive([&](Reply& r) { out = std::move(r); }, [&](caf::error& e) { err = e; });
  if (err)
    std::rethrow_exception(to_exception(err));
  return out;
}

} // namespace

consumer::consumer(consumer_config cfg) : cfg_(std::move(cfg)) {
}

consumer::~consumer() {
  try {
    shutdown();
  } catch (...) {
    // Leaving is a courtesy: without it the broker notices the broken connection.
  }
}

void consumer::start() {
  if (!valid_topic_name(cfg_.topic))
    throw client_error("invalid topic name '" + cfg_.topic + "'");
  for (auto& t : cfg_.extra_topics)
    if (!valid_topic_name(t))
      throw client_error("invalid topic name '" + t + "'");
  if (cfg_.heartbeat_interval.count() <= 0 || cfg_.poll_wait.count() < 0)
    throw client_error("heartbeat interval must be positive and poll wait not negative");
  id_ = cfg_.consumer_id.empty() ? make_consumer_id(cfg_.client_id) : cfg_.consumer_id;
  sys_cfg_ = make_config(cfg_.tls);
  sys_ = std::make_unique<caf::actor_system>(*sys_cfg_);
  broker_ = connect(*sys_, cfg_.broker);
  session_ = spawn_session(*sys_, broker_);
  hello_ = say_hello(*sys_, session_, cfg_.client_id, cfg_.auth_token);
  subs_.clear();
  subs_.push_back(subscription{cfg_.topic, 0, {}});
  for (auto& t : cfg_.extra_topics)
    subs_.push_back(subscription{t, 0, {}});
  if (cfg_.group.empty()) {
    // No group: every queue from the beginning, nothing committed.
    for (auto& sub : subs_) {
      sub.queue_count = queue_count_of(sub.topic);
      for (int32_t q = 0; q < sub.queue_count; ++q)
        sub.next[q] = 0;
    }
    return;
  }
  heartbeat();
}

int32_t consumer::queue_count_of(const std::string& topic) {
  return ask_broker<int32_t>(*sys_, caf::actor_cast<caf::actor>(broker_), caf::duration{10s},
                             topic_route_req{topic});
}

void consumer::heartbeat(bool leave) {
  next_heartbeat_ = std::chrono::steady_clock::now() + cfg_.heartbeat_interval;
  for (auto& sub : subs_) {
    group_heartbeat_req req;
    req.group = cfg_.group;
    req.topic = sub.topic;
    req.consumer_id = id_;
    for (auto& [q, off] : sub.next)
      req.owned.push_back(q);
    req.interval_ms = static_cast<uint32_t>(cfg_.heartbeat_interval.count());
    req.leave = leave;
    auto r = ask_broker<group_heartbeat_reply>(*sys_, session_, caf::duration{15s}, std::move(req));
    if (leave)
      continue;
    sub.queue_count = r.queue_count;
    std::map<int32_t, uint64_t> next;
    for (auto q : r.queues) {
      if (auto i = sub.next.find(q); i != sub.next.end()) {
        next.emplace(q, i->second);
        continue;
      }
      // Newly owned: continue where the group committed (the old owner committed before it
      // let go), else where a new group starts.
      fetch_offset_req f{cfg_.group, sub.topic, q};
      auto fo = ask_broker<fetch_offset_reply>(*sys_, caf::actor_cast<caf::actor>(broker_),
                                               caf::duration{10s}, f);
      bool retry = sub.topic.starts_with(retry_group_topic_prefix);
      next.emplace(q, fo.found ? fo.offset : (cfg_.from_beginning || retry ? 0 : fo.queue_end));
    }
    sub.next = std::move(next);
  }
}

void consumer::shutdown() {
  if (!sys_)
    return;
  auto session = session_;
  session_ = nullptr;
  if (!cfg_.group.empty() && session) {
    try {
      session_ = session;
      heartbeat(true);
      session_ = nullptr;
    } catch (...) {
      session_ = nullptr;
      caf::anon_send_exit(session, caf::exit_reason::user_shutdown);
      broker_ = nullptr;
      sys_.reset();
      throw;
    }
  }
  if (session)
    caf::anon_send_exit(session, caf::exit_reason::user_shutdown);
  broker_ = nullptr;
  sys_.reset();
  subs_.clear();
}

std::vector<uint64_t> consumer::positions() const {
  std::vector<uint64_t> out;
  if (subs_.empty())
    return out;
  out.assign(static_cast<size_t>(std::max(subs_[0].queue_count, 0)), 0);
  for (auto& [q, off] : subs_[0].next)
    if (q >= 0 && static_cast<size_t>(q) < out.size())
      out[q] = off;
  return out;
}

std::vector<int32_t> consumer::owned_queues() const {
  std::vector<int32_t> out;
  if (!subs_.empty())
    for (auto& [q, off] : subs_[0].next)
      out.push_back(q);
  return out;
}

std::vector<stored_message> consumer::poll() {
  if (!sys_)
    throw client_error("consumer not started");
  if (!cfg_.group.empty() && std::chrono::steady_clock::now() >= next_heartbeat_)
    heartbeat();
  std::vector<std::pair<size_t, int32_t>> owned; // (subscription, queue)
  for (size_t s = 0; s < subs_.size(); ++s)
    for (auto& [q, off] : subs_[s].next)
      owned.emplace_back(s, q);
  auto wait = cfg_.poll_wait;
  if (!cfg_.group.empty()) {
    // Never sleep through a heartbeat.
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      next_heartbeat_ - std::chrono::steady_clock::now());
    wait = std::clamp(left, std::chrono::milliseconds(1), std::max(wait, std::chrono::milliseconds(1)));
  }
  if (owned.empty()) {
    std::this_thread::sleep_for(wait);
    return {};
  }
  auto n = owned.size();
  // First a quick round over every owned queue (round robin start, so no queue starves)...
  {
    caf::scoped_actor self{*sys_};
    for (size_t i = 0; i < n; ++i) {
      auto k = (rr_ + i) % n;
      auto& [s, q] = owned[k];
      auto& sub = subs_[s];
      pull_req req{sub.topic, q, sub.next[q], cfg_.pull_batch, 0};
      std::vector<stored_message> got;
      caf::error err;
      self->request(broker_, caf::duration{10s}, req)
        .receive(
          [&](pull_reply& r) {
            got = std::move(r.msgs);
            if (r.moved) {
              log_warning("consumer: {} queue {}: offset {} is past the queue's end; continuing "
                          "at {}", sub.topic, q, sub.next[q], r.next_offset);
              sub.next[q] = r.next_offset;
            } else if (!got.empty()) {
              sub.next[q] = r.next_offset;
            }
          },
          [&](caf::error& e) { err = e; });
      if (err)
        std::rethrow_exception(to_exception(err));
      if (!got.empty()) {
        rr_ = k + 1;
        return got;
      }
    }
  }
  // ...then a long poll on all of them at once; the first queue to answer with messages wins.
  // Replies still on their way die with this scoped actor: their offsets were not advanced,
  // so those messages simply come again.
  caf::scoped_actor self{*sys_};
  for (auto& [s, q] : owned)
    self->send(broker_, pull_req{subs_[s].topic, q, subs_[s].next[q], cfg_.pull_batch,
                                 static_cast<uint32_t>(wait.count())});
  std::vector<stored_message> got;
  for (size_t i = 0; i < n && got.empty(); ++i) {
    bool timed_out = false;
    caf::error err;
    self->receive(
      [&](pull_reply& r) {
        if (r.moved)
          return; // the quick round of the next poll moves the position
        if (r.msgs.empty())
          return;
        auto& first = r.msgs.front();
        for (auto& sub : subs_) {
          if (sub.topic != first.topic)
            continue;
          auto it = sub.next.find(first.queue_id);
          if (it == sub.next.end() || first.queue_offset != it->second)
            return; // not what we asked for
          it->second = r.next_offset;
          got = std::move(r.msgs);
          return;
        }
      },
      [&](caf::error& e) { err = e; },
      caf::after(wait + 5s) >> [&] { timed_out = true; });
    if (err)
      std::rethrow_exception(to_exception(err));
    if (timed_out)
      break;
  }
  return got;
}

void consumer::commit(const std::vector<stored_message>& processed) {
  if (cfg_.group.empty() || processed.empty())
    return;
  if (!sys_)
    throw client_error("consumer not started");
  std::map<std::pair<std::string, int32_t>, uint64_t> upto;
  for (auto& m : processed) {
    auto& v = upto[{m.topic, m.queue_id}];
    v = std::max(v, m.queue_offset + 1);
  }
  caf::scoped_actor self{*sys_};
  for (auto& [tq, off] : upto) {
    commit_offset_req req{cfg_.group, tq.first, tq.second, off};
    caf::error err;
    self->request(broker_, caf::duration{10s}, req)
      .receive([](bool) {}, [&](caf::error& e) { err = e; });
    if (err)
      std::rethrow_exception(to_exception(err));
  }
}

std::vector<send_result> consumer::append(std::vector<message> batch,
                                          std::chrono::milliseconds timeout) {
  if (!sys_)
    throw client_error("consumer not started");
  append_req req{std::move(batch)};
  auto r = ask_broker<append_reply>(*sys_, caf::actor_cast<caf::actor>(broker_),
                                    caf::duration{timeout}, std::move(req));
  return std::move(r.results);
}

// ---- push consumer ------------------------------------------------------------------------

push_consumer::push_consumer(push_consumer_config cfg) : cfg_(std::move(cfg)) {
}

push_consumer::~push_consumer() {
  try {
    shutdown();
  } catch (...) {
  }
}

void push_consumer::register_message_listener(batch_listener listener) {
  listener_ = std::move(listener);
}

void push_consumer::register_message_listener(message_listener listener) {
  listener_ = [l = std::move(listener)](const std::vector<stored_message>& batch) {
    for (auto& m : batch)
      if (l(m) != consume_status::consume_success)
        return consume_status::reconsume_later;
    return consume_status::consume_success;
  };
}

void push_consumer::start() {
  if (running_)
    throw client_error("push consumer already started");
  if (!listener_)
    throw client_error("register a message listener before start()");
  if (!valid_group_name(cfg_.group))
    throw client_error("a push consumer needs a consumer group matching [A-Za-z0-9_%-]{1,127}");
  if (cfg_.max_reconsume_times < 0 || cfg_.consume_message_batch_max_size == 0
      || cfg_.pull_batch_size == 0)
    throw client_error("maxReconsumeTimes must not be negative, batch sizes must be positive");
  consumer_config cc;
  cc.broker = cfg_.broker;
  cc.topic = cfg_.topic;
  cc.group = cfg_.group;
  cc.from_beginning = cfg_.from_beginning;
  cc.poll_wait = cfg_.poll_wait;
  cc.pull_batch = cfg_.pull_batch_size;
  cc.heartbeat_interval = cfg_.heartbeat_interval;
  cc.extra_topics = {retry_topic_of(cfg_.group)};
  cc.client_id = cfg_.client_id;
  cc.consumer_id = cfg_.consumer_id;
  cc.auth_token = cfg_.auth_token;
  cc.tls = cfg_.tls;
  consumer_ = std::make_unique<consumer>(cc);
  consumer_->start();
  delay_levels_ = consumer_->queue_count_of(std::string(schedule_topic));
  {
    std::lock_guard<std::mutex> g{mu_};
    owned_ = consumer_->owned_queues();
  }
  running_ = true;
  thread_ = std::thread([this] { run(); });
}

void push_consumer::shutdown() {
  if (!thread_.joinable())
    return;
  running_ = false;
  thread_.join();
  try {
    consumer_->shutdown();
  } catch (const std::exception& e) {
    // Not fatal: the broker drops a member whose connection ended or heartbeat expired.
    log_warning("push consumer: leaving the group failed: {}", e.what());
  }
  consumer_.reset();
}

push_consumer::stats push_consumer::statistics() const {
  std::lock_guard<std::mutex> g{mu_};
  return stats_;
}

std::vector<int32_t> push_consumer::owned_queues() const {
  std::lock_guard<std::mutex> g{mu_};
  return owned_;
}

void push_consumer::run() {
  while (running_) {
    std::vector<stored_message> msgs;
    try {
      msgs = consumer_->poll();
      std::lock_guard<std::mutex> g{mu_};
      owned_ = consumer_->owned_queues();
    } catch (const std::exception& e) {
      log_warning("push consumer: pull failed: {}", e.what());
      std::this_thread::sleep_for(cfg_.local_retry_delay);
      continue;
    }
    // Consume in chunks; commit everything consumed or sent back, once per pull.
    std::vector<stored_message> done;
    for (size_t i = 0; i < msgs.size() && running_;) {
      auto n = std::min<size_t>(cfg_.consume_message_batch_max_size, msgs.size() - i);
      std::vector<stored_message> chunk(std::make_move_iterator(msgs.begin() + i),
                                        std::make_move_iterator(msgs.begin() + i + n));
      if (!consume_batch(chunk))
        break; // stopping: what is not done is consumed again by the next owner
      done.insert(done.end(), std::make_move_iterator(chunk.begin()),
                  std::make_move_iterator(chunk.end()));
      i += n;
    }
    for (;;) {
      try {
        consumer_->commit(done);
        break;
      } catch (const std::exception& e) {
        // Uncommitted messages would come again after a restart; keep trying while running.
        log_warning("push consumer: commit failed: {}", e.what());
        if (!running_)
          break;
        std::this_thread::sleep_for(cfg_.local_retry_delay);
      }
    }
  }
}

// Returns true once the batch is consumed or safely sent back; false only when stopping.
bool push_consumer::consume_batch(std::vector<stored_message>& batch) {
  for (;;) {
    // The listener sees a retried message with its original topic, as in RocketMQ.
    std::vector<stored_message> view = batch;
    for (auto& m : view)
      if (m.topic.starts_with(retry_group_topic_prefix))
        if (auto t = m.properties.find(property::retry_topic); t != m.properties.end())
          m.topic = t->second;
    auto status = consume_status::reconsume_later;
    try {
      status = listener_(view);
    } catch (const std::exception& e) {
      log_warning("push consumer: listener threw ({}): reconsume later", e.what());
    } catch (...) {
      log_warning("push consumer: listener threw: reconsume later");
    }
    if (status == consume_status::consume_success) {
      std::lock_guard<std::mutex> g{mu_};
      stats_.consumed += batch.size();
      return true;
    }
    if (send_back(batch))
      return true;
    // The send-back failed: consume again here after a pause (the offset stays uncommitted).
    auto until = std::chrono::steady_clock::now() + cfg_.local_retry_delay;
    while (running_ && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(10ms);
    if (!running_)
      return false;
  }
}

bool push_consumer::send_back(const std::vector<stored_message>& batch) {
  std::vector<message> out;
  uint64_t dead = 0;
  for (auto& m : batch) {
    message r;
    r.msg_id = m.msg_id;
    r.body = m.body;
    r.properties = m.properties;
    int times = 0;
    if (auto t = m.properties.find(property::reconsume_time); t != m.properties.end())
      times = std::atoi(t->second.c_str());
    if (!r.properties.count(property::retry_topic))
      r.properties[property::retry_topic] = m.topic;
    if (!r.properties.count(property::origin_message_id))
      r.properties[property::origin_message_id] = m.msg_id;
    r.properties[property::reconsume_time] = std::to_string(times + 1);
    r.properties[property::max_reconsume_times] = std::to_string(cfg_.max_reconsume_times);
    if (times >= cfg_.max_reconsume_times || delay_levels_ <= 0) {
      r.topic = dlq_topic_of(cfg_.group);
      r.queue_id = 0;
      ++dead;
    } else {
      // RocketMQ's schedule: the n-th retry waits delay level n + 2 (10 s by default).
      auto level = std::min(3 + times, delay_levels_);
      r.topic = std::string(schedule_topic);
      r.queue_id = level - 1;
      r.properties[property::real_topic] = retry_topic_of(cfg_.group);
      r.properties[property::real_queue_id] = "0";
      r.properties[property::delay_level] = std::to_string(level);
    }
    out.push_back(std::move(r));
  }
  try {
    (void) consumer_->append(std::move(out), cfg_.send_back_timeout);
  } catch (const std::exception& e) {
    log_warning("push consumer: send-back failed ({}): consuming again locally", e.what());
    std::lock_guard<std::mutex> g{mu_};
    ++stats_.send_back_failures;
    return false;
  }
  std::lock_guard<std::mutex> g{mu_};
  stats_.sent_back += batch.size() - dead;
  stats_.dead_lettered += dead;
  return true;
}

int32_t update_topic(const std::string& broker, const std::string& topic, int32_t queues,
                     std::chrono::milliseconds timeout, const std::string& auth_token,
                     const tls_client_options& tls) {
  auto cfg = make_config(tls);
  caf::actor_system sys{*cfg};
  auto h = connect(sys, broker);
  // The actor that said hello asks too: it anchors the session (see broker_status).
  caf::scoped_actor self{sys};
  caf::error err;
  self->request(h, caf::duration{10s}, hello_req{"holdfast-admin", auth_token, {}})
    .receive([](hello_reply&) {}, [&](caf::error& e) { err = e; });
  if (err)
    std::rethrow_exception(to_exception(err));
  int32_t out = 0;
  self->request(h, caf::duration{timeout}, update_topic_req{topic, queues})
    .receive([&](int32_t n) { out = n; }, [&](caf::error& e) { err = e; });
  if (err)
    std::rethrow_exception(to_exception(err));
  return out;
}

partition_status broker_status(const std::string& broker, std::chrono::milliseconds timeout,
                               const std::string& auth_token, const tls_client_options& tls) {
  auto cfg = make_config(tls);
  caf::actor_system sys{*cfg};
  auto h = connect(sys, broker);
  // One actor says hello and asks: the actor that said hello anchors the session, which ends
  // when it goes away, so a status asked by another actor after it could find none.
  caf::scoped_actor self{sys};
  caf::error hello_err;
  self->request(h, caf::duration{10s}, hello_req{"holdfast-status", auth_token, {}})
    .receive([](hello_reply&) {}, [&](caf::error& e) { hello_err = e; });
  if (hello_err)
    std::rethrow_exception(to_exception(hello_err));
  partition_status out;
  caf::error err;
  self->request(h, caf::duration{timeout}, status_atom::value)
    .receive([&](partition_status& s) { out = std::move(s); }, [&](caf::error& e) { err = e; });
  if (err)
    std::rethrow_exception(to_exception(err));
  return out;
}

} // namespace holdfast::client
