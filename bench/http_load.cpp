// Open-loop (fixed-rate) HTTP/1.1 load generator for the service benchmark (DESIGN.md §6:
// `/healthz` p99 < 5 ms at 1 000 req/s). wrk only runs closed loop — each connection sends its next
// request when the previous answer arrives — so its percentiles describe a saturated server. Here
// request i is due at start + i / rate whatever the server does, goes out on an idle keep-alive
// connection (or waits in a queue until one is idle), and its latency is measured from the time it
// was DUE, not from when it could be written: a stalled server cannot hide the requests it delayed
// (coordinated omission corrected, as in wrk2). One thread, poll(2), plain POSIX sockets.
//
//   facefuse_bench_http --url http://127.0.0.1:PORT/healthz --rate 1000 --duration 10 [--json]
//   facefuse_bench_http --url http://127.0.0.1:PORT/api/v1/jobs --body-file job.json --rate 200   (POST)
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kExitUnreachable = 1;
constexpr int kExitBadFlags = 2;
constexpr size_t kMaxLineBytes = 64 * 1024;  // status line, header field or chunk-size line
constexpr auto kReconnectBackoff = std::chrono::milliseconds(100);

double to_ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Nearest-rank percentile of ascending samples: the smallest sample with at least p % of all samples
// at or below it (p in (0, 100]). The epsilon keeps p·n / 100 from rounding up past an exact rank
// (99.9 % of 10 000 is rank 9 990, not 9 991).
double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  auto rank = static_cast<size_t>(std::ceil(p * static_cast<double>(sorted.size()) / 100.0 - 1e-9));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

// http://HOST[:PORT][/PATH] — the only form accepted (no TLS: the benchmark runs on loopback).
struct Url {
  std::string host;       // without brackets for an IPv6 literal
  std::string port = "80";
  std::string authority;  // HOST[:PORT] as written, for the Host header
  std::string target = "/";
};

std::optional<Url> parse_url(std::string_view text, std::string& error) {
  constexpr std::string_view kScheme = "http://";
  if (lowercase(text.substr(0, kScheme.size())) != kScheme) {
    error = "only http:// URLs are supported (e.g. http://127.0.0.1:8080/healthz)";
    return std::nullopt;
  }
  text.remove_prefix(kScheme.size());
  Url url;
  size_t slash = text.find_first_of("/?");
  url.authority = std::string(text.substr(0, slash));
  if (slash != std::string_view::npos) url.target = std::string(text.substr(slash));
  if (url.target.front() == '?') url.target.insert(0, "/");
  std::string_view authority = url.authority;
  size_t colon;
  if (authority.starts_with('[')) {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      error = "unterminated IPv6 address in the URL";
      return std::nullopt;
    }
    url.host = std::string(authority.substr(1, close - 1));
    colon = close + 1 < authority.size() && authority[close + 1] == ':' ? close + 1 : std::string_view::npos;
  } else {
    colon = authority.rfind(':');
    url.host = std::string(authority.substr(0, colon));
  }
  if (colon != std::string_view::npos) url.port = std::string(authority.substr(colon + 1));
  bool port_ok = !url.port.empty() && url.port.size() <= 5 &&
                 std::all_of(url.port.begin(), url.port.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
                 std::stoi(url.port) >= 1 && std::stoi(url.port) <= 65535;
  if (url.host.empty() || !port_ok) {
    error = "the URL needs a host and, if given, a port 1-65535 (http://HOST[:PORT]/PATH)";
    return std::nullopt;
  }
  return url;
}

// Incremental HTTP/1.1 response parser (RFC 9112): status line, header fields, then a body framed by
// Transfer-Encoding: chunked, Content-Length, or the end of the connection. Interim 1xx responses
// are skipped. Bodies are counted, not kept.
class ResponseParser {
 public:
  enum class Progress { kNeedMore, kComplete, kError };

  // Consumes what it can from the front of `buffer`; on kComplete the bytes after the response stay.
  Progress parse(std::string& buffer) {
    if (!buffer.empty()) started_ = true;
    size_t pos = 0;
    Progress progress = Progress::kNeedMore;
    while (progress == Progress::kNeedMore) {
      if (state_ == State::kStatusLine || state_ == State::kHeaders || state_ == State::kChunkSize ||
          state_ == State::kTrailers) {
        size_t eol = buffer.find("\r\n", pos);
        if (eol == std::string::npos) {
          if (buffer.size() - pos > kMaxLineBytes) progress = fail("a response line is longer than 64 KiB");
          break;
        }
        std::string_view line(buffer.data() + pos, eol - pos);
        pos = eol + 2;
        progress = on_line(line);
      } else if (state_ == State::kBody || state_ == State::kChunkData) {
        uint64_t take = std::min<uint64_t>(remaining_, buffer.size() - pos);
        pos += take;
        remaining_ -= take;
        if (remaining_ > 0) break;
        if (state_ == State::kBody) {
          progress = Progress::kComplete;
        } else {
          state_ = State::kChunkEnd;
        }
      } else if (state_ == State::kChunkEnd) {
        if (buffer.size() - pos < 2) break;
        if (buffer.compare(pos, 2, "\r\n") != 0) progress = fail("chunk data not followed by CRLF");
        pos += 2;
        state_ = State::kChunkSize;
      } else {  // kUntilClose: the body is everything until the server closes
        pos = buffer.size();
        break;
      }
    }
    buffer.erase(0, pos);
    return progress;
  }

  // The server closed the connection: that ends a close-delimited body; anywhere else it is an error.
  Progress parse_eof() {
    if (state_ == State::kUntilClose) return Progress::kComplete;
    return fail(started_ ? "connection closed in the middle of a response" : "connection closed before a response");
  }

  int status() const { return status_; }
  bool keep_alive() const { return keep_alive_; }
  bool started() const { return started_; }  // a byte of the response has arrived
  const std::string& error() const { return error_; }

 private:
  enum class State { kStatusLine, kHeaders, kBody, kChunkSize, kChunkData, kChunkEnd, kTrailers, kUntilClose };

  Progress fail(std::string message) {
    error_ = std::move(message);
    return Progress::kError;
  }

  Progress on_line(std::string_view line) {
    switch (state_) {
      case State::kStatusLine: return on_status_line(line);
      case State::kHeaders: return line.empty() ? on_end_of_headers() : on_header(line);
      case State::kChunkSize: return on_chunk_size(line);
      case State::kTrailers: return line.empty() ? Progress::kComplete : Progress::kNeedMore;
      default: return fail("internal parser state");
    }
  }

  // "HTTP/1.1 200 OK"
  Progress on_status_line(std::string_view line) {
    bool ok = line.size() >= 12 && line.starts_with("HTTP/1.") && (line[7] == '0' || line[7] == '1') &&
              line[8] == ' ' && std::isdigit(static_cast<unsigned char>(line[9])) &&
              std::isdigit(static_cast<unsigned char>(line[10])) &&
              std::isdigit(static_cast<unsigned char>(line[11])) && (line.size() == 12 || line[12] == ' ');
    if (!ok) return fail(fmt::format("malformed status line '{}'", line.substr(0, 80)));
    http10_ = line[7] == '0';
    status_ = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
    content_length_.reset();
    has_transfer_encoding_ = chunked_ = connection_close_ = connection_keep_alive_ = false;
    state_ = State::kHeaders;
    return Progress::kNeedMore;
  }

  Progress on_header(std::string_view line) {
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      return fail(fmt::format("malformed header field '{}'", line.substr(0, 80)));
    }
    std::string name = lowercase(line.substr(0, colon));
    std::string_view value = trim(line.substr(colon + 1));
    if (name == "content-length") {
      if (value.empty() || value.size() > 18 ||
          !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return fail(fmt::format("invalid Content-Length '{}'", value));
      }
      uint64_t length = std::stoull(std::string(value));
      if (content_length_ && *content_length_ != length) return fail("conflicting Content-Length fields");
      content_length_ = length;
    } else if (name == "transfer-encoding") {
      // Only the last coding frames the body (RFC 9112 §6.1).
      has_transfer_encoding_ = true;
      size_t comma = value.rfind(',');
      chunked_ = lowercase(trim(comma == std::string_view::npos ? value : value.substr(comma + 1))) == "chunked";
    } else if (name == "connection") {
      std::string tokens = lowercase(value);
      for (size_t start = 0; start <= tokens.size();) {
        size_t end = std::min(tokens.find(',', start), tokens.size());
        std::string_view token = trim(std::string_view(tokens).substr(start, end - start));
        connection_close_ |= token == "close";
        connection_keep_alive_ |= token == "keep-alive";
        start = end + 1;
      }
    }
    return Progress::kNeedMore;
  }

  Progress on_end_of_headers() {
    if (status_ >= 100 && status_ < 200) {
      if (status_ == 101) return fail("unexpected 101 Switching Protocols");
      state_ = State::kStatusLine;  // interim response (100 Continue, 103 Early Hints): the real one follows
      return Progress::kNeedMore;
    }
    keep_alive_ = http10_ ? connection_keep_alive_ && !connection_close_ : !connection_close_;
    if (status_ == 204 || status_ == 304) return Progress::kComplete;
    if (chunked_) {
      state_ = State::kChunkSize;
    } else if (has_transfer_encoding_ || !content_length_) {
      state_ = State::kUntilClose;
      keep_alive_ = false;
    } else if (*content_length_ == 0) {
      return Progress::kComplete;
    } else {
      remaining_ = *content_length_;
      state_ = State::kBody;
    }
    return Progress::kNeedMore;
  }

  // "1a2b[;extension]"
  Progress on_chunk_size(std::string_view line) {
    std::string_view digits = trim(line.substr(0, line.find(';')));
    if (digits.empty() || digits.size() > 15 || !std::all_of(digits.begin(), digits.end(), [](char c) {
          return std::isxdigit(static_cast<unsigned char>(c)) != 0;
        })) {
      return fail(fmt::format("invalid chunk size '{}'", line.substr(0, 80)));
    }
    remaining_ = std::stoull(std::string(digits), nullptr, 16);
    state_ = remaining_ == 0 ? State::kTrailers : State::kChunkData;
    return Progress::kNeedMore;
  }

  State state_ = State::kStatusLine;
  int status_ = 0;
  bool http10_ = false;
  bool keep_alive_ = true;
  bool started_ = false;
  bool has_transfer_encoding_ = false;
  bool chunked_ = false;
  bool connection_close_ = false;
  bool connection_keep_alive_ = false;
  std::optional<uint64_t> content_length_;
  uint64_t remaining_ = 0;  // bytes left in the body or the current chunk
  std::string error_;
};

struct Options {
  std::string url;
  double rate = 1000;     // requests per second
  double duration = 10;   // measured seconds
  double warmup = 2;      // seconds before the measurement whose samples are dropped
  int connections = 16;
  double timeout = 10;    // seconds a request may wait for its answer (or, at the end, for a connection)
  std::vector<std::string> headers;
  std::string body_file;  // when set: every request is a POST of this file's bytes (application/json)
  bool json = false;
};

struct Request {
  Clock::time_point due;     // start + i / rate: latency is measured from here
  Clock::time_point queued;  // when this program's loop saw it due (late if it was not scheduled on a core)
  Clock::time_point sent;    // first byte written (late if every connection was busy)
  bool measured = false;   // due after the warm-up
  bool retried = false;    // already re-sent once after a keep-alive connection closed under it
};

struct Results {
  uint64_t sent = 0;
  uint64_t completed = 0;
  uint64_t non_2xx = 0;
  uint64_t errors = 0;
  uint64_t waited_for_connection = 0;  // queued → sent > 1 ms: every connection was busy
  uint64_t reconnects = 0;             // whole run, warm-up included
  uint64_t connect_failures = 0;       // connection attempts refused or failed (not requests)
  std::string last_connect_error;
  std::map<int, uint64_t> statuses;
  std::map<std::string, uint64_t> error_kinds;
  // Per measured request, sorted once the run is over. The latency contains the other two.
  std::vector<double> latency_ms;          // due → last byte of the answer
  std::vector<double> generator_lag_ms;    // due → queued: this program late (shares the cores)
  std::vector<double> connection_wait_ms;  // queued → first byte written: no idle connection
  Clock::time_point window_start;
  Clock::time_point last_completion;
};

class LoadGenerator {
 public:
  LoadGenerator(const Options& options, const addrinfo& address, std::string request_text)
      : options_(options), address_(address), request_text_(std::move(request_text)),
        connections_(static_cast<size_t>(options.connections)) {}

  // Opens every connection before the clock starts; an unreachable server is reported here.
  bool connect_all(std::string& error) {
    auto deadline = Clock::now() + std::chrono::seconds(5);
    for (auto& c : connections_) {
      if (!open(c, Clock::now())) {
        error = results_.last_connect_error;
        return false;
      }
    }
    while (std::any_of(connections_.begin(), connections_.end(),
                       [](const Connection& c) { return c.state == State::kConnecting; })) {
      if (Clock::now() > deadline) {
        error = "connection attempt timed out after 5 s";
        return false;
      }
      poll_once(std::chrono::milliseconds(50));
      for (const auto& c : connections_) {
        if (c.state == State::kClosed) {
          error = results_.last_connect_error;
          return false;
        }
      }
    }
    return true;
  }

  Results run() {
    auto interval = std::chrono::duration<double>(1.0 / options_.rate);
    auto warmup_count = static_cast<uint64_t>(std::llround(options_.warmup * options_.rate));
    auto total = warmup_count + static_cast<uint64_t>(std::llround(options_.duration * options_.rate));
    auto timeout = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options_.timeout));
    auto start = Clock::now();
    auto due_time = [&](uint64_t i) {
      return start + std::chrono::duration_cast<Clock::duration>(interval * static_cast<double>(i));
    };
    results_.window_start = due_time(warmup_count);
    auto give_up_at = due_time(total) + timeout;
    uint64_t next = 0;
    for (;;) {
      auto now = Clock::now();
      for (; next < total && due_time(next) <= now; ++next) {
        pending_.push_back({.due = due_time(next), .queued = now, .sent = {}, .measured = next >= warmup_count});
      }
      for (auto& c : connections_) {
        if (c.state == State::kClosed && c.retry_at <= now) open(c, now);
        if (c.state == State::kBusy && now - c.request.sent > timeout) {
          fail_request(c, fmt::format("no answer within {} s", options_.timeout), false);
        }
      }
      dispatch(now);
      bool busy = std::any_of(connections_.begin(), connections_.end(),
                              [](const Connection& c) { return c.state == State::kBusy; });
      if (next == total && pending_.empty() && !busy) break;
      if (now >= give_up_at) {
        abandon_outstanding();
        break;
      }
      auto wake = next < total ? due_time(next) : give_up_at;
      for (const auto& c : connections_) {
        if (c.state == State::kClosed) wake = std::min(wake, c.retry_at);
        if (c.state == State::kBusy) wake = std::min(wake, c.request.sent + timeout);
      }
      poll_once(std::max(wake - now, Clock::duration::zero()));
    }
    for (auto& c : connections_) close(c);
    return std::move(results_);
  }

 private:
  enum class State { kClosed, kConnecting, kIdle, kBusy };

  struct Connection {
    int fd = -1;
    uint64_t generation = 0;  // counts opens: poll results for a socket since replaced are stale
    State state = State::kClosed;
    Clock::time_point retry_at;  // when closed after a failed connect
    uint64_t answers = 0;        // complete responses on this socket (keep-alive reuse)
    size_t written = 0;          // bytes of the request text sent
    std::string in;
    ResponseParser parser;
    Request request;
  };

  // Starts a non-blocking connect; false (and the connection closed, retried later) if it failed.
  bool open(Connection& c, Clock::time_point now) {
    uint64_t generation = c.generation + 1;
    c = Connection{};
    c.generation = generation;
    c.fd = ::socket(address_.ai_family, address_.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, address_.ai_protocol);
    if (c.fd < 0) return connect_failed(c, now, errno);
    int one = 1;
    ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // one small request per write: no Nagle wait
    if (::connect(c.fd, address_.ai_addr, address_.ai_addrlen) == 0) {
      c.state = State::kIdle;
    } else if (errno == EINPROGRESS) {
      c.state = State::kConnecting;
    } else {
      return connect_failed(c, now, errno);
    }
    return true;
  }

  bool connect_failed(Connection& c, Clock::time_point now, int error) {
    ++results_.connect_failures;
    results_.last_connect_error = std::strerror(error);
    close(c);
    c.retry_at = now + kReconnectBackoff;
    return false;
  }

  void close(Connection& c) {
    if (c.fd >= 0) ::close(c.fd);
    c.fd = -1;
    c.state = State::kClosed;
  }

  void reopen(Connection& c) {
    ++results_.reconnects;
    close(c);
    open(c, Clock::now());
  }

  // Due requests go out in order, each on an idle connection. The search starts after the connection
  // used last, so the load spreads over all of them and none sits idle long enough for the server's
  // keep-alive timeout to close it.
  void dispatch(Clock::time_point now) {
    for (size_t tried = 0; tried < connections_.size() && !pending_.empty(); ++tried) {
      Connection& c = connections_[next_connection_];
      next_connection_ = (next_connection_ + 1) % connections_.size();
      if (c.state != State::kIdle) continue;
      c.request = pending_.front();
      pending_.pop_front();
      c.request.sent = now;
      c.state = State::kBusy;
      c.written = 0;
      c.in.clear();
      c.parser = ResponseParser{};
      if (c.request.measured && !c.request.retried) {
        ++results_.sent;
        results_.generator_lag_ms.push_back(to_ms(c.request.queued - c.request.due));
        double wait = to_ms(now - c.request.queued);
        results_.connection_wait_ms.push_back(wait);
        if (wait > 1.0) ++results_.waited_for_connection;
      }
      write_more(c);
    }
  }

  void write_more(Connection& c) {
    while (c.written < request_text_.size()) {
      ssize_t n = ::send(c.fd, request_text_.data() + c.written, request_text_.size() - c.written, MSG_NOSIGNAL);
      if (n > 0) {
        c.written += static_cast<size_t>(n);
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return;  // the rest when poll says writable
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        fail_request(c, fmt::format("send: {}", std::strerror(errno)), true);
        return;
      }
    }
  }

  void read_more(Connection& c) {
    char chunk[16 * 1024];
    for (;;) {
      ssize_t n = ::recv(c.fd, chunk, sizeof chunk, 0);
      if (n > 0) {
        if (c.state != State::kBusy) {  // bytes nobody asked for: the connection is out of step
          reopen(c);
          return;
        }
        c.in.append(chunk, static_cast<size_t>(n));
        auto progress = c.parser.parse(c.in);
        if (progress == ResponseParser::Progress::kComplete) {
          complete(c);  // nothing else is due on this socket: one request in flight per connection
          return;
        } else if (progress == ResponseParser::Progress::kError) {
          fail_request(c, c.parser.error(), false);
          return;
        }
      } else if (n == 0) {
        if (c.state != State::kBusy) {  // the server closed an idle keep-alive connection
          reopen(c);
        } else if (c.parser.parse_eof() == ResponseParser::Progress::kComplete) {
          complete(c);
        } else {
          fail_request(c, c.parser.error(), true);
        }
        return;
      } else if (errno == EINTR) {
        continue;
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return;
      } else {
        if (c.state == State::kBusy) {
          fail_request(c, fmt::format("recv: {}", std::strerror(errno)), true);
        } else {
          reopen(c);
        }
        return;
      }
    }
  }

  void complete(Connection& c) {
    auto now = Clock::now();
    const Request& r = c.request;
    ++c.answers;
    if (r.measured) {
      ++results_.completed;
      ++results_.statuses[c.parser.status()];
      if (c.parser.status() < 200 || c.parser.status() > 299) ++results_.non_2xx;
      results_.latency_ms.push_back(to_ms(now - r.due));
      results_.last_completion = now;
    }
    if (!c.parser.keep_alive() || !c.in.empty()) {
      reopen(c);  // the server asked to close (or sent more than one answer): a fresh connection
    } else {
      c.state = State::kIdle;
    }
  }

  // A request failed on connection c. A keep-alive connection the server closed before the first
  // byte of an answer is the usual idle-close race: the request goes back to the front of the queue
  // once (like browsers do for idempotent requests); anything else counts as an error.
  // `why` is a copy: reopen() resets the parser that often holds the message.
  void fail_request(Connection& c, std::string why, bool maybe_idle_close) {
    Request r = c.request;
    bool retry = maybe_idle_close && c.answers > 0 && !c.parser.started() && !r.retried;
    reopen(c);
    if (retry) {
      r.retried = true;
      pending_.push_front(r);
    } else if (r.measured) {
      ++results_.errors;
      ++results_.error_kinds[why];
    }
  }

  void abandon_outstanding() {
    for (const auto& r : pending_) {
      if (!r.measured) continue;
      ++results_.errors;
      ++results_.error_kinds[fmt::format("no idle connection within {} s", options_.timeout)];
    }
    pending_.clear();
    for (auto& c : connections_) {
      if (c.state == State::kBusy) fail_request(c, fmt::format("no answer within {} s", options_.timeout), false);
    }
  }

  void poll_once(Clock::duration wait) {
    std::vector<pollfd> fds;
    std::vector<std::pair<Connection*, uint64_t>> owners;  // with its generation at the time of the poll
    for (auto& c : connections_) {
      if (c.state == State::kClosed) continue;
      short events = POLLIN;  // busy: the answer; idle: a close by the server
      if (c.state == State::kConnecting) {
        events = POLLOUT;
      } else if (c.state == State::kBusy && c.written < request_text_.size()) {
        events |= POLLOUT;
      }
      fds.push_back({c.fd, events, 0});
      owners.emplace_back(&c, c.generation);
    }
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(wait).count();
    timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
    if (::ppoll(fds.data(), fds.size(), &ts, nullptr) <= 0) return;
    for (size_t i = 0; i < fds.size(); ++i) {
      Connection& c = *owners[i].first;
      short got = fds[i].revents;
      if (got == 0 || c.generation != owners[i].second) continue;
      if (c.state == State::kConnecting) {
        int error = 0;
        socklen_t length = sizeof error;
        ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &error, &length);
        if (error != 0) {
          connect_failed(c, Clock::now(), error);
        } else {
          c.state = State::kIdle;
        }
        continue;
      }
      if ((got & POLLOUT) && c.state == State::kBusy) write_more(c);
      if ((got & (POLLIN | POLLHUP | POLLERR)) && c.generation == owners[i].second) read_more(c);
    }
  }

  const Options& options_;
  const addrinfo& address_;
  const std::string request_text_;  // every request is the same GET (or POST of the same body)
  std::vector<Connection> connections_;
  std::deque<Request> pending_;     // due, waiting for an idle connection
  size_t next_connection_ = 0;
  Results results_;
};

// `body` empty: a GET; else a POST of `body` as application/json.
std::string build_request(const Url& url, const std::vector<std::string>& headers, const std::string& body) {
  std::string text = fmt::format("{} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: facefuse_bench_http\r\n",
                                 body.empty() ? "GET" : "POST", url.target, url.authority);
  if (!body.empty()) text += fmt::format("Content-Type: application/json\r\nContent-Length: {}\r\n", body.size());
  for (const auto& h : headers) text += h + "\r\n";
  return text + "\r\n" + body;
}

double largest(const std::vector<double>& sorted) { return sorted.empty() ? 0.0 : sorted.back(); }

void print_text(const Options& o, const Results& r, double achieved_rate) {
  fmt::print("{} {}: open loop at {:g} req/s for {:g} s after a {:g} s warm-up, {} connections\n",
             o.body_file.empty() ? "GET" : "POST", o.url, o.rate,
             o.duration, o.warmup, o.connections);
  fmt::print("requests: sent {}, completed {}, non-2xx {}, errors {}, reconnects {}\n", r.sent, r.completed,
             r.non_2xx, r.errors, r.reconnects);
  fmt::print("achieved rate: {:.1f} req/s\n", achieved_rate);
  const auto& l = r.latency_ms;
  fmt::print("latency from the scheduled send, ms: p50 {:.3f}  p90 {:.3f}  p99 {:.3f}  p99.9 {:.3f}  max {:.3f}\n",
             percentile(l, 50), percentile(l, 90), percentile(l, 99), percentile(l, 99.9), largest(l));
  fmt::print("  of which this program late (due → queued), ms: p99 {:.3f}  max {:.3f}\n",
             percentile(r.generator_lag_ms, 99), largest(r.generator_lag_ms));
  fmt::print("  of which waiting for an idle connection, ms: p99 {:.3f}  max {:.3f} ({} requests > 1 ms)\n",
             percentile(r.connection_wait_ms, 99), largest(r.connection_wait_ms), r.waited_for_connection);
  for (const auto& [status, count] : r.statuses) {
    if (status < 200 || status > 299) fmt::print("status {}: {}\n", status, count);
  }
  for (const auto& [kind, count] : r.error_kinds) fmt::print("error '{}': {}\n", kind, count);
  if (r.connect_failures > 0) {
    fmt::print("failed connection attempts: {} (last: {})\n", r.connect_failures, r.last_connect_error);
  }
}

void print_json(const Options& o, const Results& r, double achieved_rate) {
  nlohmann::json statuses = nlohmann::json::object();
  for (const auto& [status, count] : r.statuses) statuses[std::to_string(status)] = count;
  auto tail = [](const std::vector<double>& sorted) {
    return nlohmann::json{{"p99", percentile(sorted, 99)}, {"max", largest(sorted)}};
  };
  const auto& l = r.latency_ms;
  nlohmann::json out = {
      {"url", o.url},
      {"rate", o.rate},
      {"duration_s", o.duration},
      {"warmup_s", o.warmup},
      {"connections", o.connections},
      {"sent", r.sent},
      {"completed", r.completed},
      {"non_2xx", r.non_2xx},
      {"errors", r.errors},
      {"reconnects", r.reconnects},
      {"connect_failures", r.connect_failures},
      {"achieved_rate", achieved_rate},
      {"statuses", statuses},
      {"error_kinds", r.error_kinds},
      {"latency_ms",
       {{"p50", percentile(l, 50)},
        {"p90", percentile(l, 90)},
        {"p99", percentile(l, 99)},
        {"p99_9", percentile(l, 99.9)},
        {"max", largest(l)}}},
      {"generator_lag_ms", tail(r.generator_lag_ms)},
      {"connection_wait_ms", tail(r.connection_wait_ms)},
      {"waited_for_connection", r.waited_for_connection},
  };
  fmt::print("{}\n", out.dump(2));
}

constexpr const char* kDescription =
    "Open-loop HTTP/1.1 load at a fixed rate (for DESIGN.md §6: /healthz p99 < 5 ms at 1 000 req/s).\n\n"
    "Request i is due at start + i / RATE regardless of how fast the server answers. It is written on an "
    "idle keep-alive connection as soon as it is due; when all CONNECTIONS are busy it waits in a queue, and "
    "its latency is measured from when it was DUE, so the wait counts (coordinated omission corrected, as "
    "in wrk2). wrk, in contrast, runs closed loop: every connection sends its next request only after the "
    "previous answer, so it measures a saturated server at whatever rate that gives, and a stall hides the "
    "requests that would have been sent during it.\n\n"
    "Samples of the first WARMUP seconds are dropped. Output: sent, completed, non-2xx, errors, achieved "
    "rate and latency percentiles (p50/p90/p99/p99.9/max, ms, nearest rank over every sample). Exit 0 "
    "after a run (check non_2xx and errors), 1 if the server cannot be reached, 2 on bad flags.";

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app(kDescription, "facefuse_bench_http");
  app.add_option("--url", o.url, "http://HOST[:PORT]/PATH to GET (or POST with --body-file)")->required();
  app.add_option("--body-file", o.body_file, "POST this file's bytes as application/json with every request")
      ->check(CLI::ExistingFile);
  app.add_option("--rate", o.rate, "requests per second (fixed schedule)")
      ->check(CLI::Range(0.001, 1e6))->capture_default_str();
  app.add_option("--duration", o.duration, "measured seconds")->check(CLI::Range(0.001, 86400.0))
      ->capture_default_str();
  app.add_option("--warmup", o.warmup, "seconds at the same rate before the measurement (samples dropped)")
      ->check(CLI::Range(0.0, 3600.0))->capture_default_str();
  app.add_option("--connections", o.connections, "keep-alive connections")->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_option("--timeout", o.timeout, "seconds a request may wait for its answer before it counts as an error")
      ->check(CLI::Range(0.001, 3600.0))->capture_default_str();
  app.add_option("--header", o.headers, "extra request header \"Name: value\" (repeatable, e.g. Authorization)");
  app.add_flag("--json", o.json, "print the results as one JSON object");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "facefuse_bench_http: error: %s\nRun 'facefuse_bench_http --help' for the options.\n",
                 e.what());
    return kExitBadFlags;
  }
  std::string error;
  auto url = parse_url(o.url, error);
  if (!url) {
    std::fprintf(stderr, "facefuse_bench_http: error: --url %s: %s\n", o.url.c_str(), error.c_str());
    return kExitBadFlags;
  }
  for (const auto& h : o.headers) {
    size_t colon = h.find(':');
    if (colon == std::string::npos || colon == 0 || h.find_first_of("\r\n") != std::string::npos) {
      std::fprintf(stderr, "facefuse_bench_http: error: --header '%s' must be \"Name: value\" on one line\n",
                   h.c_str());
      return kExitBadFlags;
    }
  }
  if (o.rate * (o.warmup + o.duration) > 1e8) {
    std::fprintf(stderr,
                 "facefuse_bench_http: error: --rate × (--warmup + --duration) must stay below 1e8 requests\n");
    return kExitBadFlags;
  }

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* resolved = nullptr;
  if (int rc = ::getaddrinfo(url->host.c_str(), url->port.c_str(), &hints, &resolved); rc != 0) {
    std::fprintf(stderr, "facefuse_bench_http: cannot resolve %s: %s\n", url->host.c_str(), ::gai_strerror(rc));
    return kExitUnreachable;
  }
  std::string body;
  if (!o.body_file.empty()) {
    std::ifstream in(o.body_file, std::ios::binary);
    body.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (body.empty()) {
      std::fprintf(stderr, "facefuse_bench_http: error: --body-file %s is empty\n", o.body_file.c_str());
      ::freeaddrinfo(resolved);
      return kExitBadFlags;
    }
  }
  LoadGenerator generator(o, *resolved, build_request(*url, o.headers, body));
  if (!generator.connect_all(error)) {
    std::fprintf(stderr, "facefuse_bench_http: cannot connect to %s: %s (is the server running?)\n",
                 url->authority.c_str(), error.c_str());
    ::freeaddrinfo(resolved);
    return kExitUnreachable;
  }
  Results r = generator.run();
  ::freeaddrinfo(resolved);

  for (auto* samples : {&r.latency_ms, &r.generator_lag_ms, &r.connection_wait_ms}) {
    std::sort(samples->begin(), samples->end());
  }
  // Completions over the span from the first measured due time to the last answer: equals --rate
  // when the server keeps up, less when answers trail behind the schedule.
  double span = r.completed > 0 ? std::chrono::duration<double>(r.last_completion - r.window_start).count() : 0;
  double achieved_rate = span > 0 ? static_cast<double>(r.completed) / std::max(span, o.duration) : 0;
  if (o.json) {
    print_json(o, r, achieved_rate);
  } else {
    print_text(o, r, achieved_rate);
  }
  return 0;
}
