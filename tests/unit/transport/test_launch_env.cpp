#include <gtest/gtest.h>

#include "actor/launch/launch_env.h"
#include "common/error.h"

using namespace grpo::actor;

TEST(LaunchEnv, SingleProcessByDefault) {
  auto e = detect_launch_env(map_env({}));
  EXPECT_EQ(e.launcher, "single");
  EXPECT_EQ(e.world_size, 1);
  EXPECT_EQ(e.master_addr, "127.0.0.1");
}

TEST(LaunchEnv, Torchrun) {
  auto e = detect_launch_env(map_env({{"RANK", "5"},
                                      {"WORLD_SIZE", "8"},
                                      {"LOCAL_RANK", "1"},
                                      {"LOCAL_WORLD_SIZE", "4"},
                                      {"GROUP_RANK", "1"},
                                      {"MASTER_ADDR", "10.1.2.3"},
                                      {"MASTER_PORT", "29400"}}));
  EXPECT_EQ(e.launcher, "torchrun");
  EXPECT_EQ(e.rank, 5);
  EXPECT_EQ(e.world_size, 8);
  EXPECT_EQ(e.local_rank, 1);
  EXPECT_EQ(e.local_world_size, 4);
  EXPECT_EQ(e.node_rank, 1);
  EXPECT_EQ(e.master_addr, "10.1.2.3");
  EXPECT_EQ(e.master_port, 29400);
}

TEST(LaunchEnv, SlurmTakesTheFirstNodeAndAJobPort) {
  auto e = detect_launch_env(map_env({{"SLURM_PROCID", "3"},
                                      {"SLURM_NTASKS", "4"},
                                      {"SLURM_LOCALID", "1"},
                                      {"SLURM_NODEID", "1"},
                                      {"SLURM_STEP_TASKS_PER_NODE", "2(x2)"},
                                      {"SLURM_JOB_NODELIST", "gpu[07-08]"},
                                      {"SLURM_JOB_ID", "123456"}}));
  EXPECT_EQ(e.launcher, "slurm");
  EXPECT_EQ(e.rank, 3);
  EXPECT_EQ(e.local_world_size, 2);
  EXPECT_EQ(e.master_addr, "gpu07");
  EXPECT_EQ(e.master_port, 20000 + 123456 % 20000);
}

TEST(LaunchEnv, SlurmNodeLists) {
  EXPECT_EQ(first_slurm_host("node1"), "node1");
  EXPECT_EQ(first_slurm_host("node1,node2"), "node1");
  EXPECT_EQ(first_slurm_host("gpu[07-09,12],cpu1"), "gpu07");
  EXPECT_EQ(first_slurm_host("rack[3,5]-n[01-04]"), "rack3-n01");
  EXPECT_THROW(first_slurm_host("gpu[07"), grpo::Error);
}

TEST(LaunchEnv, OpenMpiWithoutMasterMustPublishIt) {
  auto e = detect_launch_env(map_env({{"OMPI_COMM_WORLD_RANK", "0"},
                                      {"OMPI_COMM_WORLD_SIZE", "2"},
                                      {"OMPI_COMM_WORLD_LOCAL_RANK", "0"},
                                      {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"}}));
  EXPECT_EQ(e.launcher, "openmpi");
  EXPECT_FALSE(e.master_known);
}

TEST(LaunchEnv, GrpoVariablesWin) {
  auto e = detect_launch_env(
      map_env({{"GRPO_RANK", "1"}, {"GRPO_WORLD_SIZE", "3"}, {"RANK", "0"}, {"WORLD_SIZE", "1"}, {"LOCAL_RANK", "0"}}));
  EXPECT_EQ(e.launcher, "grpo");
  EXPECT_EQ(e.rank, 1);
}

TEST(LaunchEnv, InconsistentValuesNameTheVariable) {
  auto message = [](std::map<std::string, std::string> vars) {
    try {
      detect_launch_env(map_env(vars));
    } catch (const grpo::Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(message({{"RANK", "8"}, {"WORLD_SIZE", "8"}, {"LOCAL_RANK", "0"}}).find("RANK=8"), std::string::npos);
  EXPECT_NE(message({{"RANK", "x"}, {"WORLD_SIZE", "8"}, {"LOCAL_RANK", "0"}}).find("RANK='x'"), std::string::npos);
  EXPECT_NE(message({{"SLURM_PROCID", "0"}}).find("SLURM_NTASKS"), std::string::npos);
  EXPECT_NE(message({{"RANK", "0"}, {"WORLD_SIZE", "1"}, {"LOCAL_RANK", "0"}, {"MASTER_PORT", "70000"}}).find("port"),
            std::string::npos);
}
