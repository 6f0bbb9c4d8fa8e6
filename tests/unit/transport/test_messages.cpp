#include <gtest/gtest.h>

#include <random>

#include "actor/transport/messages.h"

using namespace grpo::actor;
using nlohmann::json;

namespace {

TrajectoryGroup sample_group() {
  TrajectoryGroup g;
  g.batch_id = 7;
  g.prompt = Prompt{42, {1, 2, 3}, json{{"answer", "12"}, {"difficulty", 3}}};
  g.completions.push_back(Completion{"five six", {5, 6}, {-0.5f, -1.25f}, "eos", 3, 3});
  g.completions.push_back(Completion{"", {}, {}, "length", 3, 4});
  g.completions.push_back(Completion{"中文 ✓", {9, -1, 2147483647}, {0.0f, -3.0f, -1e-8f}, "stop", 4, 4});
  return g;
}

std::string error_of(const Frames& frames) {
  try {
    decode(frames);
  } catch (const DecodeError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Messages, PromptBatchRoundTrips) {
  PromptBatch b{3,
                9,
                8,
                json{{"temperature", 1.0}, {"seed", 5}},
                {Prompt{1, {10, 11}, json{{"answer", "4"}}}, Prompt{2, {}, json::object()}}};
  auto out = std::get<PromptBatch>(decode(encode(b)));
  EXPECT_EQ(out.batch_id, 3u);
  EXPECT_EQ(out.weight_version, 9u);
  EXPECT_EQ(out.group_size, 8u);
  EXPECT_EQ(out.sampling, b.sampling);
  ASSERT_EQ(out.prompts.size(), 2u);
  EXPECT_EQ(out.prompts[0].tokens, (std::vector<int32_t>{10, 11}));
  EXPECT_EQ(out.prompts[0].row["answer"], "4");
  EXPECT_TRUE(out.prompts[1].tokens.empty());
}

TEST(Messages, TrajectoryGroupKeepsTokensLogprobsAndVersionsExactly) {
  auto g = sample_group();
  Frames frames = encode(g);
  EXPECT_EQ(frames.size(), 1u + 1u + 2u * 3u);  // header, prompt tokens, (tokens, logprobs) per completion
  auto out = std::get<TrajectoryGroup>(decode(frames));
  ASSERT_EQ(out.completions.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(out.completions[i].text, g.completions[i].text);
    EXPECT_EQ(out.completions[i].tokens, g.completions[i].tokens);
    EXPECT_EQ(out.completions[i].logprobs, g.completions[i].logprobs);  // bit-exact floats
    EXPECT_EQ(out.completions[i].finish_reason, g.completions[i].finish_reason);
    EXPECT_EQ(out.completions[i].version_start, g.completions[i].version_start);
    EXPECT_EQ(out.completions[i].version_end, g.completions[i].version_end);
  }
  EXPECT_EQ(out.prompt.row, g.prompt.row);
}

TEST(Messages, ScoredGroupKeepsNilRewardsMetricsAndFailures) {
  ScoredGroup s{sample_group(), {}, "abc123"};
  s.scores.push_back(SampleScore{1.0, {{"format", 1.0}}, ""});
  s.scores.push_back(SampleScore{std::nullopt, {}, ""});
  s.scores.push_back(SampleScore{0.0, {}, "reward.lua:3: attempt to index a nil value"});
  auto out = std::get<ScoredGroup>(decode(encode(s)));
  ASSERT_EQ(out.scores.size(), 3u);
  EXPECT_EQ(out.scores[0].reward, 1.0);
  EXPECT_EQ(out.scores[0].metrics.at("format"), 1.0);
  EXPECT_FALSE(out.scores[1].reward.has_value());
  EXPECT_EQ(out.scores[2].failure, s.scores[2].failure);
  EXPECT_EQ(out.reward_script_sha256, "abc123");
}

TEST(Messages, SmallMessagesRoundTrip) {
  auto w = std::get<WeightAnnouncement>(decode(encode(WeightAnnouncement{5, "fp8", 1u << 30, "nccl"})));
  EXPECT_EQ(w.version, 5u);
  EXPECT_EQ(w.format, "fp8");
  EXPECT_EQ(w.total_bytes, 1u << 30);
  auto h = std::get<Heartbeat>(decode(encode(Heartbeat{"rollout", 3, 77})));
  EXPECT_EQ(h.role, "rollout");
  EXPECT_EQ(h.rank, 3u);
  EXPECT_EQ(std::get<Shutdown>(decode(encode(Shutdown{"done"}))).reason, "done");
}

TEST(Messages, MalformedMessagesAreErrorsThatSayWhat) {
  Frames good = encode(sample_group());
  EXPECT_NE(error_of({}).find("no frames"), std::string::npos);
  Frames f = good;
  f[0][0] = 'X';
  EXPECT_NE(error_of(f).find("GRPO"), std::string::npos);
  f = good;
  f[0][4] = 99;
  EXPECT_NE(error_of(f).find("wire version 99"), std::string::npos);
  f = good;
  f[0][6] = 42;
  EXPECT_NE(error_of(f).find("unknown message type 42"), std::string::npos);
  f = good;
  f.pop_back();
  EXPECT_NE(error_of(f).find("missing"), std::string::npos);
  f = good;
  f.push_back("extra");
  EXPECT_NE(error_of(f).find("extra frame"), std::string::npos);
  f = good;
  f[2].pop_back();  // a token frame one byte short
  EXPECT_NE(error_of(f).find("bytes, expected"), std::string::npos);
  f = good;
  f[0].resize(10);  // truncated CBOR
  EXPECT_NE(error_of(f).find("CBOR"), std::string::npos);
}

TEST(Messages, WrongFieldTypesAreRejected) {
  // Hand-built metadata with the wrong type for a field.
  auto frames_with = [](MessageType type, const json& meta) {
    std::string header = "GRPO";
    header.push_back(static_cast<char>(kWireVersion & 0xff));
    header.push_back(static_cast<char>(kWireVersion >> 8));
    header.push_back(static_cast<char>(type));
    auto cbor = json::to_cbor(meta);
    header.append(reinterpret_cast<const char*>(cbor.data()), cbor.size());
    return Frames{header};
  };
  EXPECT_NE(
      error_of(frames_with(MessageType::kHeartbeat, json{{"role", 1}, {"rank", 0}, {"seq", 0}})).find("heartbeat.role"),
      std::string::npos);
  EXPECT_NE(error_of(frames_with(MessageType::kHeartbeat, json{{"role", "x"}, {"rank", -1}, {"seq", 0}}))
                .find("heartbeat.rank"),
            std::string::npos);
  EXPECT_NE(error_of(frames_with(MessageType::kShutdown, json::array())).find("not a map"), std::string::npos);
  // A huge token count with no data must not allocate: it fails on the frame size check.
  json meta = {{"batch", 1},
               {"version", 1},
               {"group_size", 1},
               {"sampling", json::object()},
               {"prompts", json::array({json{{"id", 1}, {"n", uint64_t(1) << 62}, {"row", json::object()}}})}};
  Frames f = frames_with(MessageType::kPromptBatch, meta);
  f.push_back("1234");
  EXPECT_NE(error_of(f).find("expected"), std::string::npos);
  // Deep nesting is refused instead of recursing without bound.
  json deep = json::array();
  for (int i = 0; i < 200; ++i) deep = json::array({deep});
  EXPECT_NE(error_of(frames_with(MessageType::kShutdown, json{{"reason", deep}})).find("nested"), std::string::npos);
}

TEST(Messages, RandomCorruptionNeverCrashes) {
  // Flip bytes and cut frames at random: every outcome is a value or a DecodeError.
  Frames good =
      encode(ScoredGroup{sample_group(), {SampleScore{1.0, {}, ""}, SampleScore{}, SampleScore{0.5, {}, ""}}, "h"});
  std::mt19937 rng(1);
  int errors = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    Frames f = good;
    auto& frame = f[rng() % f.size()];
    if (!frame.empty()) {
      if (rng() % 3 == 0)
        frame.resize(rng() % frame.size());
      else
        frame[rng() % frame.size()] = static_cast<char>(rng());
    }
    try {
      decode(f);
    } catch (const DecodeError&) {
      ++errors;
    }
  }
  EXPECT_GT(errors, 0);
}
