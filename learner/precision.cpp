#include "learner/precision.h"

#include <ATen/autocast_mode.h>

#include "common/error.h"

namespace grpo::learner {

Precision parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::kFp32;
  if (name == "bf16") return Precision::kBf16;
  throw Error("unknown training precision '" + name + "' (allowed: fp32, bf16)");
}

std::string to_string(Precision precision) { return precision == Precision::kBf16 ? "bf16" : "fp32"; }

PrecisionScope::PrecisionScope(Precision precision) : active_(precision == Precision::kBf16) {
  if (!active_) return;
  prev_cpu_ = at::autocast::is_autocast_enabled(at::kCPU);
  prev_cuda_ = at::autocast::is_autocast_enabled(at::kCUDA);
  prev_cpu_dtype_ = at::autocast::get_autocast_dtype(at::kCPU);
  prev_cuda_dtype_ = at::autocast::get_autocast_dtype(at::kCUDA);
  at::autocast::set_autocast_dtype(at::kCPU, at::kBFloat16);
  at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
  at::autocast::set_autocast_enabled(at::kCPU, true);
  at::autocast::set_autocast_enabled(at::kCUDA, true);
  at::autocast::increment_nesting();
}

PrecisionScope::~PrecisionScope() {
  if (!active_) return;
  // As torch.autocast.__exit__: the cache of casted weights lives as long as the outermost scope.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  at::autocast::set_autocast_enabled(at::kCPU, prev_cpu_);
  at::autocast::set_autocast_enabled(at::kCUDA, prev_cuda_);
  at::autocast::set_autocast_dtype(at::kCPU, prev_cpu_dtype_);
  at::autocast::set_autocast_dtype(at::kCUDA, prev_cuda_dtype_);
}

}  // namespace grpo::learner
