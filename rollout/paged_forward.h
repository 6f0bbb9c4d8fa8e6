// The model's forward over the paged latent cache for a batch of sequences that each sit at
// their own length (continuous batching): row b appends its S_b new tokens at positions
// len_b .. len_b+S_b-1 and attends over its own 0 .. len_b+S_b-1. Rows are padded to the
// longest S; padded tokens write to the scratch slot and their outputs are ignored.
// The forward itself is the model's one inference path (CausalLMImpl::forward_latent /
// forward_mtp_latent, docs/mla_cache.md); this file adds only where the latents live: a
// LatentStore that scatters them into each sequence's pages and gathers its rows back.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "model/activation_tap.h"
#include "model/causal_lm.h"
#include "model/latent_cache.h"
#include "model/packed_ffn.h"

namespace grpo::rollout {

// One row of a paged batch: the sequence's pages, how many positions it already holds, and the
// tokens to append now.
struct PagedRow {
  const std::vector<int64_t>* pages = nullptr;
  int64_t length = 0;
  std::vector<int64_t> tokens;
};

// The index tensors of one forward, built once and shared by every layer.
struct PagedBatch {
  torch::Tensor tokens;       // [B, S] int64 (padding: token 0)
  torch::Tensor positions;    // [B, S] int64
  torch::Tensor write_slots;  // [B·S] int64 (padding: the scratch slot 0)
  torch::Tensor read_slots;   // [B·T] int64, T = max_b(len_b + S_b) (padding: slot 0, masked)
  torch::Tensor allowed;      // [B, S, T] bool
  int64_t rows = 0, s = 0, t = 0;
};

PagedBatch make_paged_batch(const model::PagedLatentCache& cache, const std::vector<PagedRow>& rows);

class PagedModel {
 public:
  explicit PagedModel(model::CausalLM lm) : lm_(std::move(lm)) {}

  // Re-reads the FFN weights into their decode layout (model/packed_ffn.h); call after the
  // weights change. Until the first call the layers' own weights are used.
  void repack();

  // Main model: writes the latents of every main layer (cache layers 0..L-1) and returns logits
  // [B, S, V] and the final hidden state [B, S, hidden] (the MTP input). `tap` (null: off)
  // records the named intermediates (model/activation_tap.h).
  model::LMOutput forward(model::PagedLatentCache& cache, const PagedBatch& batch, model::ActivationTap* tap = nullptr);

  // MTP module 1 (cache layer L): at position i, from the main hidden h_i [B, S, hidden] and the
  // next token t_{i+1} (batch.tokens), the logits for t_{i+2} [B, S, V]; as CausalLM::forward_mtp.
  torch::Tensor forward_mtp(model::PagedLatentCache& cache, const PagedBatch& batch, const torch::Tensor& h_main);

  model::CausalLM& lm() { return lm_; }

 private:
  model::LatentStep step(model::LatentStore& store, const PagedBatch& batch, model::ActivationTap* tap) const;
  model::CausalLM lm_;
  std::vector<model::PackedFFN> packed_;  // per decoder layer (main, then MTP); empty: not packed
};

}  // namespace grpo::rollout
