#include "core/cpu_memory.h"

#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>

#include <atomic>
#include <cstring>

namespace zt::cpu_memory {
namespace {

// Allocates through c10::alloc_cpu (what libtorch's default CPU allocator calls) with a 64-byte header holding
// the size in front of the data, so that the data pointer is also the context: libtorch's raw_allocate paths
// (oneDNN's bf16 kernels among them) require that of every allocator.
std::atomic<int64_t> g_live{0}, g_peak{0};
constexpr size_t kHeader = 64;  // keeps the data 64-byte aligned, as alloc_cpu's

void release(void* data) {
  if (data == nullptr) return;
  char* base = static_cast<char*>(data) - kHeader;
  int64_t bytes = 0;
  std::memcpy(&bytes, base, sizeof bytes);
  g_live -= bytes;
  c10::free_cpu(base);
}

class CountingAllocator : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t n) override {
    char* base = static_cast<char*>(c10::alloc_cpu(n + kHeader));
    const int64_t bytes = static_cast<int64_t>(n);
    std::memcpy(base, &bytes, sizeof bytes);
    void* data = base + kHeader;
    const int64_t now = g_live += bytes;
    for (int64_t seen = g_peak.load(); now > seen && !g_peak.compare_exchange_weak(seen, now);) {
    }
    return {data, data, &release, c10::Device(c10::kCPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &release; }
  void copy_data(void* dest, const void* src, std::size_t count) const override { std::memcpy(dest, src, count); }
};

CountingAllocator* g_counter = nullptr;

}  // namespace

void install_counter() {
  if (g_counter != nullptr) return;
  static CountingAllocator counter;
  c10::SetCPUAllocator(&counter, /*priority=*/100);
  g_counter = &counter;
}

bool counting() { return g_counter != nullptr; }
int64_t live_bytes() { return g_counter != nullptr ? g_live.load() : 0; }
int64_t peak_bytes() { return g_counter != nullptr ? g_peak.load() : 0; }
void reset_peak() { g_peak = g_live.load(); }

}  // namespace zt::cpu_memory
