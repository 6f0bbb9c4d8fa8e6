#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/atomic_file.h"
#include "learner/checkpoint_dir.h"

using namespace grpo::learner;
namespace fs = std::filesystem;

namespace {

std::string temp_dir() {
  char tmpl[] = "/tmp/grpo_ckdir_XXXXXX";
  return ::mkdtemp(tmpl);
}

// A checkpoint-like folder: a weights file, a config and a trainer_state/ subfolder.
void write_checkpoint(const std::string& root, long step) {
  const std::string tmp = root + "/.tmp-step-" + std::to_string(step);
  fs::create_directories(tmp + "/trainer_state");
  grpo::write_file_atomic(tmp + "/model.safetensors", std::string(4096, static_cast<char>('a' + step)));
  grpo::write_file_atomic(tmp + "/config.json", "{}\n");
  grpo::write_file_atomic(tmp + "/trainer_state/state.json", "{\"step\": " + std::to_string(step) + "}\n");
  commit_checkpoint_dir(tmp, root + "/step-" + std::to_string(step));
}

}  // namespace

TEST(CheckpointDir, CommittedFolderVerifiesAndTheTemporaryNameIsGone) {
  const auto root = temp_dir();
  write_checkpoint(root, 2);
  EXPECT_EQ(verify_checkpoint_dir(root + "/step-2"), "");
  EXPECT_FALSE(fs::exists(root + "/.tmp-step-2"));
  EXPECT_TRUE(fs::exists(root + "/step-2/COMPLETE"));
  remove_tree(root);
  EXPECT_FALSE(fs::exists(root));
}

TEST(CheckpointDir, TruncatedFileIsDetectedAndThePreviousCheckpointUsed) {
  const auto root = temp_dir();
  write_checkpoint(root, 2);
  write_checkpoint(root, 4);
  // A write cut short: the weights file loses its tail.
  ASSERT_EQ(::truncate((root + "/step-4/model.safetensors").c_str(), 1000), 0);
  const std::string problem = verify_checkpoint_dir(root + "/step-4");
  EXPECT_NE(problem.find("model.safetensors: 1000 bytes, manifest says 4096"), std::string::npos) << problem;
  std::vector<CheckpointFolder> skipped;
  auto latest = latest_complete_checkpoint(root, &skipped);
  EXPECT_EQ(latest.step, 2);
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_EQ(skipped[0].step, 4);
  remove_tree(root);
}

TEST(CheckpointDir, SameSizeCorruptionAndMissingManifestOrFileAreDetected) {
  const auto root = temp_dir();
  write_checkpoint(root, 1);
  write_checkpoint(root, 2);
  write_checkpoint(root, 3);
  grpo::write_file_atomic(root + "/step-3/trainer_state/state.json", "{\"step\": 9}\n");  // same size, other bytes
  EXPECT_NE(verify_checkpoint_dir(root + "/step-3").find("trainer_state/state.json: CRC-32"), std::string::npos);
  ::unlink((root + "/step-2/config.json").c_str());
  EXPECT_EQ(verify_checkpoint_dir(root + "/step-2"), "config.json: missing");
  ::unlink((root + "/step-1/COMPLETE").c_str());
  EXPECT_NE(verify_checkpoint_dir(root + "/step-1").find("no COMPLETE manifest"), std::string::npos);
  std::vector<CheckpointFolder> skipped;
  EXPECT_TRUE(latest_complete_checkpoint(root, &skipped).path.empty());
  EXPECT_EQ(skipped.size(), 3u);
  remove_tree(root);
}

TEST(CheckpointDir, CommitReplacesAnIncompleteFolderOfTheSameStep) {
  const auto root = temp_dir();
  fs::create_directories(root + "/step-5");
  grpo::write_file_atomic(root + "/step-5/model.safetensors", "half");  // left by a killed run
  write_checkpoint(root, 5);
  EXPECT_EQ(verify_checkpoint_dir(root + "/step-5"), "");
  remove_tree(root);
}

TEST(CheckpointDir, PruneKeepsTheNewestAndDropsLeftoverTemporaries) {
  const auto root = temp_dir();
  for (long s : {1, 2, 10, 3}) write_checkpoint(root, s);  // step-10 sorts numerically, not as text
  fs::create_directories(root + "/.tmp-step-11");
  prune_checkpoints(root, 2);
  auto left = list_checkpoints(root);
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0].step, 3);
  EXPECT_EQ(left[1].step, 10);
  EXPECT_FALSE(fs::exists(root + "/.tmp-step-11"));
  remove_tree(root);
}
