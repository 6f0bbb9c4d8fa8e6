// Hugging Face model folders: one file, or shards resolved through model.safetensors.index.json.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "model/safetensors.h"
#include "st_test_util.h"

namespace grpo::safetensors {
namespace {

using testing::fresh_dir;
using testing::read_bytes;
using testing::write_bytes;
namespace fs = std::filesystem;

// Four F32 tensors of 40, 40, 100 and 40 bytes.
NamedTensors four_tensors() {
  return {{"t0", torch::arange(10, torch::kFloat32)},
          {"t1", torch::arange(10, torch::kFloat32) + 100},
          {"t2", torch::arange(25, torch::kFloat32) - 7},
          {"t3", torch::full({10}, 3.5f)}};
}

void expect_error_mentions(const std::function<void()>& fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "no error";
  } catch (const grpo::Error& e) {
    for (const auto& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
}

TEST(SafetensorsFolder, SingleFileWhenUnsharded) {
  auto dir = fresh_dir("single");
  save_folder(dir.string(), four_tensors(), {{"producer", "grpo"}});
  EXPECT_TRUE(fs::exists(dir / kSingleFileName));
  EXPECT_FALSE(fs::exists(dir / kIndexFileName));
  Checkpoint c = Checkpoint::open(dir.string());
  EXPECT_EQ(c.names(), (std::vector<std::string>{"t0", "t1", "t2", "t3"}));
  for (const auto& [name, t] : four_tensors()) EXPECT_TRUE(torch::equal(c.tensor(name), t)) << name;
  // transformers refuses files without a "format" entry, so the folder writer adds it.
  EXPECT_EQ(c.metadata(), (std::map<std::string, std::string>{{"format", "pt"}, {"producer", "grpo"}}));
}

TEST(SafetensorsFolder, ShardsGreedilyLikeHuggingFaceHub) {
  auto dir = fresh_dir("sharded");
  // Limit 64 bytes: t0 opens shard A; t1 (40+40 > 64) closes it; t2 (100 > 64) gets a shard of
  // its own immediately; t3 (40+40 > 64) closes t1's shard. Shards in order: [t0] [t2] [t1] [t3].
  save_folder(dir.string(), four_tensors(), {}, 64);
  auto index = nlohmann::json::parse(read_bytes(dir / kIndexFileName));
  EXPECT_EQ(index["metadata"]["total_size"], 220);
  EXPECT_EQ(index["weight_map"]["t0"], "model-00001-of-00004.safetensors");
  EXPECT_EQ(index["weight_map"]["t2"], "model-00002-of-00004.safetensors");
  EXPECT_EQ(index["weight_map"]["t1"], "model-00003-of-00004.safetensors");
  EXPECT_EQ(index["weight_map"]["t3"], "model-00004-of-00004.safetensors");
  EXPECT_FALSE(fs::exists(dir / kSingleFileName));

  Checkpoint c = Checkpoint::open(dir.string());
  EXPECT_EQ(c.files().size(), 4u);
  for (const auto& [name, t] : four_tensors()) EXPECT_TRUE(torch::equal(c.tensor(name), t)) << name;
  EXPECT_TRUE(c.contains("t2"));
  EXPECT_FALSE(c.contains("t9"));
  EXPECT_EQ(c.info("t2").shape, (std::vector<uint64_t>{25}));
  expect_error_mentions([&] { c.tensor("t9"); }, {dir.string(), "\"t9\""});
}

TEST(SafetensorsFolder, RewritingReplacesTheOldLayout) {
  auto dir = fresh_dir("relayout");
  save_folder(dir.string(), four_tensors(), {}, 64);
  save_folder(dir.string(), {{"only", torch::ones({2})}});
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), {}), 1) << "stale shards and index must go";
  EXPECT_EQ(Checkpoint::open(dir.string()).names(), std::vector<std::string>{"only"});
  save_folder(dir.string(), four_tensors(), {}, 100);
  EXPECT_FALSE(fs::exists(dir / kSingleFileName)) << "a stale model.safetensors would shadow the index";
  EXPECT_EQ(Checkpoint::open(dir.string()).names().size(), 4u);
}

// DeepSeek-V3 checkpoints may put a weight and its scale_inv in different shards.
TEST(SafetensorsFolder, WeightAndScaleInDifferentShards) {
  auto dir = fresh_dir("fp8_split");
  torch::Tensor w = torch::randn({4, 4}).to(torch::kFloat8_e4m3fn);
  torch::Tensor s = torch::rand({1, 1}) + 0.5;
  save_file((dir / "model-00001-of-00002.safetensors").string(), {{"q.weight", w}}, {{"format", "pt"}});
  save_file((dir / "model-00002-of-00002.safetensors").string(), {{"q.weight_scale_inv", s}}, {{"format", "pt"}});
  write_bytes(dir / kIndexFileName, R"({"metadata":{"total_size":20},"weight_map":{
      "q.weight":"model-00001-of-00002.safetensors","q.weight_scale_inv":"model-00002-of-00002.safetensors"}})");
  Checkpoint c = Checkpoint::open(dir.string());
  torch::Tensor got = c.tensor("q.weight");
  EXPECT_EQ(got.scalar_type(), torch::kFloat8_e4m3fn);
  EXPECT_TRUE(torch::equal(got.view(torch::kUInt8), w.view(torch::kUInt8)));
  EXPECT_TRUE(torch::equal(c.tensor("q.weight_scale_inv"), s));
}

TEST(SafetensorsFolder, BrokenIndexNamesIndexTensorAndShard) {
  auto dir = fresh_dir("bad_index");
  std::string index = (dir / kIndexFileName).string();
  save_file((dir / "a.safetensors").string(), {{"x", torch::ones({1})}});

  write_bytes(index, R"({"weight_map":{"x":"a.safetensors","y":"missing.safetensors"}})");
  expect_error_mentions([&] { Checkpoint::open(dir.string()); },
                        {index, "y", "\"missing.safetensors\"", "does not exist"});

  write_bytes(index, R"({"weight_map":{"x":"a.safetensors","z":"a.safetensors"}})");
  expect_error_mentions([&] { Checkpoint::open(dir.string()); }, {index, "\"z\"", "\"a.safetensors\"", "not in shard"});

  write_bytes(index, R"({"weight_map":{"x":"../a.safetensors"}})");
  expect_error_mentions([&] { Checkpoint::open(dir.string()); }, {index, "x", "inside"});

  write_bytes(index, R"({"weight_map":{"x":3}})");
  expect_error_mentions([&] { Checkpoint::open(dir.string()); }, {index, "weight_map.x"});

  write_bytes(index, R"({"metadata":{}})");
  expect_error_mentions([&] { Checkpoint::open(dir.string()); }, {index, "weight_map"});

  write_bytes(index, R"({"weight_map":)");
  expect_error_mentions([&] { Checkpoint::open(dir.string()); }, {index, "not valid JSON"});

  // A malformed shard is reported with the shard's own path.
  write_bytes(dir / "broken.safetensors", "xx");
  write_bytes(index, R"({"weight_map":{"x":"broken.safetensors"}})");
  expect_error_mentions([&] { Checkpoint::open(dir.string()); }, {(dir / "broken.safetensors").string()});
}

TEST(SafetensorsFolder, EmptyOrMissingFolder) {
  auto dir = fresh_dir("empty_folder");
  expect_error_mentions([&] { Checkpoint::open(dir.string()); }, {dir.string(), "model.safetensors"});
  expect_error_mentions([&] { Checkpoint::open((dir / "nope").string()); }, {"nope", "not a folder"});
}

}  // namespace
}  // namespace grpo::safetensors
