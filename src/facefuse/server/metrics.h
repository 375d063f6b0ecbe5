// The service's Prometheus metrics (DESIGN.md §5.2 Observability), owned by one object with its
// own registry: no process-global state, so two servers in one process (tests) do not mix.
// Thread-safe: every method may be called from any thread.
//
// Series (names without a prefix, as the dashboards and alerts name them):
//   http_requests_total{method,route,status}       counter
//   http_request_duration_seconds{route}           histogram
//   jobs{state}                                    gauge, jobs currently in each state
//   queue_depth                                    gauge, tasks waiting for a worker
//   job_queue_wait_seconds                         histogram, submit → a worker starts it
//   job_processing_seconds                         histogram, start → terminal state
//   frames_processed_total                         counter
//   frames_per_second                              gauge, current throughput of all workers
//   workers, workers_busy                          gauges
//   facefuse_task_interruptions_total{reason}      counter, reason lease_expired | released (the
//                                                  name issue 12 gives it; both series always exported)
//   facefuse_storage_bytes{kind}, facefuse_storage_objects{kind}   gauges, the blob store by kind
//                                                  (uploads, outputs, segments, staging, other) as
//                                                  this node's last janitor pass listed it
//   facefuse_janitor_deleted_objects_total{reason} counter, expired_upload | expired_output |
//                                                  expired_job | orphan
//   facefuse_janitor_passes_total{result}          counter, ran | skipped (another node) | failed
//   facefuse_janitor_pass_seconds                  histogram, passes this node ran
//   gpu_utilization_percent{gpu}, gpu_memory_used_bytes{gpu}   gauges, only once set_gpu() is
//                                                  called (NVML present, see system_stats.h)
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace prometheus {
class Registry;
}

namespace facefuse::server {

class ServiceMetrics {
 public:
  ServiceMetrics();
  ~ServiceMetrics();
  ServiceMetrics(const ServiceMetrics&) = delete;
  ServiceMetrics& operator=(const ServiceMetrics&) = delete;

  // One served request. `route` is the route template ("/api/v1/jobs/{job_id}"), never the raw
  // path: label values must come from a small fixed set.
  void observe_request(std::string_view method, std::string_view route, int status, double seconds);
  // Jobs in `state` (pending, processing, completed, failed, cancelled are always exported).
  void set_jobs(std::string_view state, double count);
  void set_queue_depth(double tasks);
  void observe_queue_wait(double seconds);
  void observe_processing(double seconds);
  void add_frames_processed(std::uint64_t frames);
  void set_frames_per_second(double fps);
  void set_workers(double total, double busy);
  // A task interrupted: "lease_expired" (claimed after its holder's lease expired) or "released".
  void add_task_interruption(std::string_view reason);
  // The retention janitor (jobs/janitor.h): what a pass found in the blob store, what it deleted,
  // and each pass's result ("ran", "skipped", "failed") with its duration.
  void set_storage_usage(std::string_view kind, double objects, double bytes);
  void add_janitor_deleted(std::string_view reason, double objects);
  void observe_janitor_pass(std::string_view result, double seconds);
  // GPU `index` as NVML numbers it; utilisation in percent (0–100), memory in bytes.
  void set_gpu(unsigned index, double utilization_percent, double memory_used_bytes);

  // Everything in the Prometheus text exposition format (version 0.0.4), for GET /metrics, served
  // with kContentType.
  static constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";
  std::string serialize() const;
  // For components that register metrics of their own.
  prometheus::Registry& registry();

 private:
  struct Families;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<Families> families_;
};

}  // namespace facefuse::server
