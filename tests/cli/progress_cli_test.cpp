// One progress reporter for train (with validation), test and predict: a redrawn bar on a
// terminal (a pseudo-terminal here), plain lines without a single '\r' in a pipe or a log file.
#include <gtest/gtest.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/run_cli.h"
#include "common/temp_dir.h"
#include "glpdepth/io/image.h"

namespace glpdepth {
namespace {
namespace fs = std::filesystem;

// Everything `glpdepth <args>` writes to its terminal (stdout and stderr on one pseudo-terminal).
std::pair<int, std::string> run_on_terminal(const std::string& args) {
  int master = -1;
  const std::string command = std::string(GLPDEPTH_CLI_PATH) + " " + args;
  const pid_t pid = ::forkpty(&master, nullptr, nullptr, nullptr);
  if (pid == 0) {
    ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  std::string output;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(master, buffer, sizeof buffer);
    if (n <= 0) break;  // EIO once the child has closed the terminal
    output.append(buffer, static_cast<size_t>(n));
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(master);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

class Progress : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    auto [code, output] = testing::run_glpdepth(
        "synth --output " + data() + " --count 8 --scale 0.1 --seed 2 --frames_per_drive 2"
        " --val_fraction 0.25 --test_fraction 0.25 --workers 1");
    ASSERT_EQ(code, 0) << output;
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string data() { return (dir_->path() / "data").string(); }
  static std::string train_args(const std::string& name) {
    return "train --data_path " + data() + " --encoder b0 --pretrained none --epochs 2"
           " --max_steps_per_epoch 2 --batch_size 2 --crop_h 32 --crop_w 64 --workers 1"
           " --threads 1 --output " + (dir_->path() / "logs").string() + " --exp_name " + name;
  }
  static std::string weights() {
    static const std::string path = [] {
      const std::string file = (dir_->path() / "w.pth").string();
      auto [code, output] = testing::run_glpdepth("export --random_weights --encoder b0 --output " + file);
      EXPECT_EQ(code, 0) << output;
      return file;
    }();
    return path;
  }
  static testing::TempDir* dir_;
};
testing::TempDir* Progress::dir_ = nullptr;

TEST_F(Progress, TrainOnATerminalRedrawsABarWithTheRunsEta) {
  auto [code, output] = run_on_terminal(train_args("tty"));
  ASSERT_EQ(code, 0) << output;
  EXPECT_NE(output.find('\r'), std::string::npos);
  EXPECT_NE(output.find("epoch 2/2 ["), std::string::npos) << output;
  EXPECT_NE(output.find("(run eta "), std::string::npos) << output;
  EXPECT_NE(output.find("loss "), std::string::npos);
  EXPECT_NE(output.find("validation 1 ["), std::string::npos) << output;  // validation shows progress
}

TEST_F(Progress, TrainInAPipeWritesPlainLines) {
  testing::CliRun r = testing::run_glpdepth_split(dir_->path(), train_args("pipe"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err.find('\r'), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("\x1b["), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("epoch 1/2 2/2"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("epoch 2/2 2/2"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("validation 2 "), std::string::npos) << r.err;
}

TEST_F(Progress, TestAndPredictOnATerminalAndInAPipe) {
  const std::string test = "test --data_path " + data() + " --ckpt " + weights() +
                           " --threads 1 --workers 1 --output " + (dir_->path() / "results").string();
  auto [tty_code, tty] = run_on_terminal(test);
  ASSERT_EQ(tty_code, 0) << tty;
  EXPECT_NE(tty.find("\rtest ["), std::string::npos) << tty;
  testing::CliRun piped = testing::run_glpdepth_split(dir_->path(), test);
  ASSERT_EQ(piped.code, 0) << piped.err;
  EXPECT_EQ(piped.err.find('\r'), std::string::npos) << piped.err;
  EXPECT_NE(piped.err.find("test 2/2 "), std::string::npos) << piped.err;

  const fs::path images = dir_->path() / "images";
  fs::create_directories(images);
  for (int i = 0; i < 3; ++i) write_image(images / ("i" + std::to_string(i) + ".png"), Image8(40, 24, 3));
  const std::string predict = "predict " + images.string() + " --ckpt " + weights() +
                              " --threads 1 --output " + (dir_->path() / "pred").string();
  auto [p_code, p_tty] = run_on_terminal(predict);
  ASSERT_EQ(p_code, 0) << p_tty;
  EXPECT_NE(p_tty.find("\rpredict ["), std::string::npos) << p_tty;
  testing::CliRun p_piped = testing::run_glpdepth_split(dir_->path(), predict);
  ASSERT_EQ(p_piped.code, 0) << p_piped.err;
  EXPECT_EQ(p_piped.err.find('\r'), std::string::npos) << p_piped.err;
  EXPECT_NE(p_piped.err.find("predict 3/3 "), std::string::npos) << p_piped.err;
}

}  // namespace
}  // namespace glpdepth
