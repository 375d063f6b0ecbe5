// What `facefuse serve` and `facefuse worker` set up the same way: the options both take, the stop
// signals, the node id that names lease owners, the execution settings and worker-pool
// configuration derived from the flags, the process-wide model cache, and the webhooks of jobs
// that reach a terminal state on this node (whichever process finishes a job notifies its webhook,
// once: the store records the terminal state in the transaction that finishes it, and only that
// caller sees job_finished).
//
// Threading: JobWebhooks::notify may be called from any thread; stop() once, at shutdown.
// block_stop_signals() before any thread starts.
#pragma once

#include <signal.h>

#include <filesystem>
#include <memory>
#include <string>

#include "facefuse/inference/onnx_session.h"
#include "facefuse/jobs/job.h"
#include "facefuse/jobs/job_request.h"
#include "facefuse/jobs/job_store.h"
#include "facefuse/jobs/webhook.h"
#include "facefuse/jobs/worker_pool.h"
#include "facefuse/server/media_links.h"
#include "facefuse/storage/blob_store.h"
#include "facefuse/storage/s3_options.h"

namespace facefuse::server {

// The options `serve` (server/serve.h) and `worker` (server/worker_node.h) share; cli/node_flags.h
// registers their flags for both verbs.
struct NodeOptions {
  std::filesystem::path data_dir;
  std::string store_uri;               // job store (jobs/job_store_uri.h); empty: sqlite://<data>/jobs.db
  std::string storage_uri;             // empty: file://<data>/storage; s3://bucket/prefix
  storage::S3Options s3;               // endpoint, region, addressing, SSE of s3:// storage
  int64_t presign_ttl_seconds = 3600;  // validity of presigned S3 output_url links
  int workers = 1;                     // tasks run at once in this process (CPU threads are shared)
  double grace_seconds = 30;
  double lease_seconds = 30;
  double task_stall_seconds = 0;       // > 0: fail a leased task without frame progress for this long
  bool allow_private_urls = false;     // webhooks (and serve's URL inputs) may reach loopback/private addresses
  int64_t media_link_ttl_seconds = 3600;  // validity of signed output_url links (media_links.h)
  std::filesystem::path models_dir;
  inference::SessionOptions session;
  std::string log_level = "info";
  std::string version;
};

// Blocks SIGTERM, SIGINT and SIGHUP (a closed terminal or dropped SSH session drains like SIGTERM)
// in the calling thread and returns that set. Call first, before any thread starts, so every thread
// inherits the mask: the signals are then taken only by sigwait()/sigtimedwait() on the set (in the
// calling thread). Threads that libraries started before main() do not block them; a handler re-sends
// a signal such a thread receives to the calling thread, so it is never lost and never fatal.
sigset_t block_stop_signals();

// A second stop signal while draining ends the process at once (exit code 128 + signal): waits for
// one of `signals` on a detached thread.
void exit_on_next_stop_signal(const sigset_t& signals);

// "host:pid": lease owners are "<node_id>/w<N>", so a lease names the process that holds it.
std::string node_id();

// Models, backend and the CPU budget of `workers` tasks at once (cores / workers threads each;
// ORT's intra-op threads too unless the session sets them). `workers` 0 counts as 1.
jobs::ExecutionSettings execution_settings(const std::filesystem::path& models_dir,
                                           const inference::SessionOptions& session, int workers, int64_t max_pixels);

// kInvalidArgument naming the flag when --grace-seconds, --lease-seconds or --task-stall-seconds is
// out of range (--workers is each verb's own check: serve allows 0).
Status check_worker_pool_options(const NodeOptions& options);

// Lease seconds → lease and heartbeat (a third of the lease, at least 200 ms); one GPU task per
// device, CPU tasks share the thread budget; stall_seconds 0 = no stall sweep.
jobs::WorkerPoolConfig worker_pool_config(int workers, double lease_seconds, double stall_seconds,
                                          const inference::SessionOptions& session);

// Opens the node's blob storage (`storage_uri` empty: file://<data>/storage). S3 storage must answer
// now (a missing bucket or refused credentials stop the start with the reason, rather than failing
// every upload later), and `signer` then hands out presigned GET URLs of presign_ttl_seconds for
// outputs, so they go from the bucket to the client.
Result<std::unique_ptr<storage::BlobStore>> open_node_storage(const std::filesystem::path& data,
                                                              const std::string& storage_uri,
                                                              const storage::S3Options& s3,
                                                              int64_t presign_ttl_seconds, MediaLinkSigner& signer);

// The node's media-link signer (media_links.h). With the SQLite store the secret is the data
// directory's media_link.key, as for one node. With a shared store (PostgreSQL) it is the store's
// shared secret "media_link", created by the first node that needs it, so a /media link signed by one
// API node (or a worker's webhook) works on every other node behind the load balancer.
Result<MediaLinkSigner> open_media_link_signer(const std::filesystem::path& data, jobs::JobStore& store,
                                               bool shared_store, int64_t ttl_seconds);

// Delivers the webhook of a job that ended, its output_url signed with the node's media-link key.
class JobWebhooks {
 public:
  JobWebhooks(bool allow_private_urls, std::shared_ptr<const MediaLinkSigner> media_links);
  void notify(const jobs::Job& job);
  void stop() { sender_.stop(); }

 private:
  std::shared_ptr<const MediaLinkSigner> media_links_;
  jobs::WebhookSender sender_;
};

}  // namespace facefuse::server
