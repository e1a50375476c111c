#include "glpdepth/util/memory.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace glpdepth {
namespace {

TEST(Memory, PeakResidentMemoryGrowsWithWhatIsTouched) {
  const double before = peak_rss_mib();
  EXPECT_GT(before, 1.0);
  {
    // Larger than the earlier peak by 64 MiB, so it raises the peak whatever ran before.
    std::vector<char> block(static_cast<size_t>((before + 64.0) * (1 << 20)));
    std::memset(block.data(), 1, block.size());  // resident only once written
    EXPECT_GE(peak_rss_mib(), before + 60.0);
  }
  EXPECT_GE(peak_rss_mib(), before + 60.0);  // a peak, not the current size
}

TEST(Memory, TheCpuHasNoDevicePeak) {
  reset_peak_device_memory(torch::kCPU);
  EXPECT_EQ(peak_device_mib(torch::kCPU), 0.0);
}

}  // namespace
}  // namespace glpdepth
