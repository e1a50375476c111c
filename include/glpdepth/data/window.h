// Fixed dataset windows (the KITTI kb-crop, the DrivingStereo 384x864 window): one rectangle
// function that data loading, evaluation and `glpdepth test` all use.
#pragma once
#include <string>

namespace glpdepth {

// A half-open pixel rectangle rows [top, bottom), cols [left, right).
struct Window {
  int top = 0, bottom = 0, left = 0, right = 0;
  int height() const { return bottom - top; }
  int width() const { return right - left; }
  bool operator==(const Window& o) const {
    return top == o.top && bottom == o.bottom && left == o.left && right == o.right;
  }
};

// Where the fixed dataset window sits in the decoded frame.
enum class WindowKind {
  kNone,
  // KITTI kb-crop: rows [h-wh, h), cols [int((w-ww)/2), +ww).
  kBottomCentre,
  // DrivingStereo (DLAV): rows [h-wh, h), cols [w-ww-right_margin, w-right_margin);
  // 384x864 with margin 9 is DLAV's "w-873" window.
  kBottomRightMargin,
};

// The shape of a dataset window, independent of the frame.
struct WindowSpec {
  WindowKind kind = WindowKind::kNone;
  int height = 0, width = 0;
  int right_margin = 0;  // bottom_right_margin only
};

// Whether a width x height frame holds the window (always true for WindowKind::kNone).
bool frame_holds_window(const WindowSpec& spec, int height, int width);

// The window on a height x width frame (the whole frame for WindowKind::kNone). Throws Error
// naming `what` (e.g. the sample) and both sizes when the frame is smaller than the window.
Window window_rect(const WindowSpec& spec, int height, int width, const std::string& what = "image");

// How `train` and `test` choose whether to apply a dataset's window: auto applies it when the
// frames hold it (small synthetic sets do not), on always (an error for smaller frames), off
// never.
enum class WindowChoice { kAuto, kOn, kOff };
// "auto" | "on" | "off"; throws UsageError naming --window otherwise.
WindowChoice parse_window_choice(const std::string& name);
std::string to_string(WindowChoice choice);

}  // namespace glpdepth
