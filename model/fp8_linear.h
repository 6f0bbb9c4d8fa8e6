// FP8 linear layers as DeepSeek-V3 runs them (spec §6.1, §6.3): a torch::nn::Linear whose
// `weight` parameter holds float8_e4m3fn [out, in] and which carries a buffer
// `weight_scale_inv` [ceil(out/128), ceil(in/128)] FP32, so the module's tensors ARE the
// checkpoint's tensors under their Hugging Face names (`...q_a_proj.weight` F8_E4M3 +
// `...q_a_proj.weight_scale_inv` F32). The forward quantizes its input on the fly in 1x128 tiles
// (dynamic activation scheme) and runs the block-scaled FP8 GEMM (CPU fast path or CUDA).
//
// Which linears are FP8: every projection of the attention and of the FFNs (dense, shared and
// routed experts), in the main layers and the MTP layers. Embeddings, norms, the MoE router, the
// MTP eh_proj and lm_head stay in higher precision, as in DeepSeek's checkpoints.
//
// The layers call linear_forward(), which also dispatches to FP8 training
// (model/fp8_training.h) when that is enabled for the layer, and to the plain Linear otherwise.
#pragma once

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "model/causal_lm.h"
#include "model/fp8_ops.h"

namespace grpo::model {

inline constexpr const char* kFp8ScaleBuffer = "weight_scale_inv";

// True when the Hugging Face tensor name is a weight DeepSeek stores in FP8 (see above).
bool is_fp8_weight_name(const std::string& hf_name);

// The model's linears that DeepSeek quantizes, with their Hugging Face weight names.
std::vector<std::pair<std::string, torch::nn::Linear>> fp8_linears(CausalLM& lm);

// Whether this Linear currently holds an FP8 weight.
bool is_fp8(const torch::nn::LinearImpl& linear);
// Its weight and scale (the module must be FP8).
Fp8Matrix fp8_weight(const torch::nn::LinearImpl& linear);

// Quantizes the layer's weight in place (128x128 tiles): weight becomes float8_e4m3fn with no
// gradient and the weight_scale_inv buffer is registered. A no-op when it is already FP8.
void quantize_linear_fp8(torch::nn::LinearImpl& linear);
// Same for every layer of fp8_linears(lm); returns how many were converted. After this, do not
// call lm->to(dtype) (it would cast the FP8 weights); use cast_unquantized() for the rest.
int64_t quantize_model_fp8(CausalLM& lm);
// Casts every floating parameter and buffer except the FP8 weights, their scales and the
// routing biases (which stay FP32, spec §4.2) to `dtype`.
void cast_unquantized(CausalLM& lm, torch::ScalarType dtype);
// Number of FP8 linears in the model.
int64_t count_fp8_linears(CausalLM& lm);

// y = x Wᵀ for the layers: FP8 inference (input quantized 1x128, FP8 GEMM, output in x's dtype)
// when the weight is FP8; FP8 training GEMMs when enabled for the layer; the plain Linear else.
torch::Tensor linear_forward(torch::nn::Linear& linear, const torch::Tensor& x);

// The weight as a dense tensor: dequantized FP32 for an FP8 layer, the parameter itself else
// (the absorbed-attention path multiplies by kv_b_proj's weight directly, as DeepSeek's does).
torch::Tensor dense_weight(torch::nn::Linear& linear);

// FP8 inference forward on its own: x [..., in] -> [..., out] in x's dtype.
torch::Tensor fp8_linear_inference(const torch::Tensor& x, const Fp8Matrix& weight);

}  // namespace grpo::model
