#include "support/postgres_server.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <random>

#include <fmt/format.h>

namespace facefuse::testing {

namespace {

constexpr const char* kBinDir = "/usr/lib/postgresql/15/bin";

// A port on 127.0.0.1 that binds now, drawn below the kernel's ephemeral range
// (ip_local_port_range, 32768 by default): outgoing connections take their local ports from that
// range, so one could take a port probed there (bind to port 0) before PostgreSQL binds it.
bool binds(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

int free_port() {
  int ephemeral_low = 32768;
  std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
  if (int low = 0; range >> low && low > 10001) ephemeral_low = low;
  std::random_device seed;
  std::mt19937 rng(seed());
  std::uniform_int_distribution<int> pick(10000, ephemeral_low - 1);
  for (int attempt = 0; attempt < 200; ++attempt) {
    const int port = pick(rng);
    if (binds(port)) return port;
  }
  return 0;
}

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Prefix that runs a PostgreSQL program as an unprivileged user.
std::string as_server_user() { return ::geteuid() == 0 ? "runuser -u postgres -- " : ""; }

}  // namespace

PostgresServer::PostgresServer() {
  char tmpl[] = "/tmp/facefuse-pg-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    error_ = "mkdtemp failed";
    return;
  }
  dir_ = tmpl;
  if (::geteuid() == 0 && !run(fmt::format("chown postgres: {}", quote(dir_.string())))) {
    error_ = "cannot hand the temporary directory to the postgres user (does it exist? run scripts/setup)";
    return;
  }
  {
    std::ofstream pw(dir_ / "pwfile");
    pw << kPassword << "\n";
  }
  if (::geteuid() == 0) run(fmt::format("chown postgres: {}", quote((dir_ / "pwfile").string())));
  if (!run(fmt::format("{}{}/initdb -D {} -U {} --pwfile={} --auth-local=trust --auth-host=scram-sha-256 "
                       "-E UTF8 --no-sync --no-instructions >{} 2>&1",
                       as_server_user(), kBinDir, quote((dir_ / "data").string()), kUser,
                       quote((dir_ / "pwfile").string()), quote((dir_ / "initdb.log").string())))) {
    error_ = fmt::format("initdb failed: see {}", (dir_ / "initdb.log").string());
    return;
  }
  port_ = free_port();
  if (!start()) error_ = fmt::format("pg_ctl start failed: see {}", (dir_ / "server.log").string());
}

PostgresServer::~PostgresServer() {
  if (running_) run(fmt::format("{}{}/pg_ctl -D {} -m immediate -w stop >/dev/null 2>&1", as_server_user(), kBinDir,
                                quote((dir_ / "data").string())));
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

bool PostgresServer::start() {
  running_ = run(fmt::format(
      "{}{}/pg_ctl -D {} -l {} -w -t 60 -o {} start >/dev/null 2>&1", as_server_user(), kBinDir,
      quote((dir_ / "data").string()), quote((dir_ / "server.log").string()),
      quote(fmt::format("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
                        "-c full_page_writes=off -c max_connections=200",
                        port_, dir_.string()))));
  return running_;
}

bool PostgresServer::stop() {
  bool stopped = run(fmt::format("{}{}/pg_ctl -D {} -m fast -w -t 60 stop >/dev/null 2>&1", as_server_user(), kBinDir,
                                 quote((dir_ / "data").string())));
  if (stopped) running_ = false;
  return stopped;
}

bool PostgresServer::psql(const std::string& database, const std::string& sql) {
  return run(fmt::format("{}/usr/bin/psql -X -q -v ON_ERROR_STOP=1 -h {} -p {} -U {} -d {} -c {} >>{} 2>&1",
                         as_server_user(), quote(dir_.string()), port_, kUser, quote(database), quote(sql),
                         quote((dir_ / "psql.log").string())));
}

std::string PostgresServer::create_database(const std::string& name) {
  psql("postgres", fmt::format("CREATE DATABASE \"{}\" STRATEGY FILE_COPY", name));
  return uri(name);
}

std::string PostgresServer::uri(const std::string& database, const std::string& password) const {
  return fmt::format("postgresql://{}:{}@127.0.0.1:{}/{}", kUser, password, port_, database);
}

bool PostgresServer::run(const std::string& command) { return std::system(command.c_str()) == 0; }

PostgresServer& shared_postgres() {
  static std::unique_ptr<PostgresServer> server = std::make_unique<PostgresServer>();
  return *server;
}

}  // namespace facefuse::testing
