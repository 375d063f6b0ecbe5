// Two fake GPUs behind NVML's C entry points (the subset SystemStats loads), with the ABI of
// nvml.h: int return codes (0 = success), opaque device handles, nvmlUtilization_t, nvmlMemory_t.
#include <cstring>

namespace {

struct FakeDevice {
  const char* name;
  unsigned utilization_percent;
  unsigned long long total_bytes;
  unsigned long long used_bytes;
};

FakeDevice g_devices[] = {
    {"Fake GPU A100", 73, 40ull << 30, 10ull << 30},
    {"Fake GPU T4", 5, 16ull << 30, 512ull << 20},
};
int g_initialised = 0;

constexpr int kSuccess = 0;
constexpr int kUninitialized = 1;
constexpr int kInvalidArgument = 2;

}  // namespace

extern "C" {

struct FakeUtilization {
  unsigned gpu;
  unsigned memory;
};
struct FakeMemory {
  unsigned long long total;
  unsigned long long free;
  unsigned long long used;
};

int nvmlInit_v2() {
  ++g_initialised;
  return kSuccess;
}
int nvmlShutdown() {
  --g_initialised;
  return kSuccess;
}
int nvmlDeviceGetCount_v2(unsigned* count) {
  if (g_initialised <= 0) return kUninitialized;
  *count = 2;
  return kSuccess;
}
int nvmlDeviceGetHandleByIndex_v2(unsigned index, void** device) {
  if (index >= 2) return kInvalidArgument;
  *device = &g_devices[index];
  return kSuccess;
}
int nvmlDeviceGetName(void* device, char* name, unsigned length) {
  std::strncpy(name, static_cast<FakeDevice*>(device)->name, length - 1);
  name[length - 1] = '\0';
  return kSuccess;
}
int nvmlDeviceGetUtilizationRates(void* device, FakeUtilization* utilization) {
  utilization->gpu = static_cast<FakeDevice*>(device)->utilization_percent;
  utilization->memory = 0;
  return kSuccess;
}
int nvmlDeviceGetMemoryInfo(void* device, FakeMemory* memory) {
  const auto* d = static_cast<FakeDevice*>(device);
  memory->total = d->total_bytes;
  memory->used = d->used_bytes;
  memory->free = d->total_bytes - d->used_bytes;
  return kSuccess;
}

}  // extern "C"
