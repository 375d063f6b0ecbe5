// Holds many connections open against a server for the service benchmark (bench/service_bench.sh
// step 6): N idle TCP connections (connected, nothing sent), M WebSockets (upgrade accepted, then
// only listening), and S slowloris connections (a request header that never ends: one more
// header line every --drip seconds). Prints how many of each are held, every second, as JSON
// lines; runs until --duration seconds have passed or it is killed. One thread, poll(2), POSIX
// sockets; raises its own descriptor limit to the hard limit.
//
//   facefuse_bench_conns --host 127.0.0.1 --port P --idle 10000 --websockets 2000
//       --ws-path /ws/job/ID/progress --slowloris 1000 --duration 30 [--header "Authorization: Bearer K"]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

namespace {

using Clock = std::chrono::steady_clock;

int connect_to(const sockaddr_in& address) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool send_all(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// Reads the upgrade answer's header; true on "101".
bool read_upgrade(int fd) {
  std::string head;
  char c;
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  while (head.size() < 8192 && head.find("\r\n\r\n") == std::string::npos) {
    if (::recv(fd, &c, 1, 0) != 1) return false;
    head += c;
  }
  return head.rfind("HTTP/1.1 101", 0) == 0;
}

// Connections the server closed (readable with EOF, or an error) are dropped from `fds`.
// WebSocket frames the server pushes are read and dropped.
int reap(std::vector<int>& fds) {
  std::vector<pollfd> polls;
  for (int fd : fds) polls.push_back({fd, POLLIN, 0});
  if (polls.empty()) return 0;
  ::poll(polls.data(), polls.size(), 0);
  int closed = 0;
  std::vector<int> kept;
  char buffer[4096];
  for (const auto& p : polls) {
    bool gone = false;
    if (p.revents & (POLLERR | POLLHUP)) gone = true;
    else if (p.revents & POLLIN) gone = ::recv(p.fd, buffer, sizeof(buffer), MSG_DONTWAIT) <= 0;
    if (gone) {
      ::close(p.fd);
      ++closed;
    } else {
      kept.push_back(p.fd);
    }
  }
  fds.swap(kept);
  return closed;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("Holds idle connections, WebSockets and slowloris connections open against a server");
  std::string host = "127.0.0.1", ws_path, header;
  int port = 0, idle = 0, websockets = 0, slowloris = 0;
  double duration = 30, drip = 5;
  app.add_option("--host", host, "IPv4 address")->capture_default_str();
  app.add_option("--port", port, "port")->required();
  app.add_option("--idle", idle, "idle connections (nothing sent)");
  app.add_option("--websockets", websockets, "WebSockets (needs --ws-path)");
  app.add_option("--ws-path", ws_path, "WebSocket path, e.g. /ws/job/ID/progress");
  app.add_option("--header", header, "extra header line for the WebSocket upgrades");
  app.add_option("--slowloris", slowloris, "connections sending a header that never ends");
  app.add_option("--drip", drip, "seconds between slowloris header lines")->capture_default_str();
  app.add_option("--duration", duration, "seconds to hold everything")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (websockets > 0 && ws_path.empty()) {
    std::fprintf(stderr, "facefuse_bench_conns: --websockets needs --ws-path\n");
    return 2;
  }
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1) {
    std::fprintf(stderr, "facefuse_bench_conns: --host must be an IPv4 address\n");
    return 2;
  }
  std::vector<int> idle_fds, ws_fds, slow_fds;
  int failed = 0;
  for (int i = 0; i < idle; ++i) {
    int fd = connect_to(address);
    if (fd < 0) ++failed; else idle_fds.push_back(fd);
  }
  std::string upgrade = fmt::format("GET {} HTTP/1.1\r\nHost: {}:{}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{}\r\n",
                                    ws_path, host, port, header.empty() ? "" : header + "\r\n");
  int ws_refused = 0;
  for (int i = 0; i < websockets; ++i) {
    int fd = connect_to(address);
    if (fd < 0 || !send_all(fd, upgrade) || !read_upgrade(fd)) {
      ++ws_refused;
      if (fd >= 0) ::close(fd);
      continue;
    }
    ws_fds.push_back(fd);
  }
  for (int i = 0; i < slowloris; ++i) {
    int fd = connect_to(address);
    if (fd < 0 || !send_all(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n")) {
      ++failed;
      if (fd >= 0) ::close(fd);
      continue;
    }
    slow_fds.push_back(fd);
  }
  auto start = Clock::now();
  auto next_drip = start;
  int slow_closed = 0, idle_closed = 0, ws_closed = 0;
  while (std::chrono::duration<double>(Clock::now() - start).count() < duration) {
    if (Clock::now() >= next_drip) {
      for (int fd : slow_fds) send_all(fd, "X-Slow: 1\r\n");
      next_drip += std::chrono::milliseconds(static_cast<int64_t>(drip * 1000));
    }
    idle_closed += reap(idle_fds);
    ws_closed += reap(ws_fds);
    slow_closed += reap(slow_fds);
    std::printf("{\"t\": %.1f, \"idle\": %zu, \"websockets\": %zu, \"slowloris\": %zu, \"idle_closed\": %d, "
                "\"websockets_closed\": %d, \"websockets_refused\": %d, \"slowloris_closed\": %d, \"connect_failed\": %d}\n",
                std::chrono::duration<double>(Clock::now() - start).count(), idle_fds.size(), ws_fds.size(),
                slow_fds.size(), idle_closed, ws_closed, ws_refused, slow_closed, failed);
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  for (auto* v : {&idle_fds, &ws_fds, &slow_fds}) {
    for (int fd : *v) ::close(fd);
  }
  return 0;
}
