// The blob-storage flags shared by every command that opens the service's storage (`serve`, the
// `worker`; cli/node_flags.h calls it): --storage, the S3 options and the presigned links' TTL. One function registers them so the commands
// cannot drift apart. Call before parsing; not thread-safe (CLI set-up).
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "facefuse/storage/s3_options.h"

namespace facefuse::cli {

// Adds --storage (bound to `storage_uri`), --s3-endpoint, --s3-region, --s3-addressing, --s3-sse,
// --s3-sse-kms-key-id and --s3-part-size-mb (bound to `s3`), each with its FACEFUSE_* variable, and
// --presign-ttl (seconds).
void add_storage_flags(CLI::App& command, std::string& storage_uri, storage::S3Options& s3,
                       int64_t& presign_ttl_seconds);

}  // namespace facefuse::cli
