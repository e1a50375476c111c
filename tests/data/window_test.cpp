// The one window rectangle function of data, eval and test, against the spec's numbers.
#include <gtest/gtest.h>

#include "glpdepth/data/dataset.h"
#include "glpdepth/data/window.h"
#include "glpdepth/util/error.h"

namespace glpdepth {
namespace {

TEST(WindowRect, KittiKbCropAndDrivingStereoWindowOnRealFrameSizes) {
  const WindowSpec kitti = dataset_defaults(DatasetKind::kKitti).window;
  // Spec §4.2: 375x1242 gives top 23, left 13.
  EXPECT_EQ(window_rect(kitti, 375, 1242), (Window{23, 375, 13, 1229}));
  EXPECT_EQ(window_rect(kitti, 370, 1224), (Window{18, 370, 4, 1220}));
  EXPECT_EQ(window_rect(kitti, 352, 1216), (Window{0, 352, 0, 1216}));
  // Spec §4.4: 881x400 gives rows 16:400, cols 8:872 (w-873 .. w-9).
  const WindowSpec ds = dataset_defaults(DatasetKind::kDrivingStereo).window;
  EXPECT_EQ(window_rect(ds, 400, 881), (Window{16, 400, 8, 872}));
  EXPECT_EQ(window_rect(ds, 384, 873), (Window{0, 384, 0, 864}));
  // No window: the whole frame.
  EXPECT_EQ(window_rect(WindowSpec{}, 47, 155), (Window{0, 47, 0, 155}));
}

TEST(WindowRect, FramesSmallerThanTheWindowAreNamedErrors) {
  const WindowSpec ds = dataset_defaults(DatasetKind::kDrivingStereo).window;
  EXPECT_FALSE(frame_holds_window(ds, 400, 872));  // one column short of the margin
  EXPECT_TRUE(frame_holds_window(ds, 384, 873));
  try {
    window_rect(ds, 400, 872, "frame a.jpg");
    FAIL() << "a too small frame was accepted";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("frame a.jpg"), std::string::npos) << message;
    EXPECT_NE(message.find("872x400"), std::string::npos) << message;
    EXPECT_NE(message.find("873x384"), std::string::npos) << message;
  }
}

TEST(WindowChoiceNames, RoundTripAndRejectOthers) {
  for (WindowChoice c : {WindowChoice::kAuto, WindowChoice::kOn, WindowChoice::kOff})
    EXPECT_EQ(parse_window_choice(to_string(c)), c);
  EXPECT_THROW(parse_window_choice("sometimes"), UsageError);
}

}  // namespace
}  // namespace glpdepth
