#include "model/rms_norm.h"

namespace grpo::model {

RMSNormImpl::RMSNormImpl(int64_t dim, double eps) : eps(eps) {
  weight = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  // As transformers: normalise in FP32, cast back to the input dtype, then scale by w.
  auto xf = x.to(compute_dtype(x));
  auto normed = xf * torch::rsqrt(xf.pow(2).mean(/*dim=*/-1, /*keepdim=*/true) + eps);
  return weight * normed.to(x.scalar_type());
}

}  // namespace grpo::model
