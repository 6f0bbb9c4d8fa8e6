// FP8 weight publication (model/fp8_publish.h): size and round trip.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>

#include "model/checkpoint.h"
#include "model/config.h"
#include "model/fp8_linear.h"
#include "model/fp8_publish.h"
#include "model/weights.h"
#include "model_test_util.h"

namespace grpo::model {
namespace {

TEST(Fp8Publish, Fp8HalvesTheLinearBytesAndRoundTrips) {
  torch::NoGradGuard no_grad;
  ModelConfig c = load_config(std::string(GRPO_SOURCE_DIR) + "/model/configs/tiny.json");
  CausalLM master(c);
  init_weights(master, 21);
  PublishedWeights bf16 = publish_weights(master, PublishFormat::kBf16);
  PublishedWeights fp8 = publish_weights(master, PublishFormat::kFp8);

  // Expected sizes from the tensors themselves: FP8 linears 1 byte/weight + 4 bytes per block.
  uint64_t linear_elems = 0, other_bytes_bf16 = 0, blocks = 0;
  for (const auto& t : bf16.tensors) {
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    if (is_fp8_weight_name(t.name)) {
      linear_elems += n;
      blocks += ((t.shape[0] + 127) / 128) * ((t.shape[1] + 127) / 128);
    } else {
      other_bytes_bf16 += t.bytes;
    }
  }
  uint64_t fp8_bytes = 0, bf16_bytes = 0;
  for (const auto& t : fp8.tensors) fp8_bytes += t.bytes + t.scale_bytes;
  for (const auto& t : bf16.tensors) bf16_bytes += t.bytes;
  EXPECT_EQ(bf16_bytes, 2 * linear_elems + other_bytes_bf16);
  EXPECT_EQ(fp8_bytes, linear_elems + 4 * blocks + other_bytes_bf16);
  EXPECT_EQ(fp8.scale_bytes(), 4 * blocks);
  std::printf("tiny config publication: BF16 %llu bytes, FP8 %llu bytes (of which scales %llu), ratio %.3f\n",
              static_cast<unsigned long long>(bf16_bytes), static_cast<unsigned long long>(fp8_bytes),
              static_cast<unsigned long long>(fp8.scale_bytes()), double(fp8_bytes) / double(bf16_bytes));

  // Inverse into an FP8 rollout model: the codes arrive bit for bit.
  CausalLM rollout(c);
  quantize_model_fp8(rollout);
  LoadReport report = load_weights(rollout, tensor_source(unpack_published(fp8), "published weights"));
  EXPECT_EQ(report.fp8_kept, count_fp8_linears(rollout));
  auto by_name = [](CausalLM& lm) {
    std::map<std::string, Fp8Matrix> m;
    for (auto& [name, linear] : fp8_linears(lm))
      m[name] = is_fp8(*linear) ? fp8_weight(*linear) : fp8_quantize_weight(linear->weight);
    return m;
  };
  auto want = by_name(master), got = by_name(rollout);
  for (auto& [name, m] : want) {
    EXPECT_TRUE(torch::equal(m.q.view(torch::kUInt8), got.at(name).q.view(torch::kUInt8))) << name;
    EXPECT_TRUE(torch::equal(m.scale, got.at(name).scale)) << name;
  }
  // Into an FP32 model: dequantized, so the FP8 rollout model and this one share weights exactly.
  CausalLM dense(c);
  load_weights(dense, tensor_source(unpack_published(fp8), "published weights"));
  const auto& [name0, m0] = *want.begin();
  for (auto& [name, linear] : fp8_linears(dense))
    if (name == name0) EXPECT_TRUE(torch::equal(linear->weight, fp8_dequantize_weight(m0)));
  // Unquantized tensors travel as BF16 in both formats.
  EXPECT_TRUE(torch::equal(dense->lm_head->weight, master->lm_head->weight.to(torch::kBFloat16).to(torch::kFloat32)));
}

TEST(Fp8Publish, UnpackRejectsATruncatedBuffer) {
  ModelConfig c = load_config(std::string(GRPO_SOURCE_DIR) + "/model/configs/tiny.json");
  CausalLM lm(c);
  PublishedWeights p = publish_weights(lm, PublishFormat::kFp8);
  p.data.resize(p.data.size() / 2);
  EXPECT_THROW(unpack_published(p), std::exception);
}

}  // namespace
}  // namespace grpo::model
