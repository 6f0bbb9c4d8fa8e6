// The `model` of a byte-level BPE tokenizer.json: vocab, ranked merges, and the merge loop of
// Hugging Face `tokenizers` (a min-heap on (rank, position), so one word costs O(n log n)).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace grpo::tok {

class BpeModel {
 public:
  // Parses tokenizer.json's `model` object (type "BPE"); merges may be "a b" strings or
  // ["a", "b"] pairs. `file` names the source in error messages.
  static BpeModel from_json(const nlohmann::json& model, const std::string& file);

  // Appends the ids of one pre-token given as raw bytes (the ByteLevel map is applied here).
  void encode_word(std::string_view bytes, std::vector<int32_t>& out) const;

  // The vocab as written in the file (byte-level strings) -> id.
  const std::unordered_map<std::string, int32_t>& vocab() const { return vocab_; }
  size_t merge_count() const { return merges_.size(); }

 private:
  struct MergeTarget {
    int32_t rank;
    int32_t id;
  };
  static uint64_t pair_key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }
  std::vector<int32_t> merge_word(std::string_view bytes) const;

  std::unordered_map<std::string, int32_t> vocab_;
  std::array<int32_t, 256> byte_ids_{};  // id of each single byte's character, -1 if absent
  std::unordered_map<uint64_t, MergeTarget> merges_;
  std::optional<int32_t> unk_id_;
  bool fuse_unk_ = false;
  bool ignore_merges_ = false;

  // Word -> ids, shared by the threads encoding with one tokenizer.
  struct Cache;
  std::shared_ptr<Cache> cache_;
};

}  // namespace grpo::tok
