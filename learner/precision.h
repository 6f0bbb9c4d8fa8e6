// Mixed-precision training compute (model.precision = "bf16"): FP32 master weights, gradients
// and optimizer state, matrix multiplications in BF16, everything else in FP32.
//
// Done with LibTorch autocast rather than by casting the model: while a PrecisionScope is alive,
// linear/matmul/bmm (and the einsums of attention, which lower to bmm) cast their inputs to BF16
// and return BF16; the parameters themselves stay FP32, so AdamW updates FP32 masters and each
// weight's gradient arrives in FP32 through the cast's backward. The model already runs its
// norms, softmaxes, router affinities and MoE accumulation in FP32 whatever the activation dtype
// (model/rms_norm.h compute_dtype), and the learner's log-softmax casts logits to FP32
// (learner/token_logprobs.h), so the loss is FP32. A BF16 matmul output that meets an FP32
// tensor (residual stream, norm weights) promotes back to FP32, so the residual stream stays FP32.
//
// Wrap the forward and loss only, not backward() (as torch.autocast): backward ops run in the
// dtype their forward used.
#pragma once

#include <c10/core/ScalarType.h>

#include <string>

namespace grpo::learner {

enum class Precision {
  kFp32,  // everything FP32
  kBf16,  // matmuls BF16 (autocast), the rest FP32
};

// "fp32" | "bf16". ("fp8" is model/fp8_training.h's, turned on per layer by the caller.)
Precision parse_precision(const std::string& name);
std::string to_string(Precision precision);

// RAII: BF16 autocast on CPU and CUDA for this thread while alive when `precision` is kBf16;
// nothing for kFp32. Restores the previous state and, when the outermost scope closes, drops
// autocast's cache of BF16 weight copies (they go stale at the next optimizer step).
class PrecisionScope {
 public:
  explicit PrecisionScope(Precision precision);
  ~PrecisionScope();
  PrecisionScope(const PrecisionScope&) = delete;
  PrecisionScope& operator=(const PrecisionScope&) = delete;

 private:
  bool active_ = false;
  bool prev_cpu_ = false, prev_cuda_ = false;
  c10::ScalarType prev_cpu_dtype_{}, prev_cuda_dtype_{};
};

}  // namespace grpo::learner
