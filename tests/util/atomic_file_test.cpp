// Atomic writes under faults: a writer killed mid-write, a full disk, a read-only folder.
#include "glpdepth/util/atomic_file.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#include "common/temp_dir.h"
#include "glpdepth/util/error.h"

using namespace glpdepth;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> names_in(const fs::path& folder) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(folder)) names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

void touch(const fs::path& path) { std::ofstream(path) << "x"; }

// A tmpfs of `size` at `target`, unmounted when the test ends.
class SmallDisk {
 public:
  SmallDisk(const fs::path& target, const std::string& size) : target_(target) {
    fs::create_directories(target);
    if (::mount("tmpfs", target.c_str(), "tmpfs", 0, ("size=" + size).c_str()) != 0)
      why_not_ = std::strerror(errno);
  }
  ~SmallDisk() {
    if (why_not_.empty()) ::umount2(target_.c_str(), MNT_DETACH);
  }
  const std::string& why_not() const { return why_not_; }

 private:
  fs::path target_;
  std::string why_not_;
};

}  // namespace

TEST(AtomicFile, RemovesOnlyOtherProcessesLeftoverTemporaries) {
  glpdepth::testing::TempDir dir;
  const std::string mine = ".notes.tmp." + std::to_string(::getpid()) + ".4";
  for (const char* name : {".last.ckpt.tmp.123.0", ".config.json.tmp.99.12", "last.ckpt",
                           ".tmp.1.2", "a.tmp.1.2", ".x.tmp.12a.3", ".x.tmp.1.", ".y.tmp.5.6.bak"})
    touch(dir / name);
  touch(dir / mine);
  fs::create_directories(dir / ".folder.tmp.7.8");
  const std::vector<fs::path> removed = remove_stale_temporaries(dir.path());
  std::vector<std::string> removed_names;
  for (const fs::path& path : removed) removed_names.push_back(path.filename());
  std::sort(removed_names.begin(), removed_names.end());
  EXPECT_EQ(removed_names, (std::vector<std::string>{".config.json.tmp.99.12", ".last.ckpt.tmp.123.0"}));
  std::vector<std::string> kept = {".folder.tmp.7.8", ".tmp.1.2", ".x.tmp.1.", ".x.tmp.12a.3",
                                   ".y.tmp.5.6.bak", "a.tmp.1.2", "last.ckpt", mine};
  std::sort(kept.begin(), kept.end());
  EXPECT_EQ(names_in(dir.path()), kept);
}

// Writers killed at different moments leave either file whole, and whatever temporary they
// left is what remove_stale_temporaries takes away.
TEST(AtomicFile, AKilledWriterLeavesTheTargetWholeAndItsTemporaryRemovable) {
  glpdepth::testing::TempDir dir;
  const fs::path target = dir / "state.bin";
  const std::string old_bytes(1 << 20, 'a'), new_bytes(8 << 20, 'b');
  write_bytes_atomic(target, old_bytes);
  int left_behind = 0;
  for (int delay_ms : {0, 2, 5, 10, 20, 40}) {
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      for (;;) write_bytes_atomic(target, new_bytes);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
    const std::string bytes = read_file_bytes(target);
    EXPECT_TRUE(bytes == old_bytes || bytes == new_bytes) << "after " << delay_ms << " ms";
    left_behind += static_cast<int>(remove_stale_temporaries(dir.path()).size());
    EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"state.bin"});
  }
  std::cout << left_behind << " of 6 killed writers left a temporary file\n";
}

TEST(AtomicFile, AFullDiskNamesTheFileAndTheReasonAndKeepsThePreviousContent) {
  glpdepth::testing::TempDir dir;
  SmallDisk disk(dir / "disk", "1m");
  if (!disk.why_not().empty()) GTEST_SKIP() << "cannot mount a 1 MiB tmpfs (needs root): " << disk.why_not();
  const fs::path target = dir / "disk" / "state.bin";
  const std::string first(600 << 10, 'a');
  write_bytes_atomic(target, first);
  try {
    write_bytes_atomic(target, std::string(700 << 10, 'b'));  // both would need 1.3 MiB
    FAIL() << "a write beyond the disk's size succeeded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(target.string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(std::strerror(ENOSPC)), std::string::npos) << e.what();
  }
  EXPECT_EQ(read_file_bytes(target), first);
  EXPECT_EQ(names_in(dir / "disk"), std::vector<std::string>{"state.bin"});
}

TEST(AtomicFile, AReadOnlyFolderNamesTheFileAndTheReason) {
  glpdepth::testing::TempDir dir;
  SmallDisk disk(dir / "disk", "1m");
  if (!disk.why_not().empty()) GTEST_SKIP() << "cannot mount a tmpfs (needs root): " << disk.why_not();
  const fs::path target = dir / "disk" / "state.bin";
  write_bytes_atomic(target, "first");
  ASSERT_EQ(::mount("", (dir / "disk").c_str(), nullptr, MS_REMOUNT | MS_RDONLY, nullptr), 0)
      << std::strerror(errno);
  try {
    write_bytes_atomic(target, "second");
    FAIL() << "a write into a read-only folder succeeded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find((dir / "disk").string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(std::strerror(EROFS)), std::string::npos) << e.what();
  }
  EXPECT_EQ(read_file_bytes(target), "first");
  EXPECT_EQ(names_in(dir / "disk"), std::vector<std::string>{"state.bin"});
}
