#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "actor/trajectory_log.h"
#include "learner/checkpoint_dir.h"  // remove_tree: std::filesystem::remove_all crashes with LibTorch linked

using namespace grpo::actor;
namespace fs = std::filesystem;

namespace {

std::string fresh_dir(const std::string& name) {
  auto dir = fs::temp_directory_path() / ("grpo_wal_" + name + "_" + std::to_string(::getpid()));
  grpo::learner::remove_tree(fs::path(dir).string());
  return dir.string();
}

ScoredGroup group(uint64_t prompt_id, uint64_t version) {
  ScoredGroup s;
  s.group.batch_id = prompt_id / 4;
  s.group.prompt = Prompt{prompt_id, {1, 2, 3}, {{"answer", std::to_string(prompt_id)}}};
  s.group.completions.push_back(Completion{"4 5", {4, 5}, {-0.1f, -0.2f}, "eos", version, version});
  s.scores.push_back(SampleScore{1.0, {{"format", 1.0}}, ""});
  s.reward_script_sha256 = "deadbeef";
  return s;
}

}  // namespace

TEST(TrajectoryLog, EveryRecordSurvivesReopeningInAppendOrder) {
  auto dir = fresh_dir("reopen");
  {
    TrajectoryLog log(dir);
    for (uint64_t i = 0; i < 5; ++i) log.append(group(i, 10 + i));
  }
  TrajectoryLog reopened(dir);
  EXPECT_EQ(reopened.size(), 5u);
  EXPECT_EQ(reopened.truncated_bytes(), 0u);
  auto all = reopened.read_all();
  ASSERT_EQ(all.size(), 5u);
  EXPECT_EQ(all[3].group.prompt.prompt_id, 3u);
  EXPECT_EQ(all[4].group.completions[0].version_start, 14u);
  EXPECT_EQ(all[4].reward_script_sha256, "deadbeef");
  EXPECT_EQ(all[4].scores[0].metrics.at("format"), 1.0);
  EXPECT_EQ(reopened.read(2).group.prompt.row.at("answer"), "2");
  EXPECT_FALSE(fs::exists(dir + "/trajectories.cursor"));  // an audit log: nothing tracks consumption
}

TEST(TrajectoryLog, TornTailIsTruncatedAndTheRestKept) {
  auto dir = fresh_dir("torn");
  std::string path;
  {
    TrajectoryLog log(dir);
    log.append(group(0, 1));
    log.append(group(1, 1));
    path = log.path();
  }
  const auto full = fs::file_size(path);
  for (uint64_t cut : {1ull, 5ull, 9ull, 30ull}) {  // inside the header, the CRC, the payload
    fs::resize_file(path, full - cut);
    TrajectoryLog log(dir);
    EXPECT_EQ(log.size(), 1u) << "cut " << cut;
    EXPECT_GT(log.truncated_bytes(), 0u);
    log.append(group(1, 1));  // the log is writable again after recovery
    EXPECT_EQ(log.size(), 2u);
  }
  TrajectoryLog log(dir);
  EXPECT_EQ(log.read_all().size(), 2u);
}

TEST(TrajectoryLog, CorruptedRecordStopsReplayAtTheLastGoodOne) {
  auto dir = fresh_dir("corrupt");
  std::string path;
  {
    TrajectoryLog log(dir);
    for (uint64_t i = 0; i < 3; ++i) log.append(group(i, 1));
    path = log.path();
  }
  // Flip one byte in the middle of the file (record 1 or 2): the CRC catches it.
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    const auto size = fs::file_size(path);
    f.seekp(static_cast<std::streamoff>(size * 2 / 3));
    f.put('\x5a');
  }
  TrajectoryLog log(dir);
  EXPECT_LT(log.size(), 3u);
  EXPECT_GT(log.truncated_bytes(), 0u);
  for (const auto& g : log.read_all()) EXPECT_EQ(g.reward_script_sha256, "deadbeef");
}

#include "support/small_disk.h"

TEST(TrajectoryLog, FullDiskIsAnErrorAndTheLogStaysReadable) {
  grpo::testing::SmallDisk disk("wal");
  if (!disk.mounted()) GTEST_SKIP() << "needs root to mount a 64 KiB tmpfs";
  TrajectoryLog log(disk.path());
  uint64_t appended = 0;
  std::string error;
  try {
    for (; appended < 100000; ++appended) {
      ScoredGroup g = group(appended, 1);
      g.group.completions[0].tokens.assign(500, 7);
      g.group.completions[0].logprobs.assign(500, -1.0f);
      log.append(g);
    }
  } catch (const grpo::Error& e) {
    error = e.what();
  }
  ASSERT_FALSE(error.empty()) << "a 64 KiB disk must fill up";
  EXPECT_NE(error.find("trajectories.wal"), std::string::npos) << error;
  EXPECT_GT(appended, 0u);
  TrajectoryLog reopened(disk.path());
  EXPECT_EQ(reopened.size(), appended);  // every acknowledged append survives, the failed one is gone
  EXPECT_EQ(reopened.truncated_bytes(), 0u);
}
