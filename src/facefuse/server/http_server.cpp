#include "facefuse/server/http_server.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <limits>
#include <mutex>
#include <unordered_map>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "facefuse/server/client_text.h"
#include "facefuse/server/http_util.h"
#include "facefuse/core/stack_thread.h"

namespace facefuse::server {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using error_code = beast::error_code;

std::string ListenAddress::authority() const {
  return host.find(':') != std::string::npos ? fmt::format("[{}]:{}", host, port) : fmt::format("{}:{}", host, port);
}

Result<ListenAddress> parse_listen_address(std::string_view text) {
  auto bad = [&] {
    return invalid_argument(fmt::format("listen address '{}' is not PORT, HOST:PORT or [IPV6]:PORT with a port 0-65535",
                                        client_text(text)));
  };
  auto parse_port = [](std::string_view s, int& port) {
    if (s.empty() || s.size() > 5) return false;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), port);
    return ec == std::errc() && end == s.data() + s.size() && port >= 0 && port <= 65535;
  };
  ListenAddress out;
  if (std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    out.host = "127.0.0.1";  // a bare port stays on loopback: exposing the service is a decision
    if (!parse_port(text, out.port)) return bad();
    return out;
  }
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return bad();
    out.host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) return bad();
    out.host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
  }
  if (out.host.empty() || !parse_port(port_text, out.port)) return bad();
  return out;
}

std::string HttpRequest::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (beast::iequals(k, name)) return v;
  }
  return "";
}

std::size_t HttpRequest::header_count(std::string_view name) const {
  return static_cast<std::size_t>(
      std::count_if(headers.begin(), headers.end(), [&](const auto& kv) { return beast::iequals(kv.first, name); }));
}

namespace {

using Seconds = std::chrono::duration<double>;
std::chrono::milliseconds to_ms(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(std::max(0.0, seconds) * 1000));
}

std::string reason_phrase(int status) {
  auto r = http::obsolete_reason(static_cast<http::status>(status));
  return std::string(r.data(), r.size());
}

using Headers = std::vector<std::pair<std::string, std::string>>;

std::string response_head(int status, const std::string& content_type, int64_t length, const Headers& headers,
                          bool close) {
  std::string head = fmt::format("HTTP/1.1 {} {}\r\n", status, reason_phrase(status));
  if (!content_type.empty()) head += fmt::format("Content-Type: {}\r\n", content_type);
  head += "Cache-Control: no-store\r\n";
  if (length >= 0) head += fmt::format("Content-Length: {}\r\n", length);
  for (const auto& [k, v] : headers) {
    // Header values come from the application; a CR or LF in one would split the response.
    if (k.find_first_of("\r\n") != std::string::npos || v.find_first_of("\r\n") != std::string::npos) continue;
    head += fmt::format("{}: {}\r\n", k, v);
  }
  if (close) head += "Connection: close\r\n";
  head += "\r\n";
  return head;
}

// A whole refusal in the JSON error shape, ending the connection.
std::string refusal(int status, std::string_view code, std::string_view message, const Headers& headers = {}) {
  std::string body = error_body(code, message).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return response_head(status, "application/json", static_cast<int64_t>(body.size()), headers, true) + body;
}

// Fixed pool of handler threads with a bounded queue.
class HandlerPool {
 public:
  Status start(int threads) {
    for (int i = 0; i < threads; ++i) {
      FF_ASSIGN_OR_RETURN(StackThread t, StackThread::start("ff-http-handler", kThreadStackBytes, [this] { run(); }));
      threads_.push_back(std::move(t));
    }
    return Status::ok();
  }

  // false when stopping or `max_queued` tasks are waiting already (0: no bound).
  bool post(std::function<void()> task, std::size_t max_queued) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_ || (max_queued > 0 && queue_.size() >= max_queued)) return false;
      queue_.push_back(std::move(task));
    }
    cv_.notify_one();
    return true;
  }

  // Drops queued tasks, waits for running ones.
  void stop() {
    std::deque<std::function<void()>> dropped;
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      dropped.swap(queue_);
    }
    cv_.notify_all();
    dropped.clear();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

 private:
  void run() {
    while (true) {
      std::function<void()> task;
      {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (stopping_) return;
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      task();
    }
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<StackThread> threads_;
};

// Anything stop() must be able to close.
class Closable {
 public:
  virtual ~Closable() = default;
  virtual void close_now() = 0;
};

}  // namespace

struct HttpServer::Impl {
  Impl(HttpLimits l, HttpHandler h) : limits(l), handler(std::move(h)) {}
  ~Impl() {
    acceptor.reset();
    metrics_acceptor.reset();
  }

  HttpLimits limits;
  HttpHandler handler;
  HandlerPool pool;
  std::vector<StackThread> io_threads;
  std::atomic<bool> stopping{false};
  bool started = false;
  std::atomic<int> streaming_bodies{0};

  mutable std::mutex mutex;  // guards the counters and `live`
  int connections = 0;
  int streams = 0;
  std::unordered_map<std::string, int> per_address;
  std::unordered_map<Closable*, std::weak_ptr<Closable>> live;

  // Declared last, destroyed first: pending handlers it destroys may still release slots above.
  std::optional<tcp::acceptor> acceptor;
  std::optional<tcp::acceptor> metrics_acceptor;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  net::io_context ioc;

  // 0: admitted; otherwise the HTTP status of the refusal.
  int acquire(const std::string& address) {
    std::lock_guard lock(mutex);
    if (connections >= limits.max_connections) return 503;
    int& n = per_address[address];
    if (n >= limits.max_connections_per_address) {
      if (n == 0) per_address.erase(address);
      return 429;
    }
    ++n;
    ++connections;
    return 0;
  }
  void release(const std::string& address) {
    std::lock_guard lock(mutex);
    --connections;
    auto it = per_address.find(address);
    if (it != per_address.end() && --it->second <= 0) per_address.erase(it);
  }
  void track(const std::shared_ptr<Closable>& c, bool stream) {
    std::lock_guard lock(mutex);
    live[c.get()] = c;
    if (stream) ++streams;
  }
  void untrack(Closable* c, bool stream) {
    std::lock_guard lock(mutex);
    live.erase(c);
    if (stream) --streams;
  }

  void accept(tcp::acceptor& a, bool metrics);
  void on_accept(tcp::socket socket, bool metrics);
};

namespace {

// One admitted connection's place in the per-address count, released when the last owner (the
// HTTP connection or the event stream it became) is gone.
struct ConnectionSlot {
  HttpServer::Impl* impl;
  std::string address;
  ConnectionSlot(HttpServer::Impl* i, std::string a) : impl(i), address(std::move(a)) {}
  ~ConnectionSlot() { impl->release(address); }
};

// ------------------------------------------------------------------ WebSocket session
class WebSocketSession : public EventSink, public Closable, public std::enable_shared_from_this<WebSocketSession> {
 public:
  WebSocketSession(HttpServer::Impl* impl, beast::tcp_stream stream, std::shared_ptr<ConnectionSlot> slot,
                   http::request<http::empty_body> request, std::function<void(std::shared_ptr<EventSink>)> on_open,
                   Headers headers, std::function<void(std::string, bool)> on_message, std::size_t max_message_bytes)
      : impl_(impl), ws_(std::move(stream)), slot_(std::move(slot)), request_(std::move(request)),
        on_open_(std::move(on_open)), headers_(std::move(headers)), on_message_(std::move(on_message)),
        max_message_bytes_(max_message_bytes) {}
  ~WebSocketSession() override { impl_->untrack(this, true); }

  void start() {
    impl_->track(shared_from_this(), true);
    beast::get_lowest_layer(ws_).expires_never();  // the WebSocket's own timeouts apply from here
    websocket::stream_base::timeout timeout;
    timeout.handshake_timeout = to_ms(impl_->limits.header_seconds);
    timeout.idle_timeout = to_ms(impl_->limits.websocket_idle_seconds);
    timeout.keep_alive_pings = true;  // a ping at half the idle time; no answer → closed
    ws_.set_option(timeout);
    // Event streams: clients only listen, a close or pong frame is small. Sockets that take
    // messages (live mode) set their own bound.
    ws_.read_message_max(on_message_ && max_message_bytes_ > 0 ? max_message_bytes_ : 4096);
    // The route's headers go on the 101 answer (e.g. the Sec-WebSocket-Protocol it chose: a
    // browser drops a socket whose offered subprotocols were not answered).
    ws_.set_option(websocket::stream_base::decorator([headers = headers_](websocket::response_type& res) {
      for (const auto& [name, value] : headers) res.set(name, value);
    }));
    ws_.async_accept(request_, [self = shared_from_this()](error_code ec) {
      if (ec) return;
      self->open_.store(true);
      auto on_open = std::move(self->on_open_);
      self->on_open_ = nullptr;
      if (on_open) on_open(self);
      self->read();
    });
  }

  bool send(std::string text, int64_t) override { return enqueue(std::move(text), false); }

  bool send_binary(std::string data) override { return enqueue(std::move(data), true); }

  void finish() override { close(static_cast<int>(websocket::close_code::normal), ""); }

  void close(int code, std::string reason) override {
    if (reason.size() > 123) reason.resize(123);  // RFC 6455: a close frame's payload is ≤ 125 bytes
    net::post(ws_.get_executor(), [self = shared_from_this(), code, reason = std::move(reason)]() mutable {
      if (self->finishing_) return;
      self->finishing_ = true;
      self->close_reason_ = websocket::close_reason(static_cast<websocket::close_code>(code), reason);
      if (!self->writing_) self->write_next();
    });
  }

  bool is_open() const override { return open_.load(); }

  void close_now() override {
    open_.store(false);
    net::post(ws_.get_executor(), [self = shared_from_this()] {
      error_code ignored;
      beast::get_lowest_layer(self->ws_).socket().close(ignored);
    });
  }

 private:
  bool enqueue(std::string data, bool binary) {
    if (!open_.load()) return false;
    if (queued_.fetch_add(1) >= impl_->limits.event_queue_messages) {
      close_now();  // a consumer this far behind would only grow our memory
      return false;
    }
    net::post(ws_.get_executor(), [self = shared_from_this(), data = std::move(data), binary]() mutable {
      self->queue_.push_back({std::move(data), binary});
      if (!self->writing_) self->write_next();
    });
    return true;
  }

  void read() {
    ws_.async_read(read_buffer_, [self = shared_from_this()](error_code ec, std::size_t n) {
      if (ec) {
        self->open_.store(false);
        self->on_message_ = nullptr;  // what the application captured goes with the socket
        return;
      }
      if (self->on_message_) {
        std::string message = beast::buffers_to_string(self->read_buffer_.data());
        self->on_message_(std::move(message), self->ws_.got_binary());
      }
      self->read_buffer_.consume(n);  // without on_message: event streams drop what clients send
      self->read();
    });
  }

  void write_next() {
    if (queue_.empty()) {
      if (finishing_ && !closing_) {
        closing_ = true;
        writing_ = true;
        ws_.async_close(close_reason_, [self = shared_from_this()](error_code) {
          self->writing_ = false;
          self->open_.store(false);
        });
      }
      return;
    }
    writing_ = true;
    ws_.binary(queue_.front().binary);
    ws_.async_write(net::buffer(queue_.front().data), [self = shared_from_this()](error_code ec, std::size_t) {
      self->writing_ = false;
      self->queue_.pop_front();
      self->queued_.fetch_sub(1);
      if (ec) {
        self->open_.store(false);
        return;
      }
      self->write_next();
    });
  }

  HttpServer::Impl* impl_;
  websocket::stream<beast::tcp_stream> ws_;
  std::shared_ptr<ConnectionSlot> slot_;
  http::request<http::empty_body> request_;
  std::function<void(std::shared_ptr<EventSink>)> on_open_;
  Headers headers_;  // added to the 101 answer
  std::function<void(std::string, bool)> on_message_;  // I/O thread only
  std::size_t max_message_bytes_ = 0;
  beast::flat_buffer read_buffer_;
  struct Outgoing {
    std::string data;
    bool binary = false;
  };
  std::deque<Outgoing> queue_;
  websocket::close_reason close_reason_{websocket::close_code::normal};
  std::atomic<std::size_t> queued_{0};
  std::atomic<bool> open_{false};
  bool writing_ = false;
  bool finishing_ = false;
  bool closing_ = false;
};

// ------------------------------------------------------------------ Server-Sent Events session
class EventStreamSession : public EventSink, public Closable, public std::enable_shared_from_this<EventStreamSession> {
 public:
  // A comment line this often keeps proxies from timing the stream out and finds dead clients.
  static constexpr auto kHeartbeat = std::chrono::seconds(15);

  EventStreamSession(HttpServer::Impl* impl, beast::tcp_stream stream, std::shared_ptr<ConnectionSlot> slot)
      : impl_(impl), stream_(std::move(stream)), slot_(std::move(slot)), heartbeat_(stream_.get_executor()) {}
  ~EventStreamSession() override { impl_->untrack(this, true); }

  void start(std::string head, std::function<void(std::shared_ptr<EventSink>)> on_open) {
    impl_->track(shared_from_this(), true);
    open_.store(true);
    queue_.push_back(std::move(head));
    ++queued_;
    write_next();
    read();
    beat();
    if (on_open) on_open(shared_from_this());
  }

  bool send(std::string text, int64_t seq) override {
    if (!open_.load()) return false;
    if (queued_.fetch_add(1) >= impl_->limits.event_queue_messages) {
      close_now();
      return false;
    }
    std::string block = fmt::format("id: {}\ndata: {}\n\n", seq, text);
    net::post(stream_.get_executor(), [self = shared_from_this(), block = std::move(block)]() mutable {
      self->queue_.push_back(std::move(block));
      if (!self->writing_) self->write_next();
    });
    return true;
  }

  void finish() override {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      self->finishing_ = true;
      if (!self->writing_) self->write_next();
    });
  }

  bool is_open() const override { return open_.load(); }

  void close_now() override {
    open_.store(false);
    net::post(stream_.get_executor(), [self = shared_from_this()] { self->shut(); });
  }

 private:
  void shut() {
    open_.store(false);
    heartbeat_.cancel();
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
  }

  // The client never sends on an event stream: a read completes only when it goes away.
  void read() {
    stream_.async_read_some(net::buffer(scratch_), [self = shared_from_this()](error_code ec, std::size_t) {
      if (ec) return self->shut();
      self->read();
    });
  }

  void beat() {
    heartbeat_.expires_after(kHeartbeat);
    heartbeat_.async_wait([self = shared_from_this()](error_code ec) {
      if (ec || !self->open_.load()) return;
      self->queue_.push_back(": keep-alive\n\n");
      ++self->queued_;
      if (!self->writing_) self->write_next();
      self->beat();
    });
  }

  void write_next() {
    if (queue_.empty()) {
      if (finishing_) shut();
      return;
    }
    writing_ = true;
    stream_.expires_after(to_ms(impl_->limits.write_seconds));
    net::async_write(stream_, net::buffer(queue_.front()), [self = shared_from_this()](error_code ec, std::size_t) {
      self->writing_ = false;
      self->queue_.pop_front();
      self->queued_.fetch_sub(1);
      self->stream_.expires_never();  // the read waiting for the client's close has no deadline
      if (ec) return self->shut();
      self->write_next();
    });
  }

  HttpServer::Impl* impl_;
  beast::tcp_stream stream_;
  std::shared_ptr<ConnectionSlot> slot_;
  net::steady_timer heartbeat_;
  std::array<char, 64> scratch_{};
  std::deque<std::string> queue_;
  std::atomic<std::size_t> queued_{0};
  std::atomic<bool> open_{false};
  bool writing_ = false;
  bool finishing_ = false;
};

// ------------------------------------------------------------------ HTTP connection
class Connection : public Closable, public std::enable_shared_from_this<Connection> {
 public:
  Connection(HttpServer::Impl* impl, tcp::socket socket, std::shared_ptr<ConnectionSlot> slot, bool metrics)
      : impl_(impl), limits_(impl->limits), stream_(std::move(socket)), slot_(std::move(slot)), metrics_(metrics) {}
  ~Connection() override {
    impl_->untrack(this, false);
    if (counted_streaming_) impl_->streaming_bodies.fetch_sub(1);
  }

  void start() {
    impl_->track(shared_from_this(), false);
    wait_for_request();
  }

  void close_now() override {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      error_code ignored;
      self->stream_.socket().close(ignored);
    });
  }

  // On a handler thread: the next bytes of a streamed (multipart) body.
  Result<std::size_t> pull_body(char* buffer, std::size_t size) {
    while (true) {
      auto promise = std::make_shared<std::promise<std::pair<error_code, std::size_t>>>();
      auto future = promise->get_future();
      net::post(stream_.get_executor(),
                [self = shared_from_this(), buffer, size, promise] { self->read_body_piece(buffer, size, promise); });
      auto [ec, produced] = future.get();
      if (ec == http::error::body_limit) {
        return limit_exceeded(
            fmt::format("the upload is over this server's limit of {} bytes", limits_.max_upload_bytes));
      }
      if (ec == beast::error::timeout) {
        return invalid_argument(
            fmt::format("the upload stalled: no data for {} s", limits_.body_idle_seconds));
      }
      if (ec) return invalid_argument("the request body was cut short or is malformed");
      if (produced > 0) return produced;
      if (body_done_.load()) return std::size_t{0};
    }
  }

 private:
  // ---- reading a request
  void wait_for_request() {
    if (impl_->stopping.load()) return shut();
    if (buffer_.size() > 0) return read_header();
    buffer_.shrink_to_fit();  // an idle keep-alive connection holds no buffer
    stream_.expires_after(to_ms(limits_.keep_alive_seconds));
    stream_.async_read_some(buffer_.prepare(1024), [self = shared_from_this()](error_code ec, std::size_t n) {
      if (ec) return self->shut();
      self->buffer_.commit(n);
      self->read_header();
    });
  }

  void read_header() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(limits_.max_header_bytes));
    // The body's limit is set once the kind of body is known. Not boost::none: Beast 1.74 compares
    // `len > body_limit_` with an empty optional as true and refuses every body.
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    stream_.expires_after(to_ms(limits_.header_seconds));
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](error_code ec, std::size_t) { self->on_header(ec); });
  }

  void on_header(error_code ec) {
    if (ec == http::error::header_limit) {
      return refuse(431, "header_too_large",
                    fmt::format("the request header is over this server's limit of {} bytes", limits_.max_header_bytes));
    }
    if (ec == http::error::bad_content_length || ec == http::error::bad_transfer_encoding) {
      return refuse(400, "bad_request",
                    "conflicting Content-Length / Transfer-Encoding fields: send exactly one body length");
    }
    if (ec == beast::error::timeout || ec == http::error::end_of_stream || ec == net::error::eof ||
        ec == net::error::operation_aborted || ec == net::error::connection_reset) {
      return shut();  // a timed-out header: the socket is closed already (slowloris)
    }
    if (ec) return refuse(400, "bad_request", fmt::format("malformed HTTP request: {}", ec.message()));

    const auto& msg = parser_->get();
    if (msg.target().size() > limits_.max_target_bytes) {
      return refuse(414, "uri_too_long",
                    fmt::format("the request target is over this server's limit of {} bytes", limits_.max_target_bytes));
    }
    std::size_t fields = static_cast<std::size_t>(std::distance(msg.begin(), msg.end()));
    if (fields > limits_.max_header_fields) {
      return refuse(431, "header_too_large",
                    fmt::format("the request has more than {} header fields", limits_.max_header_fields));
    }
    auto request = std::make_shared<HttpRequest>();
    request->method = std::string(msg.method_string());
    request->target = std::string(msg.target());
    std::string_view target = msg.target();
    size_t q = target.find('?');
    request->path = percent_decode_path(target.substr(0, q));
    if (q != std::string_view::npos) request->query = std::string(target.substr(q + 1));
    request->headers.reserve(fields);
    for (const auto& f : msg) request->headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    request->remote_address = slot_->address;
    request->metrics_listener = metrics_;
    request->chunked = parser_->chunked();
    if (auto length = parser_->content_length()) request->content_length = *length;
    if (request->header_count("Content-Length") > 1) {
      return refuse(400, "bad_request", "the request has more than one Content-Length field");
    }
    if (request->header_count("Transfer-Encoding") > 0 && !parser_->chunked()) {
      return refuse(400, "bad_request", "Transfer-Encoding must end in chunked");
    }
    keep_alive_ = parser_->keep_alive();
    expect_continue_ = beast::iequals(msg[http::field::expect], "100-continue");
    request_ = request;

    if (websocket::is_upgrade(msg)) {
      request->websocket_upgrade = true;
      return dispatch();
    }
    if (parser_->is_done()) return dispatch();  // no body

    std::string type = request->header("Content-Type");
    bool multipart = type.size() >= 19 && beast::iequals(std::string_view(type).substr(0, 19), "multipart/form-data");
    if (multipart) {
      if (request->content_length && *request->content_length > static_cast<uint64_t>(limits_.max_upload_bytes)) {
        return refuse(413, "limit_exceeded",
                      fmt::format("the upload is {} bytes, over this server's limit of {} bytes", *request->content_length,
                                  limits_.max_upload_bytes));
      }
      // A streamed body holds a handler thread while it arrives: at most half of them do.
      if (impl_->streaming_bodies.fetch_add(1) >= std::max(1, limits_.handler_threads / 2)) {
        impl_->streaming_bodies.fetch_sub(1);
        return refuse(503, "unavailable", "too many uploads in progress: retry in a moment", {{"Retry-After", "1"}});
      }
      counted_streaming_ = true;
      body_parser_.emplace(std::move(*parser_));
      body_parser_->body_limit(static_cast<std::uint64_t>(limits_.max_upload_bytes));
      std::weak_ptr<Connection> weak = shared_from_this();
      request->read_body = [weak](char* buffer, std::size_t size) -> Result<std::size_t> {
        auto self = weak.lock();
        if (!self) return unavailable("the connection is gone");
        return self->pull_body(buffer, size);
      };
      return dispatch();
    }
    if (request->content_length && *request->content_length > static_cast<uint64_t>(limits_.max_buffered_body_bytes)) {
      return refuse(413, "limit_exceeded",
                    fmt::format("the body is {} bytes, over this server's limit of {} bytes for JSON bodies",
                                *request->content_length, limits_.max_buffered_body_bytes));
    }
    body_parser_.emplace(std::move(*parser_));
    body_parser_->body_limit(static_cast<std::uint64_t>(limits_.max_buffered_body_bytes));
    chunk_.resize(16 * 1024);
    continue_then([self = shared_from_this()] { self->read_buffered_piece(); });
  }

  // Runs `next` after answering "Expect: 100-continue" when the client asked for it.
  void continue_then(std::function<void()> next) {
    if (!expect_continue_) return next();
    expect_continue_ = false;
    static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    stream_.expires_after(to_ms(limits_.write_seconds));
    net::async_write(stream_, net::buffer(kContinue),
                     [self = shared_from_this(), next = std::move(next)](error_code ec, std::size_t) {
                       if (ec) return self->shut();
                       next();
                     });
  }

  void read_buffered_piece() {
    if (body_parser_->is_done()) {
      chunk_ = std::string();
      return dispatch();
    }
    auto& body = body_parser_->get().body();
    body.data = chunk_.data();
    body.size = chunk_.size();
    body.more = true;
    stream_.expires_after(to_ms(limits_.body_idle_seconds));
    http::async_read_some(stream_, buffer_, *body_parser_, [self = shared_from_this()](error_code ec, std::size_t) {
      auto& b = self->body_parser_->get().body();
      std::size_t produced = self->chunk_.size() - b.size;
      self->request_->body.append(self->chunk_.data(), produced);
      if (ec == http::error::need_buffer) ec = {};
      if (ec == http::error::body_limit) {
        return self->refuse(413, "limit_exceeded",
                            fmt::format("the body is over this server's limit of {} bytes for JSON bodies",
                                        self->limits_.max_buffered_body_bytes));
      }
      if (ec && ec.category() == http::make_error_code(http::error::bad_chunk).category()) {
        return self->refuse(400, "bad_request", fmt::format("malformed request body: {}", ec.message()));
      }
      if (ec) return self->shut();
      self->read_buffered_piece();
    });
  }

  // On the strand: one read of a streamed body into the handler's buffer.
  void read_body_piece(char* buffer, std::size_t size,
                       std::shared_ptr<std::promise<std::pair<error_code, std::size_t>>> promise) {
    if (!body_parser_ || body_parser_->is_done()) {
      body_done_.store(true);
      promise->set_value({{}, 0});
      return;
    }
    continue_then([self = shared_from_this(), buffer, size, promise] {
      auto& body = self->body_parser_->get().body();
      body.data = buffer;
      body.size = size;
      body.more = true;
      self->stream_.expires_after(to_ms(self->limits_.body_idle_seconds));
      http::async_read_some(self->stream_, self->buffer_, *self->body_parser_,
                            [self, size, promise](error_code ec, std::size_t) {
                              std::size_t produced = size - self->body_parser_->get().body().size;
                              self->body_parser_->get().body().data = nullptr;
                              if (ec == http::error::need_buffer) ec = {};
                              self->body_done_.store(self->body_parser_->is_done());
                              promise->set_value({ec, produced});
                            });
    });
  }

  // ---- handing the request to the application
  void dispatch() {
    auto self = shared_from_this();
    bool queued = impl_->pool.post(
        [self] {
          HttpResponse response;
          try {
            response = self->impl_->handler(*self->request_);
          } catch (const std::exception& e) {
            response = HttpResponse{};
            response.status = 500;
            response.body = error_body("internal", "internal error")
                                .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
          }
          if (self->counted_streaming_) {
            self->counted_streaming_ = false;
            self->impl_->streaming_bodies.fetch_sub(1);
          }
          net::post(self->stream_.get_executor(), [self, response = std::move(response)]() mutable {
            self->write_response(std::move(response));
          });
        },
        static_cast<std::size_t>(limits_.max_queued_requests));
    if (!queued) refuse(503, "unavailable", "the server is busy: retry in a moment", {{"Retry-After", "1"}});
  }

  // ---- answering
  void write_response(HttpResponse r) {
    if (r.stream == HttpResponse::Stream::kWebSocket && request_->websocket_upgrade) {
      auto session = std::make_shared<WebSocketSession>(impl_, std::move(stream_), slot_, parser_->release(),
                                                        std::move(r.on_stream), std::move(r.headers),
                                                        std::move(r.on_message), r.max_message_bytes);
      session->start();
      return;
    }
    if (r.stream == HttpResponse::Stream::kEventStream) {
      Headers headers = r.headers;
      std::string head = response_head(200, "text/event-stream", -1, headers, true);
      auto session = std::make_shared<EventStreamSession>(impl_, std::move(stream_), slot_);
      session->start(std::move(head), std::move(r.on_stream));
      return;
    }
    const bool head_only = request_->method == "HEAD";
    const bool body_unread = body_parser_ && !body_parser_->is_done();
    const bool keep = !r.close && !body_unread && keep_alive_ && !impl_->stopping.load();
    int64_t length = r.next_piece ? r.stream_length : static_cast<int64_t>(r.body.size());
    auto out = std::make_shared<std::string>(response_head(r.status, r.content_type, length, r.headers, !keep));
    if (!head_only && !r.next_piece) *out += r.body;
    if (!head_only && r.next_piece) {
      next_piece_ = std::move(r.next_piece);
      stream_left_ = r.stream_length;
    }
    close_after_ = !keep;
    linger_ = body_unread;
    stream_.expires_after(to_ms(limits_.write_seconds));
    net::async_write(stream_, net::buffer(*out), [self = shared_from_this(), out](error_code ec, std::size_t) {
      if (ec) return self->shut();
      if (self->next_piece_) return self->write_next_piece();
      self->end_request();
    });
  }

  // A streamed body: the next piece is produced on a handler thread, written here.
  void write_next_piece() {
    auto self = shared_from_this();
    bool queued = impl_->pool.post(
        [self] {
          Result<std::string> piece = self->next_piece_();
          net::post(self->stream_.get_executor(), [self, piece = std::move(piece)]() mutable {
            if (!piece || piece->empty()) {
              self->next_piece_ = nullptr;
              // Short of the announced length: the client must see a cut connection, not a
              // complete-looking body.
              if (!piece || self->stream_left_ != 0) return self->shut();
              return self->end_request();
            }
            auto data = std::make_shared<std::string>(std::move(piece).value());
            self->stream_left_ -= static_cast<int64_t>(data->size());
            self->stream_.expires_after(to_ms(self->limits_.write_seconds));
            net::async_write(self->stream_, net::buffer(*data), [self, data](error_code ec, std::size_t) {
              if (ec) return self->shut();
              self->write_next_piece();
            });
          });
        },
        0);
    if (!queued) shut();
  }

  void end_request() {
    if (close_after_) return linger_ ? linger_close() : shut();
    request_.reset();
    body_parser_.reset();
    parser_.reset();
    body_done_.store(false);
    wait_for_request();
  }

  // The transport's own refusal: the answer, then the connection ends.
  void refuse(int status, std::string_view code, std::string_view message, const Headers& headers = {}) {
    auto out = std::make_shared<std::string>(refusal(status, code, message, headers));
    stream_.expires_after(to_ms(limits_.write_seconds));
    net::async_write(stream_, net::buffer(*out), [self = shared_from_this(), out](error_code ec, std::size_t) {
      if (ec) return self->shut();
      self->linger_close();
    });
  }

  // Send FIN now, then read and drop what the client is still sending for up to 2 s before
  // closing: closing with unread bytes would reset the connection and could destroy the answer
  // before the client reads it.
  void linger_close() {
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(std::chrono::seconds(2));
    chunk_.resize(16 * 1024);
    drain();
  }
  void drain() {
    stream_.async_read_some(net::buffer(chunk_), [self = shared_from_this()](error_code ec, std::size_t) {
      if (ec) return self->shut();
      self->drain();
    });
  }

  void shut() {
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
  }

  HttpServer::Impl* impl_;
  const HttpLimits& limits_;
  beast::tcp_stream stream_;
  std::shared_ptr<ConnectionSlot> slot_;
  const bool metrics_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::empty_body>> parser_;
  std::optional<http::request_parser<http::buffer_body>> body_parser_;
  std::shared_ptr<HttpRequest> request_;
  std::string chunk_;
  std::function<Result<std::string>()> next_piece_;
  int64_t stream_left_ = 0;
  std::atomic<bool> body_done_{false};
  bool keep_alive_ = false;
  bool expect_continue_ = false;
  bool counted_streaming_ = false;
  bool close_after_ = false;
  bool linger_ = false;
};

}  // namespace

void HttpServer::Impl::accept(tcp::acceptor& a, bool metrics) {
  a.async_accept(net::make_strand(ioc), [this, &a, metrics](error_code ec, tcp::socket socket) {
    if (stopping.load() || ec == net::error::operation_aborted) return;
    if (ec) {
      // Out of descriptors (EMFILE) and the like: wait a little instead of spinning.
      spdlog::warn(nlohmann::json{{"msg", "accept failed"}, {"error", ec.message()}}.dump());
      auto timer = std::make_shared<net::steady_timer>(ioc, std::chrono::milliseconds(50));
      timer->async_wait([this, &a, metrics, timer](error_code) { accept(a, metrics); });
      return;
    }
    on_accept(std::move(socket), metrics);
    accept(a, metrics);
  });
}

void HttpServer::Impl::on_accept(tcp::socket socket, bool metrics) {
  error_code ec;
  auto endpoint = socket.remote_endpoint(ec);
  if (ec) return;
  std::string address = endpoint.address().to_string();
  socket.set_option(tcp::no_delay(true), ec);  // streamed media and events: no Nagle delay
  int refused = acquire(address);
  if (refused != 0) {
    auto s = std::make_shared<tcp::socket>(std::move(socket));
    auto out = std::make_shared<std::string>(
        refused == 429 ? refusal(429, "rate_limited",
                                 fmt::format("too many connections from {} (limit {}): close some first", address,
                                             limits.max_connections_per_address),
                                 {{"Retry-After", "1"}})
                       : refusal(503, "unavailable", "the server has too many open connections: retry in a moment",
                                 {{"Retry-After", "1"}}));
    net::async_write(*s, net::buffer(*out), [s, out](error_code, std::size_t) {
      error_code ignored;
      s->shutdown(tcp::socket::shutdown_both, ignored);
      s->close(ignored);
    });
    return;
  }
  auto slot = std::make_shared<ConnectionSlot>(this, address);
  std::make_shared<Connection>(this, std::move(socket), std::move(slot), metrics)->start();
}

HttpServer::HttpServer(HttpLimits limits, HttpHandler handler)
    : impl_(std::make_unique<Impl>(limits, std::move(handler))) {}

HttpServer::~HttpServer() { stop(); }

namespace {
Status bind_listener(net::io_context& ioc, std::optional<tcp::acceptor>& acceptor, const ListenAddress& address,
                     const char* flag) {
  auto fail = [&](const error_code& ec) {
    return unavailable(fmt::format("cannot listen on {}: {} (use {} HOST:PORT, or PORT for 127.0.0.1:PORT)",
                                   address.authority(), ec.message(), flag));
  };
  error_code ec;
  tcp::resolver resolver(ioc);
  auto endpoints = resolver.resolve(address.host, std::to_string(address.port),
                                    tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || endpoints.empty()) return fail(ec ? ec : net::error::host_not_found);
  tcp::endpoint endpoint = endpoints.begin()->endpoint();
  acceptor.emplace(ioc);
  acceptor->open(endpoint.protocol(), ec);
  if (!ec) acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor->bind(endpoint, ec);
  if (!ec) acceptor->listen(4096, ec);  // the kernel caps it at net.core.somaxconn
  if (ec) {
    acceptor.reset();
    return fail(ec);
  }
  return Status::ok();
}
}  // namespace

Status HttpServer::start(const ListenAddress& listen, const std::optional<ListenAddress>& metrics_listen) {
  Impl& impl = *impl_;
  FF_RETURN_IF_ERROR(bind_listener(impl.ioc, impl.acceptor, listen, "--listen"));
  if (metrics_listen) {
    Status s = bind_listener(impl.ioc, impl.metrics_acceptor, *metrics_listen, "--metrics-listen");
    if (!s.is_ok()) {
      impl.acceptor.reset();
      return s;
    }
  }
  FF_RETURN_IF_ERROR(impl.pool.start(std::max(1, impl.limits.handler_threads)));
  impl.started = true;
  impl.work.emplace(net::make_work_guard(impl.ioc));
  impl.accept(*impl.acceptor, false);
  if (impl.metrics_acceptor) impl.accept(*impl.metrics_acceptor, true);
  for (int i = 0; i < std::clamp(impl.limits.io_threads, 1, 16); ++i) {
    auto t = StackThread::start("ff-http-io", kThreadStackBytes, [&impl] { impl.ioc.run(); });
    if (!t) {
      stop();
      return t.status();
    }
    impl.io_threads.push_back(std::move(t).value());
  }
  return Status::ok();
}

int HttpServer::port() const {
  error_code ec;
  return impl_->acceptor ? impl_->acceptor->local_endpoint(ec).port() : 0;
}

int HttpServer::metrics_port() const {
  error_code ec;
  return impl_->metrics_acceptor ? impl_->metrics_acceptor->local_endpoint(ec).port() : 0;
}

HttpServer::Counts HttpServer::counts() const {
  std::lock_guard lock(impl_->mutex);
  return {impl_->connections, impl_->streams};
}

void HttpServer::stop() {
  Impl& impl = *impl_;
  if (!impl.started) return;
  impl.started = false;
  impl.stopping.store(true);
  std::promise<void> closed;
  net::post(impl.ioc, [&impl, &closed] {
    error_code ignored;
    if (impl.acceptor) impl.acceptor->close(ignored);
    if (impl.metrics_acceptor) impl.metrics_acceptor->close(ignored);
    closed.set_value();
  });
  if (!impl.io_threads.empty()) closed.get_future().wait();
  std::vector<std::shared_ptr<Closable>> live;
  {
    std::lock_guard lock(impl.mutex);
    for (auto& [raw, weak] : impl.live) {
      if (auto c = weak.lock()) live.push_back(std::move(c));
    }
  }
  // Closing every socket ends handler threads waiting on a body read.
  for (auto& c : live) c->close_now();
  live.clear();
  impl.pool.stop();
  impl.work.reset();
  impl.ioc.stop();
  for (auto& t : impl.io_threads) t.join();
  impl.io_threads.clear();
}

}  // namespace facefuse::server
