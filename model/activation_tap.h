// Optional recorder of a forward's intermediates under Hugging Face module names
// (`model.layers.3.self_attn.kv_a_proj_with_mqa`: the module whose output it is), so a test can
// hold them against transformers' forward hooks and name the first layer that differs
// (tests/reference/test_model_tap.py). The forwards take it by pointer; null, the default, is off
// and costs one branch per record site: no name is built and nothing is copied.
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace grpo::model {

struct ActivationTap {
  // Names in the order first recorded (forward order); values per name, one per forward that
  // recorded it (a prefill, then each decode step), each [B, S, ...].
  std::vector<std::string> names;
  std::map<std::string, std::vector<torch::Tensor>> values;

  // A copy, detached: the forward may overwrite or keep differentiating through the original.
  void record(const std::string& name, const torch::Tensor& value) {
    auto& v = values[name];
    if (v.empty()) names.push_back(name);
    v.push_back(value.detach().clone());
  }
  // Every forward's record of `name` joined along the sequence dim: prefill + decode steps read as
  // one forward over the whole sequence.
  torch::Tensor joined(const std::string& name) const { return torch::cat(values.at(name), /*dim=*/1); }
};

// The record site: `scope` is the module's path ("model.layers.3.self_attn"), `name` its child.
inline void tap_record(ActivationTap* tap, std::string_view scope, const char* name, const torch::Tensor& value) {
  if (tap) tap->record(std::string(scope) + "." + name, value);
}

}  // namespace grpo::model
