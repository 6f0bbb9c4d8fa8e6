#include "model/fp8_linear.h"

#include <regex>

#include "common/error.h"
#include "model/fp8_training.h"
#include "model/weights.h"

namespace grpo::model {

bool is_fp8_weight_name(const std::string& name) {
  static const std::regex re(
      R"(^model\.layers\.\d+\.(self_attn\.(q_proj|q_a_proj|q_b_proj|kv_a_proj_with_mqa|kv_b_proj|o_proj)|)"
      R"(mlp\.((experts\.\d+|shared_experts)\.)?(gate_proj|up_proj|down_proj))\.weight$)");
  return std::regex_match(name, re);
}

std::vector<std::pair<std::string, torch::nn::Linear>> fp8_linears(CausalLM& lm) {
  std::vector<std::pair<std::string, torch::nn::Linear>> out;
  for (const auto& item : lm->named_modules(/*name_prefix=*/"", /*include_self=*/false)) {
    auto linear = std::dynamic_pointer_cast<torch::nn::LinearImpl>(item.value());
    if (!linear) continue;
    const std::string name = hf_name(lm->config, item.key() + ".weight");
    if (is_fp8_weight_name(name)) out.emplace_back(name, torch::nn::Linear(linear));
  }
  return out;
}

bool is_fp8(const torch::nn::LinearImpl& linear) {
  return linear.weight.defined() && linear.weight.scalar_type() == torch::kFloat8_e4m3fn;
}

Fp8Matrix fp8_weight(const torch::nn::LinearImpl& linear) {
  GRPO_CHECK(is_fp8(linear), "fp8_weight: the layer's weight is not FP8");
  const torch::Tensor* scale = linear.named_buffers(/*recurse=*/false).find(kFp8ScaleBuffer);
  GRPO_CHECK(scale != nullptr, "fp8_weight: FP8 layer without a weight_scale_inv buffer");
  return {linear.weight, *scale};
}

void quantize_linear_fp8(torch::nn::LinearImpl& linear) {
  if (is_fp8(linear)) return;
  torch::NoGradGuard no_grad;
  Fp8Matrix q = fp8_quantize_weight(linear.weight.detach());
  linear.weight.requires_grad_(false);
  linear.weight.set_data(q.q);
  linear.register_buffer(kFp8ScaleBuffer, q.scale);
}

int64_t quantize_model_fp8(CausalLM& lm) {
  int64_t n = 0;
  for (auto& [name, linear] : fp8_linears(lm)) {
    if (is_fp8(*linear)) continue;
    quantize_linear_fp8(*linear);
    ++n;
  }
  return n;
}

int64_t count_fp8_linears(CausalLM& lm) {
  int64_t n = 0;
  for (auto& [name, linear] : fp8_linears(lm)) n += is_fp8(*linear) ? 1 : 0;
  return n;
}

void cast_unquantized(CausalLM& lm, torch::ScalarType dtype) {
  torch::NoGradGuard no_grad;
  for (auto& p : lm->named_parameters(/*recurse=*/true)) {
    torch::Tensor t = p.value();
    if (t.scalar_type() == torch::kFloat8_e4m3fn || !t.is_floating_point()) continue;
    t.set_data(t.to(dtype));
  }
  for (auto& b : lm->named_buffers(/*recurse=*/true)) {
    const std::string& name = b.key();
    const bool keep_fp32 =
        name.find(kFp8ScaleBuffer) != std::string::npos || name.find("e_score_correction_bias") != std::string::npos;
    torch::Tensor t = b.value();
    if (keep_fp32 || !t.is_floating_point()) continue;
    t.set_data(t.to(dtype));
  }
}

torch::Tensor fp8_linear_inference(const torch::Tensor& x, const Fp8Matrix& weight) {
  auto flat = x.reshape({-1, x.size(-1)});
  auto y = fp8_gemm(fp8_quantize_act(flat), weight);
  auto sizes = x.sizes().vec();
  sizes.back() = weight.q.size(0);
  return y.view(sizes).to(x.scalar_type());
}

torch::Tensor linear_forward(torch::nn::Linear& linear, const torch::Tensor& x) {
  if (is_fp8(*linear)) return fp8_linear_inference(x, fp8_weight(*linear));
  if (fp8_training_enabled(*linear)) return fp8_training_linear(x, linear->weight);
  return linear(x);
}

torch::Tensor dense_weight(torch::nn::Linear& linear) {
  if (is_fp8(*linear)) return fp8_dequantize_weight(fp8_weight(*linear));
  return linear->weight;
}

}  // namespace grpo::model
