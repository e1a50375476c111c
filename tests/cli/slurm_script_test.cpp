// docs/slurm/train.sbatch's own logic, with stand-ins for srun and scontrol (there is no Slurm
// here): the batch shell passes SIGUSR1 on to srun and requeues the job when the training exits
// with the "interrupted" code 3, and only then.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "common/background.h"
#include "common/temp_dir.h"

using glpdepth::testing::Background;
using glpdepth::testing::TempDir;
using glpdepth::testing::wait_until;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_script(const fs::path& path, const std::string& text) {
  std::ofstream(path) << text;
  fs::permissions(path, fs::perms::owner_all);
}

// srun stand-in: records its arguments; on SIGUSR1 it stops as the ranks would (exit 3); without
// a signal it exits with $SRUN_EXIT after a moment.
class SlurmStandIns {
 public:
  SlurmStandIns() {
    write_script(dir_ / "srun",
                 "#!/bin/sh\n"
                 "echo \"$@\" > \"$STUBS/srun.args\"\n"
                 "trap 'echo usr1 >> \"$STUBS/srun.signals\"; kill $! 2>/dev/null; exit 3' USR1\n"
                 "echo > \"$STUBS/srun.ready\"\n"
                 "sleep \"${SRUN_SECONDS:-30}\" & wait $!\n"
                 "exit \"${SRUN_EXIT:-0}\"\n");
    write_script(dir_ / "scontrol", "#!/bin/sh\necho \"$@\" >> \"$STUBS/scontrol.args\"\n");
  }
  // The batch script under the stand-ins, as Slurm would start it for job 4242.
  std::string command(const std::string& extra_env = "") const {
    return "env PATH=" + dir_.path().string() + ":/usr/bin:/bin STUBS=" + dir_.path().string() +
           " SLURM_JOB_ID=4242 SLURM_CPUS_PER_TASK=2 GLPDEPTH=/bin/true DATA=/nowhere " +
           extra_env + " bash " + GLPDEPTH_SOURCE_DIR + "/docs/slurm/train.sbatch";
  }
  const TempDir& dir() const { return dir_; }

 private:
  TempDir dir_;
};

}  // namespace

TEST(SlurmScript, PassesSigusr1OnAndRequeuesAnInterruptedTraining) {
  SlurmStandIns slurm;
  Background batch(slurm.command(), slurm.dir() / "batch.log");
  ASSERT_TRUE(wait_until(20, [&] { return fs::exists(slurm.dir() / "srun.ready"); })) << batch.output();
  ::kill(batch.pid(), SIGUSR1);  // what --signal=B:USR1@120 does
  EXPECT_EQ(batch.wait(20), 0) << batch.output();
  EXPECT_EQ(slurp(slurm.dir() / "srun.signals"), "usr1\n");
  EXPECT_EQ(slurp(slurm.dir() / "scontrol.args"), "requeue 4242\n") << batch.output();
  const std::string args = slurp(slurm.dir() / "srun.args");
  EXPECT_NE(args.find("--resume auto"), std::string::npos) << args;
  EXPECT_NE(args.find("--exp_name slurm_4242"), std::string::npos) << args;
}

TEST(SlurmScript, AFailedOrFinishedTrainingIsNotRequeued) {
  for (const char* code : {"1", "0"}) {
    SlurmStandIns slurm;
    Background batch(slurm.command(std::string("SRUN_SECONDS=0.1 SRUN_EXIT=") + code),
                     slurm.dir() / "batch.log");
    EXPECT_EQ(batch.wait(20), std::stoi(code)) << batch.output();
    EXPECT_FALSE(fs::exists(slurm.dir() / "scontrol.args")) << batch.output();
  }
}
