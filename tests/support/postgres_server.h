// A private PostgreSQL 15 server for tests: initdb into a fresh temporary directory, pg_ctl start
// on a free loopback port (socket in the same directory), stopped and removed by the destructor.
// No system service is used or touched. PostgreSQL refuses to run as root, so when the tests run
// as root the server runs as the `postgres` user the Debian package creates (via runuser).
//
// Authentication: the superuser `facefuse` with password kPassword over TCP (scram-sha-256, so a
// wrong password is refused as in production), trust on the Unix socket (the fixture's own use).
// Durability is off (fsync, synchronous_commit): the data dies with the test anyway.
//
// Threading: one thread drives a server (start/stop/restart); URIs may be read from any thread.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

namespace facefuse::testing {

class PostgresServer {
 public:
  static constexpr const char* kUser = "facefuse";
  static constexpr const char* kPassword = "facefuse-test-password";

  // Runs initdb and starts the server; check ok() (and error()) before use.
  PostgresServer();
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  int port() const { return port_; }

  // A new, empty database; returns its postgresql:// URI (user, password, 127.0.0.1:port).
  std::string create_database(const std::string& name);
  std::string uri(const std::string& database, const std::string& password = kPassword) const;

  // Stops (fast shutdown: connections are cut) / starts again on the same port and data.
  bool stop();
  bool start();
  // Runs one SQL statement through psql on the socket as the superuser; true on success.
  bool psql(const std::string& database, const std::string& sql);

 private:
  bool run(const std::string& command);

  std::filesystem::path dir_;
  int port_ = 0;
  bool running_ = false;
  std::string error_;
};

// One server shared by every test of the process, started on first use, stopped at exit.
PostgresServer& shared_postgres();

}  // namespace facefuse::testing
