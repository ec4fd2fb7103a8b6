#include "actors/client.hpp"

#include "actors/type_registry.hpp"
#include "runtime/log.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <thread>

namespace holdfast::client {

namespace {

using namespace std::chrono_literals;

std::unique_ptr<caf::actor_system_config> make_config() {
  auto cfg = std::make_unique<caf::actor_system_config>();
  register_types(*cfg);
  cfg->load<caf::io::middleman>();
  cfg->set("logger.console", caf::atom("none"));
  return cfg;
}

partition_actor connect(caf::actor_system& sys, const std::string& addr) {
  std::string host;
  uint16_t port = 0;
  if (!parse_address(addr, host, port))
    throw remote_error("invalid broker address '" + addr + "' (expected HOST:PORT)");
  auto h = sys.middleman().remote_actor<partition_actor>(host, port);
  if (!h)
    throw remote_error("cannot connect to broker " + addr + ": " + sys.render(h.error()));
  return *h;
}

hello_reply say_hello(caf::actor_system& sys, const partition_actor& broker,
                      const std::string& client_id, const std::string& token) {
  caf::scoped_actor self{sys};
  hello_reply out;
  caf::error err;
  hello_req req{client_id, token};
  self->request(broker, caf::duration{10s}, req)
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
  sys_cfg_ = make_config();
  sys_ = std::make_unique<caf::actor_system>(*sys_cfg_);
  broker_ = connect(*sys_, cfg_.broker);
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
  // Say hello first: a refused token is an exception here, not a stream of failed sends.
  hello_ = say_hello(*sys_, broker_, cfg_.client_id, cfg_.auth_token);
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

consumer::consumer(consumer_config cfg) : cfg_(std::move(cfg)) {
}

consumer::~consumer() {
  broker_ = nullptr;
  sys_.reset();
}

void consumer::start() {
  if (!valid_topic_name(cfg_.topic))
    throw client_error("invalid topic name '" + cfg_.topic + "'");
  sys_cfg_ = make_config();
  sys_ = std::make_unique<caf::actor_system>(*sys_cfg_);
  broker_ = connect(*sys_, cfg_.broker);
  hello_ = say_hello(*sys_, broker_, cfg_.client_id, cfg_.auth_token);
  next_.assign(static_cast<size_t>(std::max(hello_.queue_nums, 1)), 0);
  if (cfg_.group.empty())
    return;
  caf::scoped_actor self{*sys_};
  for (int32_t q = 0; q < static_cast<int32_t>(next_.size()); ++q) {
    fetch_offset_req req{cfg_.group, cfg_.topic, q};
    caf::error err;
    self->request(broker_, caf::duration{10s}, req)
      .receive(
        [&](fetch_offset_reply& r) {
          next_[q] = r.found ? r.offset : (cfg_.from_beginning ? 0 : r.queue_end);
        },
        [&](caf::error& e) { err = e; });
    if (err)
      std::rethrow_exception(to_exception(err));
  }
}

std::vector<stored_message> consumer::poll() {
  if (!sys_)
    throw client_error("consumer not started");
  auto n = next_.size();
  // First a quick round over every queue (round robin start, so no queue starves)...
  {
    caf::scoped_actor self{*sys_};
    for (size_t i = 0; i < n; ++i) {
      auto q = static_cast<int32_t>((rr_ + i) % n);
      pull_req req{cfg_.topic, q, next_[q], cfg_.pull_batch, 0};
      std::vector<stored_message> got;
      caf::error err;
      self->request(broker_, caf::duration{10s}, req)
        .receive([&](pull_reply& r) { got = std::move(r.msgs); if (!got.empty()) next_[q] = r.next_offset; },
                 [&](caf::error& e) { err = e; });
      if (err)
        std::rethrow_exception(to_exception(err));
      if (!got.empty()) {
        rr_ = (q + 1) % n;
        return got;
      }
    }
  }
  // ...then a long poll on all of them at once; the first queue to answer with messages wins.
  // Replies still on their way die with this scoped actor: their offsets were not advanced,
  // so those messages simply come again.
  caf::scoped_actor self{*sys_};
  for (size_t q = 0; q < n; ++q)
    self->send(broker_, pull_req{cfg_.topic, static_cast<int32_t>(q), next_[q], cfg_.pull_batch,
                                 static_cast<uint32_t>(cfg_.poll_wait.count())});
  std::vector<stored_message> got;
  for (size_t i = 0; i < n && got.empty(); ++i) {
    bool timed_out = false;
    caf::error err;
    self->receive(
      [&](pull_reply& r) {
        if (r.msgs.empty())
          return;
        auto q = r.msgs.front().queue_id;
        if (q < 0 || static_cast<size_t>(q) >= n || r.msgs.front().queue_offset != next_[q])
          return; // not what we asked for (cannot happen with one consumer per queue)
        next_[q] = r.next_offset;
        got = std::move(r.msgs);
      },
      [&](caf::error& e) { err = e; },
      caf::after(cfg_.poll_wait + 5s) >> [&] { timed_out = true; });
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
  std::map<int32_t, uint64_t> upto;
  for (auto& m : processed) {
    auto& v = upto[m.queue_id];
    v = std::max(v, m.queue_offset + 1);
  }
  caf::scoped_actor self{*sys_};
  for (auto& [q, off] : upto) {
    commit_offset_req req{cfg_.group, cfg_.topic, q, off};
    caf::error err;
    self->request(broker_, caf::duration{10s}, req)
      .receive([](bool) {}, [&](caf::error& e) { err = e; });
    if (err)
      std::rethrow_exception(to_exception(err));
  }
}

partition_status broker_status(const std::string& broker, std::chrono::milliseconds timeout,
                               const std::string& auth_token) {
  auto cfg = make_config();
  caf::actor_system sys{*cfg};
  auto h = connect(sys, broker);
  (void) say_hello(sys, h, "holdfast-status", auth_token);
  caf::scoped_actor self{sys};
  partition_status out;
  caf::error err;
  self->request(h, caf::duration{timeout}, status_atom::value)
    .receive([&](partition_status& s) { out = std::move(s); }, [&](caf::error& e) { err = e; });
  if (err)
    std::rethrow_exception(to_exception(err));
  return out;
}

} // namespace holdfast::client
