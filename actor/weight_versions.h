// Policy versions and published weight versions.
//
// The policy version is the number of updates applied (0 = the initial weights); the weight
// publisher (actor/weights/weight_sync.h) numbers versions from 1 (it refuses a version that is not
// newer than the last), so blob.version = policy version + 1.
#pragma once

#include <cstdint>

namespace grpo::actor {

inline uint64_t blob_version(uint64_t policy_version) { return policy_version + 1; }
inline uint64_t policy_version(uint64_t blob_version) { return blob_version - 1; }

}  // namespace grpo::actor
