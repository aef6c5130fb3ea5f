// Counting the CPU allocator: every CPU tensor's bytes, live and the most at once, as the CUDA caching
// allocator counts a GPU's. `ztune sft` on CPUs reports its peak next to the estimate at step 1, and the
// estimate test compares them.
#pragma once

#include <cstdint>

namespace zt::cpu_memory {

// Wraps libtorch's CPU allocator from here on (idempotent). Tensors allocated before are not counted.
void install_counter();
bool counting();
int64_t live_bytes();
int64_t peak_bytes();
// The peak starts again from what is live now.
void reset_peak();

}  // namespace zt::cpu_memory
