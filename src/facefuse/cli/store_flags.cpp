#include "facefuse/cli/store_flags.h"

#include <cstdio>

#include "facefuse/core/error_codes.h"
#include "facefuse/jobs/job_store_uri.h"

namespace facefuse::cli {

void add_store_uri_flag(CLI::App& command, std::string& store_uri) {
  command
      .add_option("--store", store_uri,
                  "job store URI: sqlite:///PATH/jobs.db (default: <data>/jobs.db) or "
                  "postgresql://USER:PASSWORD@HOST:PORT/DB (empty parts from PGHOST, PGPORT, PGUSER, PGPASSWORD, "
                  "PGDATABASE)")
      ->envname("FACEFUSE_STORE");
}

CLI::App* add_migrate_command(CLI::App& app, std::string& store_uri) {
  auto* migrate = app.add_subcommand("migrate", "Bring the job store's schema to this version (serve does it at start)");
  add_store_uri_flag(*migrate, store_uri);
  return migrate;
}

int run_migrate_command(const std::string& store_uri) {
  if (store_uri.empty()) {
    std::fprintf(stderr, "facefuse: error: migrate needs --store URI (or FACEFUSE_STORE): sqlite:///PATH/jobs.db or "
                         "postgresql://USER:PASSWORD@HOST:PORT/DB\n");
    return kExitBadInput;
  }
  auto uri = jobs::parse_store_uri(store_uri, "");
  Result<std::string> done = uri.is_ok() ? jobs::migrate_job_store(*uri) : Result<std::string>(uri.status());
  if (!done.is_ok()) {
    std::fprintf(stderr, "facefuse: error: %s\n", done.status().message().c_str());
    return exit_code_for(done.status().code());
  }
  std::printf("%s\n", done->c_str());
  return kExitOk;
}

}  // namespace facefuse::cli
