#pragma once

// The C++20 coroutine form of the producer for Asio applications:
//
//   asio::awaitable<void> f(holdfast::client::producer& p) {
//     auto r = co_await holdfast::client::async_send(p, msg, asio::use_awaitable);
//   }
//
// Kept out of client.hpp so that applications without Asio do not compile it.

#include "client/client.hpp"

#include <asio.hpp>

#include <exception>
#include <memory>

namespace holdfast::client {

/// Sends `msg` asynchronously (retryTimesWhenSendAsyncFailed applies) and completes `token`
/// with (std::exception_ptr, send_result) on the handler's own executor. With
/// asio::use_awaitable, co_await returns the send_result or throws the client_error.
///
/// The completion is posted back to the handler's executor (the library's callbacks run on
/// CAF threads), and a work guard keeps the io_context running while the send is pending.
template <class CompletionToken>
auto async_send(producer& p, message msg, CompletionToken&& token) {
  return asio::async_initiate<CompletionToken, void(std::exception_ptr, send_result)>(
    [&p](auto handler, message m) {
      auto ex = asio::get_associated_executor(handler);
      // std::function needs copyable callables; the handler is move-only.
      using handler_type = decltype(handler);
      auto shared = std::make_shared<handler_type>(std::move(handler));
      auto work = std::make_shared<decltype(asio::make_work_guard(ex))>(asio::make_work_guard(ex));
      p.send(
        std::move(m),
        [shared, work, ex](const send_result& r) {
          asio::post(ex, [shared, work, r]() mutable {
            (*shared)(std::exception_ptr{}, r);
            work->reset();
          });
        },
        [shared, work, ex](std::exception_ptr e) {
          asio::post(ex, [shared, work, e]() mutable {
            (*shared)(e, send_result{});
            work->reset();
          });
        });
    },
    token, std::move(msg));
}

} // namespace holdfast::client
