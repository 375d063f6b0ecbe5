#include "support/postgres_server.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include <fmt/format.h>

namespace facefuse::testing {

namespace {

constexpr const char* kBinDir = "/usr/lib/postgresql/15/bin";

// A port the kernel just handed out on 127.0.0.1 (free at the time of the call).
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    socklen_t len = sizeof(addr);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
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
