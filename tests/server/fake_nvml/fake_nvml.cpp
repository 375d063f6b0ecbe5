// Two fake GPUs behind NVML's C entry points (the subset SystemStats loads), with the signatures of
// nvml.h: nvmlReturn_t codes (0 = success), opaque nvmlDevice_t handles, nvmlUtilization_t,
// nvmlMemory_t — nvml.h's type names included, because the ASan+UBSan build checks every call
// through a function pointer against the callee's type by name (-fsanitize=function).
#include <cstring>

enum nvmlReturn_enum { NVML_SUCCESS = 0, NVML_ERROR_UNINITIALIZED = 1, NVML_ERROR_INVALID_ARGUMENT = 2 };
struct nvmlDevice_st;
struct nvmlUtilization_st {
  unsigned int gpu;
  unsigned int memory;
};
struct nvmlMemory_st {
  unsigned long long total;
  unsigned long long free;
  unsigned long long used;
};

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

// nvmlDevice_t is opaque to callers; here it points at a FakeDevice.
FakeDevice* fake(nvmlDevice_st* device) { return reinterpret_cast<FakeDevice*>(device); }

}  // namespace

extern "C" {

nvmlReturn_enum nvmlInit_v2() {
  ++g_initialised;
  return NVML_SUCCESS;
}
nvmlReturn_enum nvmlShutdown() {
  --g_initialised;
  return NVML_SUCCESS;
}
nvmlReturn_enum nvmlDeviceGetCount_v2(unsigned int* count) {
  if (g_initialised <= 0) return NVML_ERROR_UNINITIALIZED;
  *count = 2;
  return NVML_SUCCESS;
}
nvmlReturn_enum nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_st** device) {
  if (index >= 2) return NVML_ERROR_INVALID_ARGUMENT;
  *device = reinterpret_cast<nvmlDevice_st*>(&g_devices[index]);
  return NVML_SUCCESS;
}
nvmlReturn_enum nvmlDeviceGetName(nvmlDevice_st* device, char* name, unsigned int length) {
  std::strncpy(name, fake(device)->name, length - 1);
  name[length - 1] = '\0';
  return NVML_SUCCESS;
}
nvmlReturn_enum nvmlDeviceGetUtilizationRates(nvmlDevice_st* device, nvmlUtilization_st* utilization) {
  utilization->gpu = fake(device)->utilization_percent;
  utilization->memory = 0;
  return NVML_SUCCESS;
}
nvmlReturn_enum nvmlDeviceGetMemoryInfo(nvmlDevice_st* device, nvmlMemory_st* memory) {
  const FakeDevice* d = fake(device);
  memory->total = d->total_bytes;
  memory->used = d->used_bytes;
  memory->free = d->total_bytes - d->used_bytes;
  return NVML_SUCCESS;
}

}  // extern "C"
