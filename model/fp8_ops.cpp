#include "model/fp8_ops.h"

#include "common/error.h"
#include "kernels/fp8_gemm.h"
#include "kernels/fp8_quant.h"
#if defined(GRPO_HAVE_CUDA)
#include "kernels/cuda/fp8_cuda.h"
#endif

namespace grpo::model {
namespace {

using kernels::fp8_num_blocks;

torch::Tensor as_f32_2d(const torch::Tensor& x, const char* what) {
  GRPO_CHECK(x.dim() == 2, std::string(what) + ": expected a 2-D tensor");
  return x.to(torch::kFloat32).contiguous();
}

uint8_t* bytes(torch::Tensor& q) { return static_cast<uint8_t*>(q.data_ptr()); }
const uint8_t* bytes(const torch::Tensor& q) { return static_cast<const uint8_t*>(q.data_ptr()); }

// The CUDA kernels run on the legacy default stream (nullptr), which is also LibTorch's
// current stream unless a caller switched streams; we never do.
[[noreturn]] void no_cuda() {
  throw Error("FP8 kernels: tensor is on a CUDA device but this build has no CUDA kernels; rebuild with GRPO_CUDA=ON");
}

int cpu_threads() { return std::max(1, at::get_num_threads()); }

}  // namespace

Fp8Matrix fp8_quantize_weight(const torch::Tensor& w_in) {
  auto w = as_f32_2d(w_in, "fp8_quantize_weight");
  const int64_t rows = w.size(0), cols = w.size(1);
  Fp8Matrix out{torch::empty({rows, cols}, w.options().dtype(torch::kFloat8_e4m3fn)),
                torch::empty({fp8_num_blocks(rows), fp8_num_blocks(cols)}, w.options())};
  if (w.is_cuda()) {
#if defined(GRPO_HAVE_CUDA)
    kernels::fp8_quantize_weight_128x128_cuda(w.data_ptr<float>(), rows, cols, bytes(out.q),
                                              out.scale.data_ptr<float>());
#else
    no_cuda();
#endif
  } else {
    kernels::fp8_quantize_weight_128x128(w.data_ptr<float>(), rows, cols, bytes(out.q), out.scale.data_ptr<float>());
  }
  return out;
}

Fp8Matrix fp8_quantize_act(const torch::Tensor& x_in) {
  auto x = as_f32_2d(x_in, "fp8_quantize_act");
  const int64_t rows = x.size(0), k = x.size(1);
  Fp8Matrix out{torch::empty({rows, k}, x.options().dtype(torch::kFloat8_e4m3fn)),
                torch::empty({rows, fp8_num_blocks(k)}, x.options())};
  if (x.is_cuda()) {
#if defined(GRPO_HAVE_CUDA)
    kernels::fp8_quantize_act_1x128_cuda(x.data_ptr<float>(), rows, k, bytes(out.q), out.scale.data_ptr<float>());
#else
    no_cuda();
#endif
  } else {
    kernels::fp8_quantize_act_1x128(x.data_ptr<float>(), rows, k, bytes(out.q), out.scale.data_ptr<float>());
  }
  return out;
}

torch::Tensor fp8_dequantize_weight(const Fp8Matrix& w) {
  auto q = w.q.contiguous();
  auto s = w.scale.to(torch::kFloat32).contiguous();
  const int64_t rows = q.size(0), cols = q.size(1);
  auto out = torch::empty({rows, cols}, s.options());
  if (q.is_cuda()) {
#if defined(GRPO_HAVE_CUDA)
    kernels::fp8_dequantize_weight_128x128_cuda(bytes(q), s.data_ptr<float>(), rows, cols, out.data_ptr<float>());
#else
    no_cuda();
#endif
  } else {
    kernels::fp8_dequantize_weight_128x128(bytes(q), s.data_ptr<float>(), rows, cols, out.data_ptr<float>());
  }
  return out;
}

torch::Tensor fp8_dequantize_act(const Fp8Matrix& a) {
  auto q = a.q.contiguous();
  auto s = a.scale.to(torch::kFloat32).contiguous();
  const int64_t rows = q.size(0), k = q.size(1);
  auto out = torch::empty({rows, k}, s.options());
  if (q.is_cuda()) {
#if defined(GRPO_HAVE_CUDA)
    kernels::fp8_dequantize_act_1x128_cuda(bytes(q), s.data_ptr<float>(), rows, k, out.data_ptr<float>());
#else
    no_cuda();
#endif
  } else {
    kernels::fp8_dequantize_act_1x128(bytes(q), s.data_ptr<float>(), rows, k, out.data_ptr<float>());
  }
  return out;
}

torch::Tensor fp8_gemm(const Fp8Matrix& a, const Fp8Matrix& w) {
  GRPO_CHECK(a.q.dim() == 2 && w.q.dim() == 2 && a.q.size(1) == w.q.size(1),
             "fp8_gemm: A [m, k] and W [n, k] must share k");
  auto aq = a.q.contiguous(), wq = w.q.contiguous();
  auto as = a.scale.to(torch::kFloat32).contiguous(), ws = w.scale.to(torch::kFloat32).contiguous();
  kernels::Fp8GemmParams p;
  p.m = aq.size(0);
  p.n = wq.size(0);
  p.k = aq.size(1);
  GRPO_CHECK(as.size(0) == p.m && as.size(1) == fp8_num_blocks(p.k),
             "fp8_gemm: activation scales must be [m, ceil(k/128)]");
  GRPO_CHECK(ws.size(0) == fp8_num_blocks(p.n) && ws.size(1) == fp8_num_blocks(p.k),
             "fp8_gemm: weight scales must be [ceil(n/128), ceil(k/128)]");
  auto y = torch::empty({p.m, p.n}, as.options());
  p.a = bytes(aq);
  p.a_scale = as.data_ptr<float>();
  p.w = bytes(wq);
  p.w_scale_inv = ws.data_ptr<float>();
  p.y = y.data_ptr<float>();
  if (p.m == 0 || p.n == 0) return y;
  if (p.k == 0) return y.zero_();
  if (aq.is_cuda()) {
#if defined(GRPO_HAVE_CUDA)
    kernels::fp8_gemm_cuda(p);
#else
    no_cuda();
#endif
  } else {
    kernels::fp8_gemm_cpu(p, cpu_threads());
  }
  return y;
}

Fp8Matrix fp8_transpose_weight(const Fp8Matrix& w) {
  return {w.q.view(torch::kUInt8).t().contiguous().view(torch::kFloat8_e4m3fn), w.scale.t().contiguous()};
}

}  // namespace grpo::model
