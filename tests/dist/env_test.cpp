#include <gtest/gtest.h>

#include <map>

#include "glpdepth/dist/env.h"
#include "glpdepth/util/error.h"

namespace glpdepth::dist {
namespace {

EnvLookup lookup(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

// Runs detect_env and returns the error message ("" when it did not throw).
std::string error_of(std::map<std::string, std::string> vars) {
  try {
    detect_env(lookup(std::move(vars)));
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(DistEnv, NothingSetIsAJobOfOne) {
  DistEnv env = detect_env(lookup({}), DetectOptions{12345});
  EXPECT_EQ(env.rank, 0);
  EXPECT_EQ(env.world_size, 1);
  EXPECT_EQ(env.local_rank, 0);
  EXPECT_FALSE(env.distributed());
  EXPECT_EQ(env.source, "none");
  EXPECT_EQ(env.master_port, 12345);
}

TEST(DistEnv, TorchrunVariables) {
  DistEnv env = detect_env(lookup({{"RANK", "5"},
                                   {"WORLD_SIZE", "8"},
                                   {"LOCAL_RANK", "1"},
                                   {"LOCAL_WORLD_SIZE", "4"},
                                   {"MASTER_ADDR", "10.0.0.7"},
                                   {"MASTER_PORT", "29611"}}));
  EXPECT_EQ(env.source, "torchrun");
  EXPECT_EQ(env.rank, 5);
  EXPECT_EQ(env.world_size, 8);
  EXPECT_EQ(env.local_rank, 1);
  EXPECT_EQ(env.local_world_size, 4);
  EXPECT_EQ(env.master_addr, "10.0.0.7");
  EXPECT_EQ(env.master_port, 29611);
  EXPECT_TRUE(env.distributed());
  EXPECT_FALSE(env.is_main());
}

TEST(DistEnv, TorchrunsOwnStoreMakesRankZeroAClient) {
  // torch 2.x's torchrun already listens on MASTER_PORT: a second server there cannot bind.
  const std::map<std::string, std::string> base = {
      {"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", "29611"}};
  EXPECT_FALSE(detect_env(lookup(base)).agent_store);
  auto with_agent = base;
  with_agent["TORCHELASTIC_USE_AGENT_STORE"] = "True";
  EXPECT_TRUE(detect_env(lookup(with_agent)).agent_store);
  with_agent["TORCHELASTIC_USE_AGENT_STORE"] = "False";
  EXPECT_FALSE(detect_env(lookup(with_agent)).agent_store);
}

TEST(DistEnv, TorchrunWithoutPortUsesTheOption) {
  DistEnv env = detect_env(
      lookup({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"LOCAL_RANK", "0"}, {"MASTER_ADDR", "h"}}),
      DetectOptions{23456});
  EXPECT_EQ(env.master_port, 23456);
  EXPECT_EQ(env.local_world_size, 2);
}

TEST(DistEnv, SlurmVariables) {
  DistEnv env = detect_env(lookup({{"SLURM_PROCID", "3"},
                                   {"SLURM_NTASKS", "4"},
                                   {"SLURM_LOCALID", "1"},
                                   {"SLURM_NODEID", "1"},
                                   {"SLURM_TASKS_PER_NODE", "2(x2)"},
                                   {"SLURM_JOB_NODELIST", "node[01-04,07],gpu5"}}),
                           DetectOptions{29777});
  EXPECT_EQ(env.source, "slurm");
  EXPECT_EQ(env.rank, 3);
  EXPECT_EQ(env.world_size, 4);
  EXPECT_EQ(env.local_rank, 1);
  EXPECT_EQ(env.local_world_size, 2);
  EXPECT_EQ(env.master_addr, "node01");
  EXPECT_EQ(env.master_port, 29777);
}

TEST(DistEnv, SlurmUnevenTasksPerNode) {
  DistEnv env = detect_env(lookup({{"SLURM_PROCID", "4"},
                                   {"SLURM_NTASKS", "5"},
                                   {"SLURM_LOCALID", "0"},
                                   {"SLURM_NODEID", "2"},
                                   {"SLURM_TASKS_PER_NODE", "2(x2),1"},
                                   {"SLURM_NODELIST", "gpu[7-9]"}}));
  EXPECT_EQ(env.local_world_size, 1);
  EXPECT_EQ(env.master_addr, "gpu7");
}

TEST(DistEnv, SlurmStepNodelistAndExplicitMasterWin) {
  std::map<std::string, std::string> vars{{"SLURM_PROCID", "0"},
                                          {"SLURM_NTASKS", "2"},
                                          {"SLURM_LOCALID", "0"},
                                          {"SLURM_JOB_NODELIST", "a[1-4]"},
                                          {"SLURM_STEP_NODELIST", "a[3-4]"}};
  EXPECT_EQ(detect_env(lookup(vars)).master_addr, "a3");
  vars["MASTER_ADDR"] = "head";
  vars["MASTER_PORT"] = "4000";
  DistEnv env = detect_env(lookup(vars));
  EXPECT_EQ(env.master_addr, "head");
  EXPECT_EQ(env.master_port, 4000);
}

TEST(DistEnv, TorchrunWinsOverSlurm) {
  DistEnv env = detect_env(lookup({{"SLURM_PROCID", "1"},
                                   {"SLURM_NTASKS", "2"},
                                   {"SLURM_LOCALID", "1"},
                                   {"SLURM_JOB_NODELIST", "n[1-2]"},
                                   {"RANK", "3"},
                                   {"WORLD_SIZE", "4"},
                                   {"LOCAL_RANK", "3"},
                                   {"MASTER_ADDR", "n1"}}));
  EXPECT_EQ(env.source, "torchrun");
  EXPECT_EQ(env.rank, 3);
  EXPECT_EQ(env.world_size, 4);
  EXPECT_EQ(env.local_rank, 3);
  EXPECT_EQ(env.master_addr, "n1");
}

TEST(DistEnv, ErrorsNameTheVariable) {
  EXPECT_NE(error_of({{"RANK", "0"}}).find("WORLD_SIZE is unset"), std::string::npos);
  EXPECT_NE(error_of({{"WORLD_SIZE", "2"}}).find("RANK is unset"), std::string::npos);
  EXPECT_NE(error_of({{"RANK", "abc"}, {"WORLD_SIZE", "2"}}).find("RANK='abc'"), std::string::npos);
  EXPECT_NE(error_of({{"RANK", "2"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}})
                .find("RANK=2 is out of range for WORLD_SIZE=2"),
            std::string::npos);
  EXPECT_NE(error_of({{"RANK", "0"}, {"WORLD_SIZE", "0"}}).find("WORLD_SIZE=0"), std::string::npos);
  EXPECT_NE(error_of({{"RANK", "1"},
                      {"WORLD_SIZE", "4"},
                      {"LOCAL_RANK", "2"},
                      {"LOCAL_WORLD_SIZE", "2"},
                      {"MASTER_ADDR", "h"}})
                .find("LOCAL_RANK=2"),
            std::string::npos);
  EXPECT_NE(error_of({{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"LOCAL_RANK", "1"}})
                .find("MASTER_ADDR is unset"),
            std::string::npos);
  EXPECT_NE(error_of({{"RANK", "0"},
                      {"WORLD_SIZE", "2"},
                      {"LOCAL_RANK", "0"},
                      {"MASTER_ADDR", "h"},
                      {"MASTER_PORT", "70000"}})
                .find("MASTER_PORT=70000"),
            std::string::npos);
  EXPECT_NE(error_of({{"SLURM_PROCID", "4"}, {"SLURM_NTASKS", "4"}, {"SLURM_NODELIST", "a"}})
                .find("SLURM_PROCID=4 is out of range for SLURM_NTASKS=4"),
            std::string::npos);
  EXPECT_NE(error_of({{"SLURM_PROCID", "0"}}).find("SLURM_NTASKS is unset"), std::string::npos);
  EXPECT_NE(error_of({{"SLURM_PROCID", "1"}, {"SLURM_NTASKS", "2"}, {"SLURM_LOCALID", "x"}})
                .find("SLURM_LOCALID='x'"),
            std::string::npos);
  EXPECT_NE(error_of({{"SLURM_PROCID", "1"}, {"SLURM_NTASKS", "2"}, {"SLURM_LOCALID", "1"}})
                .find("SLURM_JOB_NODELIST"),
            std::string::npos);
  EXPECT_NE(error_of({{"SLURM_PROCID", "0"},
                      {"SLURM_NTASKS", "2"},
                      {"SLURM_LOCALID", "0"},
                      {"SLURM_JOB_NODELIST", "n[1-"}})
                .find("n[1-"),
            std::string::npos);
}

TEST(DistEnv, LocalDeviceIndexWrapsToTheVisibleGpus) {
  DistEnv env;
  env.world_size = 8;
  env.rank = 7;
  env.local_rank = 3;
  EXPECT_EQ(local_device_index(env, 4), 3);
  EXPECT_EQ(local_device_index(env, 1), 0);
  EXPECT_EQ(local_device_index(env, 2), 1);
  EXPECT_THROW(local_device_index(env, 0), Error);
}

TEST(SlurmNodelist, Expands) {
  using V = std::vector<std::string>;
  EXPECT_EQ(expand_slurm_nodelist("node[01-04,07],gpu5"),
            (V{"node01", "node02", "node03", "node04", "node07", "gpu5"}));
  EXPECT_EQ(expand_slurm_nodelist("single"), (V{"single"}));
  EXPECT_EQ(expand_slurm_nodelist("n[8-11]"), (V{"n8", "n9", "n10", "n11"}));
  EXPECT_EQ(expand_slurm_nodelist("n[098-101]"), (V{"n098", "n099", "n100", "n101"}));
  EXPECT_EQ(expand_slurm_nodelist("r[1-2]n[3,5]"), (V{"r1n3", "r1n5", "r2n3", "r2n5"}));
  EXPECT_EQ(expand_slurm_nodelist("a-b[1-2].ib,c"), (V{"a-b1.ib", "a-b2.ib", "c"}));
  EXPECT_EQ(first_slurm_host("node[01-04,07],gpu5"), "node01");
  EXPECT_EQ(first_slurm_host("gpu5,node[01-04]"), "gpu5");
}

TEST(SlurmNodelist, RejectsMalformedLists) {
  for (const char* bad : {"", "a,,b", "n[1-", "n]1", "n[3-1]", "n[a-b]", "n[[1]]", "n[1-2"}) {
    EXPECT_THROW(expand_slurm_nodelist(bad), Error) << bad;
  }
}

}  // namespace
}  // namespace glpdepth::dist
