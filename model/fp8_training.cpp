#include "model/fp8_training.h"

#include <cmath>
#include <map>
#include <memory>
#include <mutex>

#include "common/error.h"
#include "model/fp8_linear.h"
#include "model/fp8_ops.h"

namespace grpo::model {
namespace {

// Layers with FP8 training on. A weak reference per layer, so a freed module whose address is
// reused by a new one never inherits the flag.
struct Registry {
  std::mutex mu;
  std::map<const torch::nn::Module*, std::weak_ptr<torch::nn::Module>> layers;
};
Registry& registry() {
  static Registry r;
  return r;
}

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class Fp8LinearFunction : public torch::autograd::Function<Fp8LinearFunction> {
 public:
  // x: [M, K], w: [N, K], both FP32.
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& w) {
    Fp8Matrix xq = fp8_quantize_act(x);
    Fp8Matrix wq = fp8_quantize_weight(w);
    // Saved for backward: the FP8 weight (reused by Dgrad) and the input, which Wgrad re-tiles
    // 128x1 (the report caches it in FP8 and re-tiles too; we keep the FP32 copy for simplicity).
    ctx->save_for_backward({x, wq.q.view(torch::kUInt8), wq.scale});
    return fp8_gemm(xq, wq);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const torch::Tensor& x = saved[0];
    Fp8Matrix wq{saved[1].view(torch::kFloat8_e4m3fn), saved[2]};
    auto dy = grads[0].to(torch::kFloat32).contiguous();  // [M, N]
    // Gradients are routinely far below the quantizer's amax floor of 1e-4 (spec §6.3, made for
    // activations): a loss averaged over a few hundred tokens already gives |dY| ~ 1e-5 and less,
    // and a tile whose amax sits under the floor is quantized on the floor's coarser grid. So dY
    // is first scaled by a power of two that brings its largest entry into [1, 2) and the results
    // are scaled back: both multiplications are exact in FP32, and the 1x128 tile scales still do
    // the fine-grained work (this is per-tensor loss scaling, computed online).
    const float amax = dy.abs().max().item<float>();
    const double unit = (amax > 0 && std::isfinite(amax)) ? std::exp2(-std::floor(std::log2(amax))) : 1.0;
    if (unit != 1.0) dy = dy * unit;
    torch::Tensor dx, dw;
    if (ctx->needs_input_grad(0)) {
      // Dgrad: dX[M, K] = Σ_n dY[M, n] W[n, K]; the GEMM's "W" operand is Wᵀ [K, N].
      dx = fp8_gemm(fp8_quantize_act(dy), fp8_transpose_weight(wq));
    }
    if (ctx->needs_input_grad(1)) {
      // Wgrad: dW[N, K] = Σ_m dY[m, N] X[m, K], both quantized in tiles of 128 tokens.
      auto dyt = fp8_dequantize_act(fp8_quantize_act(dy.t()));  // [N, M]
      auto xt = fp8_dequantize_act(fp8_quantize_act(x.t()));    // [K, M]
      dw = torch::mm(dyt, xt.t());
    }
    if (unit != 1.0) {
      if (dx.defined()) dx = dx / unit;
      if (dw.defined()) dw = dw / unit;
    }
    return {dx, dw};
  }
};

}  // namespace

torch::Tensor fp8_training_linear(const torch::Tensor& x, const torch::Tensor& weight) {
  GRPO_CHECK(weight.dim() == 2 && x.size(-1) == weight.size(1), "fp8_training_linear: x [..., in], weight [out, in]");
  auto flat = x.reshape({-1, x.size(-1)}).to(torch::kFloat32);
  auto y = Fp8LinearFunction::apply(flat, weight.to(torch::kFloat32));
  auto sizes = x.sizes().vec();
  sizes.back() = weight.size(0);
  return y.view(sizes).to(x.scalar_type());
}

bool fp8_training_enabled(const torch::nn::LinearImpl& linear) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.layers.find(&linear);
  if (it == r.layers.end()) return false;
  auto alive = it->second.lock();
  if (alive.get() == &linear) return true;
  r.layers.erase(it);  // a stale entry for a freed module at the same address
  return false;
}

int64_t enable_fp8_training(CausalLM& lm) {
  Registry& r = registry();
  int64_t n = 0;
  for (auto& [name, linear] : fp8_linears(lm)) {
    if (is_fp8(*linear))
      throw Error("enable_fp8_training: " + name +
                  " holds FP8 weights (an FP8 inference model); training needs FP32 master weights: load "
                  "the checkpoint with the default (dequantizing) loader");
    std::lock_guard<std::mutex> lock(r.mu);
    r.layers[linear.get()] = linear.ptr();
    ++n;
  }
  return n;
}

void disable_fp8_training(CausalLM& lm) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  for (auto& [name, linear] : fp8_linears(lm)) r.layers.erase(linear.get());
}

}  // namespace grpo::model
