#include "glpdepth/data/window.h"

#include "glpdepth/util/error.h"

namespace glpdepth {

bool frame_holds_window(const WindowSpec& spec, int height, int width) {
  if (spec.kind == WindowKind::kNone) return true;
  return height >= spec.height && width >= spec.width + spec.right_margin;
}

Window window_rect(const WindowSpec& spec, int height, int width, const std::string& what) {
  if (spec.kind == WindowKind::kNone) return {0, height, 0, width};
  if (!frame_holds_window(spec, height, width)) {
    throw Error(cat(what, " ", width, "x", height, " is smaller than the window ", spec.width,
                    "x", spec.height,
                    spec.right_margin > 0 ? cat(" (needs at least ", spec.width + spec.right_margin,
                                                "x", spec.height, ")")
                                          : std::string(),
                    " (WxH); turn the window off or set a smaller one"));
  }
  const int left = spec.kind == WindowKind::kBottomCentre
                       ? (width - spec.width) / 2
                       : width - spec.width - spec.right_margin;
  return {height - spec.height, height, left, left + spec.width};
}

WindowChoice parse_window_choice(const std::string& name) {
  if (name == "auto") return WindowChoice::kAuto;
  if (name == "on") return WindowChoice::kOn;
  if (name == "off") return WindowChoice::kOff;
  throw UsageError(cat("--window ", name, ": expected auto, on or off"));
}

std::string to_string(WindowChoice choice) {
  switch (choice) {
    case WindowChoice::kOn: return "on";
    case WindowChoice::kOff: return "off";
    case WindowChoice::kAuto: break;
  }
  return "auto";
}

}  // namespace glpdepth
