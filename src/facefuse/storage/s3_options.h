// Options of the S3 blob store (serve/worker flags --s3-endpoint, --s3-region, --s3-addressing,
// --s3-sse, --s3-sse-kms-key-id), apart from the store so that open_blob_store() can take them.
// Plain data: thread-safe to read.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "facefuse/core/status.h"
#include "facefuse/storage/sigv4.h"

namespace facefuse::storage {

enum class S3Addressing {
  kAuto,     // virtual-hosted for AWS (no endpoint given), path-style for a custom endpoint
  kPath,     // https://endpoint/bucket/key (MinIO, Ceph, most test servers)
  kVirtual,  // https://bucket.endpoint/key (AWS, R2)
};

struct S3Options {
  // Scheme + host[:port], e.g. "http://127.0.0.1:9000"; empty: https://s3.<region>.amazonaws.com.
  std::string endpoint;
  // Scheme + host[:port] that presigned URLs (output_url, direct-upload put_url) name instead of
  // `endpoint`, for clients that reach the same S3 server by another address than the nodes do
  // (compose/Kubernetes: nodes use http://minio:9000, browsers http://localhost:9000). The server
  // must see this host in the request (SigV4 signs it): a proxy in front keeps the Host header.
  // Empty: presigned URLs name `endpoint`.
  std::string public_endpoint;
  std::string region = "us-east-1";
  S3Addressing addressing = S3Addressing::kAuto;
  // Server-side encryption passed through on every object write: "" (bucket default), "AES256"
  // (SSE-S3) or "aws:kms" (SSE-KMS, optionally with kms_key_id).
  std::string sse;
  std::string sse_kms_key_id;
  // Objects larger than this go up in parts of this size (bytes; S3's minimum part is 5 MiB).
  int64_t part_size = int64_t{16} << 20;
  // Attempts per request (1 = no retry) and the backoff between them: base × 2^attempt, capped, full
  // jitter (a random wait in [0, that]).
  int max_attempts = 5;
  std::chrono::milliseconds backoff_base{200};
  std::chrono::milliseconds backoff_cap{5'000};
  std::chrono::milliseconds connect_timeout{10'000};
  // A transfer slower than 1 KiB/s for this long is abandoned (and retried): large bodies have no
  // whole-request deadline, small requests have request_timeout.
  std::chrono::milliseconds stall_timeout{30'000};
  std::chrono::milliseconds request_timeout{60'000};
  // Seconds added to this machine's clock when signing: 0 except in tests that simulate a skewed
  // clock (S3 refuses requests more than 15 minutes off its own time).
  int64_t clock_offset_seconds = 0;
  // Fixed credentials (tests); otherwise the standard places (aws_credentials.h), re-read every minute.
  std::optional<AwsCredentials> credentials;
};

// Checks the options (sse values, part size ≥ 5 MiB, endpoint scheme, region); kInvalidArgument
// naming the flag to fix.
Status validate_s3_options(const S3Options& options);

}  // namespace facefuse::storage
