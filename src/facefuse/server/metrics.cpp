#include "facefuse/server/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace facefuse::server {
namespace {

// Bucket upper bounds in seconds, chosen for what each histogram measures.
const prometheus::Histogram::BucketBoundaries kRequestBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                                  0.05,   0.1,   0.25,   0.5,   1,    2.5, 10};
const prometheus::Histogram::BucketBoundaries kQueueWaitBuckets = {0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600};
const prometheus::Histogram::BucketBoundaries kProcessingBuckets = {0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600};

constexpr const char* kJobStates[] = {"pending", "processing", "completed", "failed", "cancelled"};
constexpr const char* kInterruptionReasons[] = {"lease_expired", "released"};
constexpr const char* kJanitorReasons[] = {"expired_upload", "expired_output", "expired_job", "orphan"};
const prometheus::Histogram::BucketBoundaries kJanitorBuckets = {0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300};

}  // namespace

struct ServiceMetrics::Families {
  explicit Families(prometheus::Registry& r)
      : requests(prometheus::BuildCounter()
                     .Name("http_requests_total")
                     .Help("HTTP requests served, by method, route template and status code")
                     .Register(r)),
        request_duration(prometheus::BuildHistogram()
                             .Name("http_request_duration_seconds")
                             .Help("Time to serve an HTTP request, by route template")
                             .Register(r)),
        jobs(prometheus::BuildGauge().Name("jobs").Help("Jobs currently in each state").Register(r)),
        queue_depth(prometheus::BuildGauge().Name("queue_depth").Help("Tasks waiting for a worker").Register(r).Add({})),
        queue_wait(prometheus::BuildHistogram()
                       .Name("job_queue_wait_seconds")
                       .Help("Time from job submission until a worker starts it")
                       .Register(r)
                       .Add({}, kQueueWaitBuckets)),
        processing(prometheus::BuildHistogram()
                       .Name("job_processing_seconds")
                       .Help("Time from a worker starting a job until it is completed, failed or cancelled")
                       .Register(r)
                       .Add({}, kProcessingBuckets)),
        frames(prometheus::BuildCounter()
                   .Name("frames_processed_total")
                   .Help("Video frames and images processed by all workers")
                   .Register(r)
                   .Add({})),
        frames_per_second(prometheus::BuildGauge()
                              .Name("frames_per_second")
                              .Help("Current processing throughput of all workers in frames per second")
                              .Register(r)
                              .Add({})),
        workers(prometheus::BuildGauge().Name("workers").Help("Worker threads in this process").Register(r).Add({})),
        workers_busy(prometheus::BuildGauge()
                         .Name("workers_busy")
                         .Help("Workers currently running a task")
                         .Register(r)
                         .Add({})),
        gpu_utilization(prometheus::BuildGauge()
                            .Name("gpu_utilization_percent")
                            .Help("GPU utilisation reported by NVML in percent")
                            .Register(r)),
        gpu_memory_used(prometheus::BuildGauge()
                            .Name("gpu_memory_used_bytes")
                            .Help("GPU memory in use reported by NVML in bytes")
                            .Register(r)),
        interruptions(prometheus::BuildCounter()
                          .Name("facefuse_task_interruptions_total")
                          .Help("Tasks interrupted: claimed here after their holder's lease expired "
                                "(lease_expired) or given back by this process's workers (released)")
                          .Register(r)),
        storage_bytes(prometheus::BuildGauge()
                          .Name("facefuse_storage_bytes")
                          .Help("Bytes in the blob store by kind, as the last janitor pass of this node listed them")
                          .Register(r)),
        storage_objects(prometheus::BuildGauge()
                            .Name("facefuse_storage_objects")
                            .Help("Objects in the blob store by kind, as the last janitor pass of this node listed them")
                            .Register(r)),
        janitor_deleted(prometheus::BuildCounter()
                            .Name("facefuse_janitor_deleted_objects_total")
                            .Help("Objects the retention janitor deleted, by reason (expired_upload, expired_output, "
                                  "expired_job, orphan)")
                            .Register(r)),
        janitor_passes(prometheus::BuildCounter()
                           .Name("facefuse_janitor_passes_total")
                           .Help("Janitor passes by result: ran, skipped (another node held the lock), failed")
                           .Register(r)),
        janitor_seconds(prometheus::BuildHistogram()
                            .Name("facefuse_janitor_pass_seconds")
                            .Help("Duration of the janitor passes this node ran")
                            .Register(r)
                            .Add({}, kJanitorBuckets)) {
    for (const char* state : kJobStates) jobs.Add({{"state", state}});
    for (const char* reason : kJanitorReasons) janitor_deleted.Add({{"reason", reason}});
    for (const char* result : {"ran", "skipped", "failed"}) janitor_passes.Add({{"result", result}});
    for (const char* reason : kInterruptionReasons) interruptions.Add({{"reason", reason}});
  }

  prometheus::Family<prometheus::Counter>& requests;
  prometheus::Family<prometheus::Histogram>& request_duration;
  prometheus::Family<prometheus::Gauge>& jobs;
  prometheus::Gauge& queue_depth;
  prometheus::Histogram& queue_wait;
  prometheus::Histogram& processing;
  prometheus::Counter& frames;
  prometheus::Gauge& frames_per_second;
  prometheus::Gauge& workers;
  prometheus::Gauge& workers_busy;
  prometheus::Family<prometheus::Gauge>& gpu_utilization;
  prometheus::Family<prometheus::Gauge>& gpu_memory_used;
  prometheus::Family<prometheus::Counter>& interruptions;
  prometheus::Family<prometheus::Gauge>& storage_bytes;
  prometheus::Family<prometheus::Gauge>& storage_objects;
  prometheus::Family<prometheus::Counter>& janitor_deleted;
  prometheus::Family<prometheus::Counter>& janitor_passes;
  prometheus::Histogram& janitor_seconds;
};

ServiceMetrics::ServiceMetrics()
    : registry_(std::make_shared<prometheus::Registry>()), families_(std::make_unique<Families>(*registry_)) {}

ServiceMetrics::~ServiceMetrics() = default;

void ServiceMetrics::observe_request(std::string_view method, std::string_view route, int status, double seconds) {
  families_->requests
      .Add({{"method", std::string(method)}, {"route", std::string(route)}, {"status", std::to_string(status)}})
      .Increment();
  families_->request_duration.Add({{"route", std::string(route)}}, kRequestBuckets).Observe(seconds);
}

void ServiceMetrics::set_jobs(std::string_view state, double count) {
  families_->jobs.Add({{"state", std::string(state)}}).Set(count);
}

void ServiceMetrics::set_queue_depth(double tasks) { families_->queue_depth.Set(tasks); }
void ServiceMetrics::observe_queue_wait(double seconds) { families_->queue_wait.Observe(seconds); }
void ServiceMetrics::observe_processing(double seconds) { families_->processing.Observe(seconds); }
void ServiceMetrics::add_frames_processed(std::uint64_t frames) {
  families_->frames.Increment(static_cast<double>(frames));
}
void ServiceMetrics::set_frames_per_second(double fps) { families_->frames_per_second.Set(fps); }

void ServiceMetrics::set_workers(double total, double busy) {
  families_->workers.Set(total);
  families_->workers_busy.Set(busy);
}

void ServiceMetrics::add_task_interruption(std::string_view reason) {
  families_->interruptions.Add({{"reason", std::string(reason)}}).Increment();
}

void ServiceMetrics::set_gpu(unsigned index, double utilization_percent, double memory_used_bytes) {
  const prometheus::Labels labels{{"gpu", std::to_string(index)}};
  families_->gpu_utilization.Add(labels).Set(utilization_percent);
  families_->gpu_memory_used.Add(labels).Set(memory_used_bytes);
}

void ServiceMetrics::set_storage_usage(std::string_view kind, double objects, double bytes) {
  families_->storage_objects.Add({{"kind", std::string(kind)}}).Set(objects);
  families_->storage_bytes.Add({{"kind", std::string(kind)}}).Set(bytes);
}

void ServiceMetrics::add_janitor_deleted(std::string_view reason, double objects) {
  families_->janitor_deleted.Add({{"reason", std::string(reason)}}).Increment(objects);
}

void ServiceMetrics::observe_janitor_pass(std::string_view result, double seconds) {
  families_->janitor_passes.Add({{"result", std::string(result)}}).Increment();
  if (result == "ran") families_->janitor_seconds.Observe(seconds);
}

std::string ServiceMetrics::serialize() const { return prometheus::TextSerializer().Serialize(registry_->Collect()); }

prometheus::Registry& ServiceMetrics::registry() { return *registry_; }

}  // namespace facefuse::server
