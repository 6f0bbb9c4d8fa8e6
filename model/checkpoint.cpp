#include "model/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>

#include <filesystem>

#include "common/atomic_file.h"
#include "model/config.h"
#include "model/fp8_linear.h"
#include "model/safetensors.h"

namespace grpo::model {

CausalLM load_checkpoint(const std::string& dir, torch::ScalarType dtype, LoadReport* report) {
  ModelConfig config = load_config(dir);
  CausalLM lm(config);
  if (dtype != torch::kFloat32) lm->to_dtype(dtype);
  auto ckpt = std::make_shared<safetensors::Checkpoint>(safetensors::Checkpoint::open(dir));
  TensorSource src;
  src.description = dir;
  src.names = ckpt->names();
  src.get = [ckpt](const std::string& name) { return ckpt->tensor(name); };
  LoadReport r = load_weights(lm, src);
  if (report) *report = r;
  return lm;
}

CausalLM load_checkpoint_fp8(const std::string& dir, torch::ScalarType dtype, LoadReport* report) {
  ModelConfig config = load_config(dir);
  CausalLM lm(config);
  quantize_model_fp8(lm);  // sets up the FP8 layout; load_weights overwrites every value
  if (dtype != torch::kFloat32) cast_unquantized(lm, dtype);
  auto ckpt = std::make_shared<safetensors::Checkpoint>(safetensors::Checkpoint::open(dir));
  TensorSource src;
  src.description = dir;
  src.names = ckpt->names();
  src.get = [ckpt](const std::string& name) { return ckpt->tensor(name); };
  LoadReport r = load_weights(lm, src);
  if (report) *report = r;
  return lm;
}

void save_checkpoint(CausalLM& lm, const std::string& dir, size_t max_shard_bytes) {
  std::filesystem::create_directories(dir);
  ModelConfig c = lm->config;
  // A quantization_config makes transformers (and any FP8 loader) expect F8_E4M3 tensors with
  // scales, so it is written exactly when the model has FP8 layers.
  if (count_fp8_linears(lm) > 0)
    c.quantization_config = QuantizationConfig{};  // DeepSeek's: dynamic, e4m3, fp8, [128, 128]
  else
    c.quantization_config.reset();
  save_config(c, (std::filesystem::path(dir) / "config.json").string());
  nlohmann::json gen = {{"bos_token_id", c.bos_token_id ? nlohmann::json(*c.bos_token_id) : nlohmann::json(nullptr)},
                        {"eos_token_id", c.eos_token_ids.size() == 1 ? nlohmann::json(c.eos_token_ids[0])
                                                                     : nlohmann::json(c.eos_token_ids)}};
  write_file_atomic((std::filesystem::path(dir) / "generation_config.json").string(), gen.dump(2) + "\n");
  safetensors::save_folder(dir, checkpoint_tensors(lm), {{"format", "pt"}}, max_shard_bytes);
}

void init_weights(CausalLM& lm, uint64_t seed) {
  torch::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const double std = lm->config.initializer_range;
  // named_parameters() has a fixed order, so the same seed gives the same weights.
  for (auto& p : lm->named_parameters(/*recurse=*/true)) {
    const std::string& name = p.key();
    torch::Tensor t = p.value();
    const bool is_norm = name.size() > 7 && t.dim() == 1;  // every 1-D parameter is an RMSNorm weight
    if (is_norm) {
      t.fill_(1.0);
    } else {
      auto v = torch::empty(t.sizes(), torch::kFloat32);
      v.normal_(0.0, std, gen);
      t.copy_(v);
    }
  }
  for (auto& b : lm->named_buffers(/*recurse=*/true)) b.value().zero_();  // e_score_correction_bias
}

}  // namespace grpo::model
