// The torch side of weight publication (model/weight_blob.h): a rollout model loaded from a blob
// that crossed a WeightPublisher/WeightSubscriber holds exactly the learner's weights (fp32) or
// exactly the learner's own quantization of them (bf16, fp8), compared by weights_sha256.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cmath>

#include "actor/weights/weight_sync.h"
#include "common/sha256.h"
#include "model/checkpoint.h"
#include "model/config.h"
#include "model/fp8_linear.h"
#include "model/weight_blob.h"
#include "model/weights.h"

namespace grpo::model {
namespace {

using namespace std::chrono_literals;

ModelConfig tiny() { return load_config(std::string(GRPO_SOURCE_DIR) + "/model/configs/tiny.json"); }

// The blob after a trip through the ZeroMQ publisher (several buckets), as a rollout worker gets it.
grpo::WeightBlob through_publisher(const grpo::WeightBlob& blob, const std::string& address) {
  actor::WeightSyncOptions o;
  o.bucket_bytes = 256 << 10;
  actor::WeightPublisher pub(address, o);
  actor::WeightSubscriber sub(pub.endpoint(), o);
  pub.publish(blob);
  auto got = sub.fetch_newer(0, 30s);
  if (!got) throw Error("no weights arrived over " + address);
  return std::move(*got);
}

TEST(WeightBlob, Fp32RolloutModelEqualsTheLearnerBitForBit) {
  torch::NoGradGuard no_grad;
  CausalLM learner(tiny()), rollout(tiny());
  init_weights(learner, 21);
  init_weights(rollout, 22);
  ASSERT_NE(weights_sha256(learner), weights_sha256(rollout));
  const grpo::WeightBlob blob = publish_blob(learner, PublishFormat::kFp32, 4);
  EXPECT_EQ(blob.format, "fp32");
  EXPECT_EQ(blob.version, 4u);
  EXPECT_EQ(blob.sha256, grpo::sha256_hex(blob.data.data(), blob.data.size()));
  load_blob(rollout, through_publisher(blob, "inproc://weight-blob-fp32"));
  EXPECT_EQ(weights_sha256(rollout), weights_sha256(learner));
}

// bf16 and fp8: every rollout worker holds the same bits, equal to the learner's own quantization
// of its weights (a model loaded from the learner's blob locally, no transport).
TEST(WeightBlob, Bf16AndFp8RolloutModelsEqualTheLearnersQuantization) {
  torch::NoGradGuard no_grad;
  CausalLM learner(tiny());
  init_weights(learner, 41);
  for (auto format : {PublishFormat::kBf16, PublishFormat::kFp8}) {
    const grpo::WeightBlob blob = publish_blob(learner, format, 2);
    CausalLM local(tiny()), over_ipc(tiny()), over_tcp(tiny());
    if (format == PublishFormat::kFp8) {
      for (CausalLM* m : {&local, &over_ipc, &over_tcp}) quantize_model_fp8(*m);
    }
    load_blob(local, blob);
    load_blob(over_ipc, through_publisher(blob, "ipc:///tmp/grpo-weight-blob-test-" + std::to_string(::getpid())));
    load_blob(over_tcp, through_publisher(blob, "tcp://127.0.0.1:*"));
    const std::string want = weights_sha256(local);
    EXPECT_EQ(weights_sha256(over_ipc), want) << publish_format_name(format);
    EXPECT_EQ(weights_sha256(over_tcp), want) << publish_format_name(format);
    if (format == PublishFormat::kFp8) {
      // The FP8 codes are the learner's quantization, code for code.
      auto learner_linears = fp8_linears(learner);
      auto rollout_linears = fp8_linears(over_tcp);
      ASSERT_EQ(learner_linears.size(), rollout_linears.size());
      for (size_t i = 0; i < learner_linears.size(); ++i) {
        const Fp8Matrix want_m = fp8_quantize_weight(learner_linears[i].second->weight);
        const Fp8Matrix got_m = fp8_weight(*rollout_linears[i].second);
        EXPECT_TRUE(torch::equal(want_m.q.view(torch::kUInt8), got_m.q.view(torch::kUInt8)))
            << learner_linears[i].first;
        EXPECT_TRUE(torch::equal(want_m.scale, got_m.scale)) << learner_linears[i].first;
      }
    } else {
      EXPECT_TRUE(
          torch::equal(over_tcp->lm_head->weight, learner->lm_head->weight.to(torch::kBFloat16).to(torch::kFloat32)));
    }
  }
}

TEST(WeightBlob, HashSeesAOneUlpChange) {
  torch::NoGradGuard no_grad;
  CausalLM lm(tiny());
  init_weights(lm, 5);
  const std::string before = weights_sha256(lm);
  auto w = lm->lm_head->weight;
  w.view(-1)[17] = std::nextafter(w.view(-1)[17].item<float>(), 1.0f);
  EXPECT_NE(weights_sha256(lm), before);
}

TEST(WeightBlob, BadTablesAreErrorsNamingTheTensor) {
  CausalLM lm(tiny());
  grpo::WeightBlob blob = publish_blob(lm, PublishFormat::kBf16, 3);
  grpo::WeightBlob past_end = blob;
  past_end.table[1]["offset"] = blob.data.size();
  try {
    from_blob(past_end);
    FAIL() << "accepted a tensor past the end of the buffer";
  } catch (const grpo::WeightBlobError& e) {
    EXPECT_NE(std::string(e.what()).find(blob.table[1]["name"].get<std::string>()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("version 3"), std::string::npos) << e.what();
  }
  grpo::WeightBlob bad_dtype = blob;
  bad_dtype.table[0]["dtype"] = "F64";
  EXPECT_THROW(from_blob(bad_dtype), grpo::WeightBlobError);
  grpo::WeightBlob no_shape = blob;
  no_shape.table[0].erase("shape");
  EXPECT_THROW(from_blob(no_shape), grpo::WeightBlobError);
  EXPECT_THROW(parse_publish_format("fp16"), Error);
  EXPECT_EQ(parse_publish_format("fp8"), PublishFormat::kFp8);
}

}  // namespace
}  // namespace grpo::model
