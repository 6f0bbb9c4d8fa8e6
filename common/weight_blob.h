// One published version of a model's weights as plain bytes: what the learner hands to the
// transports (actor/weights/) and what model/weight_blob.h makes from and loads into tensors.
// No LibTorch and no sockets here, so both sides can depend on it without depending on each other.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/error.h"

namespace grpo {

// `table` is a JSON array with one object per tensor:
//   {"name", "dtype" ("F32"|"BF16"|"F8_E4M3"), "shape", "offset", "bytes", "scale_offset", "scale_bytes"}
// (offsets into `data`; scale_* only for F8_E4M3, FP32 block scales) — what model/fp8_publish needs.
struct WeightBlob {
  uint64_t version = 0;
  std::string format;  // "fp32" | "bf16" | "fp8"
  nlohmann::json table = nlohmann::json::array();
  std::vector<uint8_t> data;
  std::string sha256;  // lower-case hex SHA-256 of `data` (common/sha256.h); publishers fill it when empty
};

// A blob whose table or bytes are wrong (a tensor past the end of the buffer, a bad dtype): what()
// names the version and the tensor. The transports' errors (actor::WeightSyncError) derive from it.
class WeightBlobError : public Error {
 public:
  using Error::Error;
};

}  // namespace grpo
