// The model's FP8 layers on CUDA tensors (model/fp8_ops.cpp dispatches to kernels/cuda/) against
// the same layers on the CPU (label gpu; skipped without a CUDA device).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "kernels/device.h"
#include "model/fp8_linear.h"
#include "model/fp8_ops.h"
#include "model/fp8_training.h"

namespace grpo::model {
namespace {

#define SKIP_WITHOUT_CUDA()                                              \
  if (!kernels::cuda_device_available() || !torch::cuda::is_available()) \
  GTEST_SKIP() << kernels::cuda_device_description()

double rel_err(const torch::Tensor& got, const torch::Tensor& want) {
  auto g = got.cpu().to(torch::kFloat64), w = want.cpu().to(torch::kFloat64);
  return ((g - w).norm() / w.norm()).item<double>();
}

TEST(Fp8LinearCuda, QuantizersMatchCpuBitForBit) {
  SKIP_WITHOUT_CUDA();
  torch::manual_seed(1);
  auto x = torch::randn({37, 300}) * 3;
  Fp8Matrix a_cpu = fp8_quantize_act(x), a_gpu = fp8_quantize_act(x.cuda());
  EXPECT_TRUE(torch::equal(a_cpu.q.view(torch::kUInt8), a_gpu.q.cpu().view(torch::kUInt8)));
  EXPECT_TRUE(torch::equal(a_cpu.scale, a_gpu.scale.cpu()));
  Fp8Matrix w_cpu = fp8_quantize_weight(x), w_gpu = fp8_quantize_weight(x.cuda());
  EXPECT_TRUE(torch::equal(w_cpu.q.view(torch::kUInt8), w_gpu.q.cpu().view(torch::kUInt8)));
  EXPECT_TRUE(torch::equal(w_cpu.scale, w_gpu.scale.cpu()));
}

TEST(Fp8LinearCuda, InferenceMatchesCpu) {
  SKIP_WITHOUT_CUDA();
  torch::manual_seed(2);
  auto x = torch::randn({3, 37, 300});
  Fp8Matrix w = fp8_quantize_weight(torch::randn({200, 300}) * 0.05);
  auto y_cpu = fp8_linear_inference(x, w);
  auto y_gpu = fp8_linear_inference(x.cuda(), {w.q.cuda(), w.scale.cuda()});
  ASSERT_TRUE(y_gpu.is_cuda());
  // Same codes and scales; ragged N/K take the portable kernel (FP32 FMA), so only summation
  // order differs: ~1e-7 per add, 1e-5 as in test_fp8_cuda.cpp.
  EXPECT_LE(rel_err(y_gpu, y_cpu), 1e-5);
}

TEST(Fp8LinearCuda, TrainingGemmsMatchCpu) {
  SKIP_WITHOUT_CUDA();
  torch::manual_seed(3);
  auto x = torch::randn({2, 70, 300}), w = torch::randn({200, 300}) * 0.05, dy = torch::randn({2, 70, 200});
  auto run = [&](torch::Device dev) {
    auto xd = x.to(dev).requires_grad_(), wd = w.to(dev).requires_grad_();
    auto y = fp8_training_linear(xd, wd);
    auto g = torch::autograd::grad({y}, {xd, wd}, {dy.to(dev)});
    return std::vector<torch::Tensor>{y, g[0], g[1]};
  };
  auto c = run(torch::kCPU), g = run(torch::kCUDA);
  for (int i = 0; i < 3; ++i) EXPECT_LE(rel_err(g[i], c[i]), 1e-5) << "output " << i;
}

}  // namespace
}  // namespace grpo::model
