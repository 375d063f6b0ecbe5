#include "facefuse/cli/storage_flags.h"

#include <map>

namespace facefuse::cli {

void add_storage_flags(CLI::App& command, std::string& storage_uri, storage::S3Options& s3,
                       int64_t& presign_ttl_seconds) {
  command.add_option("--storage", storage_uri, "blob storage: file://DIR (default file://<data>/storage) or "
                                                "s3://BUCKET[/PREFIX]; S3 credentials come from AWS_ACCESS_KEY_ID / "
                                                "AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN or AWS_PROFILE + "
                                                "~/.aws/credentials")
      ->envname("FACEFUSE_STORAGE");
  command.add_option("--s3-endpoint", s3.endpoint, "S3 endpoint as scheme://host[:port] (MinIO, R2, Ceph); default "
                                                   "AWS: https://s3.<region>.amazonaws.com")
      ->envname("FACEFUSE_S3_ENDPOINT");
  command.add_option("--s3-public-endpoint", s3.public_endpoint,
                     "scheme://host[:port] that presigned URLs name when clients reach the S3 server by another "
                     "address than this node (e.g. http://localhost:9000 while nodes use http://minio:9000); "
                     "default: --s3-endpoint")
      ->envname("FACEFUSE_S3_PUBLIC_ENDPOINT");
  command.add_option("--s3-region", s3.region, "the bucket's region (signing scope; 'auto' for R2)")
      ->envname("FACEFUSE_S3_REGION")->capture_default_str();
  static const std::map<std::string, storage::S3Addressing> kAddressing = {
      {"auto", storage::S3Addressing::kAuto}, {"path", storage::S3Addressing::kPath},
      {"virtual", storage::S3Addressing::kVirtual}};
  command.add_option("--s3-addressing", s3.addressing, "path (endpoint/bucket/key), virtual (bucket.endpoint/key) "
                                                       "or auto (virtual for AWS, path with --s3-endpoint)")
      ->transform(CLI::CheckedTransformer(kAddressing, CLI::ignore_case))
      ->envname("FACEFUSE_S3_ADDRESSING")->default_str("auto");
  command.add_option("--s3-sse", s3.sse, "server-side encryption of written objects: AES256 (SSE-S3) or aws:kms "
                                         "(SSE-KMS); default: the bucket's")
      ->check(CLI::IsMember({"AES256", "aws:kms"}))->envname("FACEFUSE_S3_SSE");
  command.add_option("--s3-sse-kms-key-id", s3.sse_kms_key_id, "KMS key for --s3-sse aws:kms (default: the "
                                                               "account's aws/s3 key)")
      ->envname("FACEFUSE_S3_SSE_KMS_KEY_ID");
  command.add_option_function<int64_t>("--s3-part-size-mb", [&s3](const int64_t& mb) { s3.part_size = mb << 20; },
                                       "objects larger than this go up in parts of this size, MiB (5..5120; default 16)")
      ->check(CLI::Range(5, 5120))->envname("FACEFUSE_S3_PART_SIZE_MB");
  command.add_option("--presign-ttl", presign_ttl_seconds, "seconds a presigned S3 output_url stays valid (S3 "
                                                           "storage; a fresh one comes with every read of the job)")
      ->check(CLI::Range(int64_t{1}, int64_t{604800}))->capture_default_str();
}

}  // namespace facefuse::cli
