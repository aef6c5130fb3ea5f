// A small deterministic random generator whose whole state is one integer, so data cursors can save and
// restore it exactly; the same seed gives the same numbers on every platform.
#pragma once

#include <cstdint>

namespace zt::data {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) : state_(seed) {}
  // Mixes several values into one seed (data_seed, epoch, rank, ...).
  static uint64_t mix(uint64_t a, uint64_t b) {
    uint64_t x = a ^ (b + 0x9E3779B97F4A7C15ull + (a << 6) + (a >> 2));
    return finalize(x);
  }
  uint64_t next() { return finalize(state_ += 0x9E3779B97F4A7C15ull); }  // splitmix64
  // Uniform in [0, bound) (Lemire's multiply-shift with rejection).
  uint64_t below(uint64_t bound) {
    if (bound <= 1) return 0;
    unsigned __int128 product = static_cast<unsigned __int128>(next()) * bound;
    auto low = static_cast<uint64_t>(product);
    if (low < bound) {
      uint64_t threshold = -bound % bound;
      while (low < threshold) {
        product = static_cast<unsigned __int128>(next()) * bound;
        low = static_cast<uint64_t>(product);
      }
    }
    return static_cast<uint64_t>(product >> 64);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  uint64_t state() const { return state_; }
  void set_state(uint64_t state) { state_ = state; }

 private:
  static uint64_t finalize(uint64_t x) {
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
  }
  uint64_t state_;
};

}  // namespace zt::data
