// Video on the pipeline (infer/pipeline.h): a frame source that decodes a video file, and a sink
// that writes depth as a video (H.264). `glpdepth predict drive.mp4` and `predict --save_video`
// on numbered frames run through them.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "glpdepth/infer/pipeline.h"
#include "glpdepth/io/calib.h"
#include "glpdepth/io/colormap.h"
#include "glpdepth/io/video.h"

namespace glpdepth {

struct VideoSourceOptions {
  int64_t every = 1;     // keep every N-th frame from `start` on
  double start = 0;      // seconds: frames before are decoded and dropped
  double duration = 0;   // seconds from `start`; 0: to the end
  int64_t batch_size = 1;
  std::optional<Intrinsics> intrinsics;  // for camera-aware models and point clouds
  // A corrupt frame is skipped with this message (the run goes on).
  std::function<void(const std::string& message)> on_warning;
};

class VideoFrameSource : public FrameSource {
 public:
  virtual const VideoInfo& info() const = 0;
  // Frames the decoder flagged corrupt or could not decode (skipped) so far.
  virtual int64_t corrupt_frames() const = 0;
};

// Frames named "<stem>_<index, 6 digits>_<time>s.png" (e.g. "drive_000012_1.200s.png"), with
// their presentation times. Error naming the file when it cannot be read as a video.
std::unique_ptr<VideoFrameSource> video_frames(const std::filesystem::path& path,
                                               const VideoSourceOptions& options = {});

enum class VideoLayout {
  kDepth,          // the coloured depth map
  kDepthColorbar,  // depth | colour bar
  kSideBySide,     // image | depth | colour bar (needs the frames' images)
};
// The names of the layouts ("depth", "colorbar", "side-by-side"): the one table flags, parse
// and to_string use.
const std::vector<std::pair<std::string, VideoLayout>>& video_layout_names();
VideoLayout parse_video_layout(const std::string& text);  // UsageError listing the names
std::string to_string(VideoLayout layout);

struct DepthVideoOptions {
  std::filesystem::path path;  // the .mp4 (or .mkv) to write
  double fps = 10;             // nominal rate; frames without time stamps sit at index / fps
  Colormap colormap = Colormap::kTurbo;
  // One fixed colour scale for the whole video (no flicker from per-frame normalisation); it is
  // stated in the file's metadata (comment).
  double vis_min = 0;
  double vis_max = 80;
  VideoLayout layout = VideoLayout::kDepth;
  int crf = 18;
};

// The video is opened at the first frame (its size), finished (trailer, renamed into place) in
// finish(); after a failure upstream nothing is left. Frames must all have one size.
std::unique_ptr<DepthSink> depth_video_sink(const DepthVideoOptions& options);
// "turbo colour scale, 0 to 80 m, fixed for the whole video": the metadata and the log line.
std::string describe_colour_scale(const DepthVideoOptions& options);

}  // namespace glpdepth
