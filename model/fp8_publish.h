// Weight publication for rollouts: the learner's master weights packed into one flat byte
// buffer that a rollout worker unpacks into its model. In FP8 the linears DeepSeek quantizes
// travel as e4m3 codes plus one FP32 scale per 128x128 block (≈ half the bytes of BF16, plus
// 4/16384 bytes of scale per weight); everything else (embeddings, norms, router, lm_head)
// travels as BF16 and the routing biases as FP32, in both formats.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "model/causal_lm.h"

namespace grpo::model {

// kFp32 sends every tensor as FP32 (the CPU default: a rollout model equals the learner's
// FP32 master weights bit for bit); kBf16 and kFp8 as described above.
enum class PublishFormat { kBf16, kFp8, kFp32 };

struct PublishedTensor {
  std::string name;                            // Hugging Face name
  std::vector<int64_t> shape;                  // of the weight
  torch::ScalarType dtype;                     // kFloat8_e4m3fn, kBFloat16 or kFloat32
  uint64_t offset = 0, bytes = 0;              // the values in `data`
  uint64_t scale_offset = 0, scale_bytes = 0;  // FP8 only: [ceil(rows/128), ceil(cols/128)] FP32
};

struct PublishedWeights {
  std::vector<PublishedTensor> tensors;
  std::vector<uint8_t> data;  // everything, back to back (8-byte aligned entries)
  uint64_t scale_bytes() const;
};

// Packs the model's weights (the MTP layers' stored copies of embed_tokens/lm_head left out:
// they are the same tensors). Works from FP32/BF16 master weights or from an FP8 model.
PublishedWeights publish_weights(CausalLM& lm, PublishFormat format);

// The inverse: tensors by Hugging Face name, FP8 ones as F8_E4M3 plus `<name>_scale_inv`, i.e.
// the layout of an FP8 checkpoint. Feed it to load_weights(lm, tensor_source(...)): an FP8 model
// keeps the codes bit for bit, a higher-precision model dequantizes.
std::map<std::string, torch::Tensor> unpack_published(const PublishedWeights& published);

}  // namespace grpo::model
