// The absorbed-MLA inference cache (spec §3.4, docs/mla_cache.md): per layer only the
// normalised KV latent c_kv and the rotated k_pe of each token, shared by all heads.
// A plain contiguous form; the rollout engine's paged allocator builds on the same contents.
#pragma once

#include <torch/torch.h>

#include "model/config.h"

namespace grpo::model {

struct LatentCache {
  std::vector<torch::Tensor> kv;  // per main layer [B, T_max, kv_lora_rank]
  std::vector<torch::Tensor> pe;  // per main layer [B, T_max, qk_rope_head_dim]
  torch::Tensor valid;            // [B, T_max] bool: slot holds a real (non-padding) token
  int64_t length = 0;             // slots filled so far (the same for every row)

  // Zeroed cache for `batch` sequences of up to `max_len` positions, elements in `options`' dtype.
  static LatentCache allocate(const ModelConfig& config, int64_t batch, int64_t max_len, torch::TensorOptions options);

  int64_t batch() const { return valid.size(0); }
  int64_t capacity() const { return valid.size(1); }
  // Bytes one token occupies over all layers, measured from the tensors:
  // (kv_lora_rank + qk_rope_head_dim) × layers × element size.
  int64_t bytes_per_token() const;
  // Each row repeated `times` times in a row (prefill a prompt once, sample G completions).
  LatentCache fork(int64_t times) const;
};

}  // namespace grpo::model
