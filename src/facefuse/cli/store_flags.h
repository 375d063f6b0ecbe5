// Flags every command that opens the job store shares (`serve`, and `worker` of distributed
// mode), registered by one function so their names, help and variables never drift apart.
//
// Threading: call while building the command line, before parsing.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

namespace facefuse::cli {

// --store URI (also FACEFUSE_STORE): sqlite:///path/jobs.db or postgresql://user:pw@host:port/db
// (jobs/job_store_uri.h). Left empty when not given: the command's default applies.
void add_store_uri_flag(CLI::App& command, std::string& store_uri);

}  // namespace facefuse::cli

namespace facefuse::cli {

// `facefuse migrate --store URI`: brings the store's schema to this facefuse's version (serve and
// worker also do it at start, under the same lock). Returns the exit code: 0, 2 for a bad or
// missing URI, an unreachable database or a newer schema, 1 otherwise.
CLI::App* add_migrate_command(CLI::App& app, std::string& store_uri);
int run_migrate_command(const std::string& store_uri);

}  // namespace facefuse::cli
