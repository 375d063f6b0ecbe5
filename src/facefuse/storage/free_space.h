// The free-space reserve of the data directory (serve --min-free-mb). Writes that grow the disk —
// uploads, URL inputs, new jobs (their outputs and segments) — are refused while the file system
// holding the data directory has no more than the reserve free, so the server itself (SQLite's
// WAL, logs, deletes that free space) keeps working on a disk that is nearly full. Deleting jobs
// and uploads is never refused. Thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>

#include "facefuse/core/status.h"

namespace facefuse::storage {

// Bytes available to this (unprivileged) process on the file system holding `path` (statvfs
// f_bavail × f_frsize). kUnavailable when it cannot be queried.
Result<uint64_t> free_bytes(const std::filesystem::path& path);

// ok while more than `reserve_bytes` are free on the file system of `path`; kInsufficientStorage
// (HTTP 507) at or below it, saying how much is free and what to do. A file system that cannot be
// queried counts as full (refusing a write is safer than filling the disk). reserve 0: always ok.
Status check_free_space(const std::filesystem::path& path, uint64_t reserve_bytes);

// Ballast: a file of `bytes` allocated in the data directory while there is room, released when a
// delete finds the disk (nearly) full — another process may fill what our reserve kept free, and
// even a delete needs a little space (SQLite appends to its write-ahead log before it frees
// anything). ensure_ballast() allocates it when missing and more than `keep_free_bytes` would
// stay free (posix_fallocate: real blocks, not a sparse file); a no-op otherwise.
// release_ballast() removes it; true when it existed.
Status ensure_ballast(const std::filesystem::path& file, uint64_t bytes, uint64_t keep_free_bytes);
bool release_ballast(const std::filesystem::path& file);

}  // namespace facefuse::storage
