// The absorbed-MLA inference cache (spec §3.4, docs/mla_cache.md): per layer only the
// normalised KV latent c_kv and the rotated k_pe of each token, shared by all heads.
// Two forms with the same contents: LatentCache, contiguous [B, T_max] rows (scoring, tests), and
// PagedLatentCache, a pool of fixed-size pages under a byte budget that the rollout engine hands
// out to sequences as they start and takes back as they finish (rollout/batch_engine.h).
#pragma once

#include <torch/torch.h>

#include <vector>

#include "model/config.h"
#include "model/latent_store.h"

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

// A LatentCache as the store of one forward that appends S tokens at slot `start` of every row
// and attends over slots [0, start + S) (CausalLMImpl::forward_cached).
class ContiguousLatentStore : public LatentStore {
 public:
  ContiguousLatentStore(LatentCache& cache, int64_t start, int64_t s_new)
      : cache_(cache), start_(start), s_new_(s_new) {}
  std::pair<torch::Tensor, torch::Tensor> write_and_read(size_t layer, const torch::Tensor& c_kv,
                                                         const torch::Tensor& k_pe) override;

 private:
  LatentCache& cache_;
  int64_t start_, s_new_;
};

// Paged form: per cached layer one pool of slots [num_slots, width]; a sequence owns a list of
// pages (page_size consecutive slots each) and its token at position t lives in slot
// slot_of(pages, t). Slot 0 is a scratch slot that padded writes go to; it is never read as real.
struct PagedLatentCache {
  std::vector<torch::Tensor> kv;  // per cached layer [num_slots, kv_lora_rank]
  std::vector<torch::Tensor> pe;  // per cached layer [num_slots, qk_rope_head_dim]
  int64_t page_size = 16;

  // As many pages as fit in `budget_bytes` (at least one) for `layers` cached layers (the main
  // layers, then any MTP layers that draft), elements in `options`' dtype.
  static PagedLatentCache allocate(const ModelConfig& config, int64_t layers, int64_t budget_bytes, int64_t page_size,
                                   torch::TensorOptions options);

  int64_t num_pages() const { return num_pages_; }
  int64_t pages_free() const { return static_cast<int64_t>(free_.size()); }
  int64_t pages_for(int64_t tokens) const { return (tokens + page_size - 1) / page_size; }
  // (kv_lora_rank + qk_rope_head_dim) × cached layers × element size.
  int64_t bytes_per_token() const;
  int64_t bytes_total() const { return bytes_per_token() * (num_pages_ * page_size + 1); }
  // Pages still held by sequences × page bytes.
  int64_t bytes_in_use() const { return bytes_per_token() * page_size * (num_pages_ - pages_free()); }
  // Takes n free pages; throws when fewer are free (callers check pages_free() first).
  std::vector<int64_t> take(int64_t n);
  void give_back(const std::vector<int64_t>& pages);
  int64_t slot_of(const std::vector<int64_t>& pages, int64_t position) const {
    return 1 + pages[static_cast<size_t>(position / page_size)] * page_size + position % page_size;
  }

 private:
  int64_t num_pages_ = 0;
  std::vector<int64_t> free_;  // a stack: the most recently freed page is reused first
};

}  // namespace grpo::model
