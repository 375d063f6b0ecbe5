// The event-driven HTTP/1.1 + WebSocket transport of `facefuse serve` (Boost.Beast/Asio; issue 10,
// docs/decisions/0005-event-driven-http-transport.md). It replaces civetweb's thread per
// connection, which let 64 idle sockets or 64 WebSockets stop every route.
//
// Threads (all with explicit stacks, core/stack_thread.h):
//   - 1–2 I/O threads run every socket: accept, header and body reads, writes, WebSocket and
//     Server-Sent Events sessions. Nothing on them blocks.
//   - a bounded pool of handler threads runs the application's handler (SQLite, files, detection).
//     Handlers return an HttpResponse; a streamed media body is produced piece by piece on the
//     pool and written by the I/O threads, so a slow reader holds no handler thread; an event
//     stream becomes an EventSink fed by the application, holding no thread at all.
// Limits (HttpLimits, all with flags in `facefuse serve`): timeouts for the first byte of a request
// (keep-alive idle), the whole header, body idleness and writes; header bytes and field count;
// target length; buffered-body and upload size on bytes actually received (chunked included);
// connections in total and per client address; queued requests. Over a limit the client gets an
// HTTP answer with the JSON error (400/408/413/414/429/431/503) and the connection is closed.
// Requests with two Content-Lengths or with both Content-Length and Transfer-Encoding are refused
// with 400 and the connection closed (no request smuggling).
//
// Threading: start() and stop() from one owner thread; the handler runs on pool threads, any
// number at once; EventSink methods from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "facefuse/core/status.h"

namespace facefuse::server {

struct ListenAddress {
  std::string host;  // as written (brackets removed from an IPv6 literal)
  int port = 0;
  // host:port for URLs and Host checks ("[::1]:8080" for IPv6).
  std::string authority() const;
};

// "PORT" (loopback: 127.0.0.1:PORT), "HOST:PORT", "[V6]:PORT"; port 0–65535 (0 picks a free one).
// kInvalidArgument naming the expected form otherwise.
Result<ListenAddress> parse_listen_address(std::string_view text);

struct HttpLimits {
  int io_threads = 2;
  int handler_threads = 16;
  int max_queued_requests = 1024;          // waiting for a handler thread; more: 503
  double keep_alive_seconds = 60;          // idle before the first byte of a request
  double header_seconds = 10;              // first byte → end of the header (slowloris)
  double body_idle_seconds = 30;           // no body byte for this long
  double write_seconds = 60;               // a client not taking a written piece for this long
  std::size_t max_header_bytes = 16 * 1024;  // request line + header fields (431)
  std::size_t max_header_fields = 100;     // (431)
  std::size_t max_target_bytes = 4096;     // request target (414)
  int64_t max_buffered_body_bytes = 1 << 20;  // non-multipart bodies, read whole before the handler (413)
  int64_t max_upload_bytes = 500ll << 20;  // multipart/form-data bodies, streamed to the handler (413)
  int max_connections = 16384;             // open sockets in total, WebSockets included (503)
  int max_connections_per_address = 1024;  // per client IP (429)
  std::size_t event_queue_messages = 256;  // per event stream; a reader that far behind is closed
  double websocket_idle_seconds = 120;     // no frame (pings answered count) for this long: closed
};

// What the transport knows about a request when the handler runs.
struct HttpRequest {
  std::string method;  // "GET", "POST", ... (HEAD: answered like GET without the body)
  std::string target;  // as sent (path + query)
  std::string path;    // percent-decoded once, not normalised (any bytes: see client_text.h)
  std::string query;   // raw, after '?'
  std::vector<std::pair<std::string, std::string>> headers;
  std::string remote_address;
  bool metrics_listener = false;  // arrived on the --metrics-listen listener
  bool websocket_upgrade = false;
  std::optional<uint64_t> content_length;  // declared; nullopt for chunked or no body
  bool chunked = false;
  // A non-multipart body, read whole (≤ max_buffered_body_bytes) before the handler ran.
  std::string body;
  // A multipart/form-data body is not read before the handler: it pulls it with read_body into
  // `buffer` (blocking its pool thread, body_idle_seconds at most per call). Returns the bytes
  // read, 0 at the end of the body; kLimitExceeded over max_upload_bytes, kInvalidArgument when
  // the body stalls or is cut short. Empty function for requests whose body was read already.
  std::function<Result<std::size_t>(char* buffer, std::size_t size)> read_body;

  // First header field `name` (case-insensitive), "" when absent.
  std::string header(std::string_view name) const;
  // How many fields named `name` the request has.
  std::size_t header_count(std::string_view name) const;
};

// A live event stream (WebSocket or Server-Sent Events) the application pushes text to.
class EventSink {
 public:
  virtual ~EventSink() = default;
  // Queues one event (a WebSocket text frame, or one SSE "id/data" block). false when the sink
  // is closed, or its queue is full — a consumer that slow is closed at once.
  virtual bool send(std::string text, int64_t seq) = 0;
  // Sends what is queued, then closes normally (WebSocket close 1000).
  virtual void finish() = 0;
  virtual bool is_open() const = 0;
  // WebSocket only (false / finish() elsewhere). A binary frame, queued like send().
  virtual bool send_binary(std::string) { return false; }
  // Sends what is queued, then closes with `code` (1000–4999) and `reason` (cut to the 123 bytes a
  // close frame carries).
  virtual void close(int /*code*/, std::string /*reason*/) { finish(); }
};

struct HttpResponse {
  enum class Stream { kNone, kWebSocket, kEventStream };

  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  bool close = false;  // close the connection after this answer
  // A body produced piece by piece on a handler thread (media): each call returns the next piece,
  // "" at the end; `stream_length` is its Content-Length. The I/O thread writes each piece.
  std::function<Result<std::string>()> next_piece;
  int64_t stream_length = -1;
  // kWebSocket: accept the upgrade (status is ignored); kEventStream: answer 200
  // text/event-stream and keep the connection as an event stream. Either way `on_stream` gets
  // the sink once it is open (never, when the client is gone first).
  Stream stream = Stream::kNone;
  std::function<void(std::shared_ptr<EventSink>)> on_stream;
  // kWebSocket: each message the client sends (`binary`: a binary message, else text), called on
  // an I/O thread — it must not block (hand the work to a thread of the application). Empty: what
  // clients send is read and dropped (event streams only listen). The session keeps the function
  // (and what it captures) until the socket is gone.
  std::function<void(std::string message, bool binary)> on_message;
  // kWebSocket with on_message: the largest message read, bytes; a bigger one closes the socket
  // with 1009 (message too big). 0: 4096.
  std::size_t max_message_bytes = 0;
};

using HttpHandler = std::function<HttpResponse(HttpRequest&)>;

class HttpServer {
 public:
  // The transport's own refusals use the application's error shape (http_util.h: error_body).
  HttpServer(HttpLimits limits, HttpHandler handler);
  ~HttpServer();

  // Binds and starts the threads. `metrics_listen` empty: no second listener. kUnavailable with
  // the system's reason (address in use, permission denied, ...) when an address cannot be bound.
  Status start(const ListenAddress& listen, const std::optional<ListenAddress>& metrics_listen);
  int port() const;
  int metrics_port() const;  // 0 without a metrics listener
  // Closes listeners and every connection, waits for handlers and threads. Idempotent.
  void stop();

  struct Counts {
    int connections = 0;
    int streams = 0;  // WebSocket and SSE sessions (also counted in connections)
  };
  Counts counts() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace facefuse::server
