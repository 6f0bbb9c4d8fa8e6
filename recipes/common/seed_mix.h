// A stream position (seed, index) → a 64-bit RNG seed, so task i of a family is a pure function
// of the seed and i, whatever was generated before it. SplitMix64's finaliser over
// seed·φ + index + salt; each task family passes its own salt so that math task i and code
// task i with the same seed do not draw the same numbers.
#pragma once

#include <cstdint>

namespace grpo::recipes {

inline uint64_t seed_mix(uint64_t seed, uint64_t index, uint64_t salt) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + index + salt;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace grpo::recipes
