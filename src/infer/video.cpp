#include "glpdepth/infer/video.h"

#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <limits>

#include "glpdepth/io/depth_outputs.h"
#include "glpdepth/util/error.h"
#include "glpdepth/util/names.h"

namespace glpdepth {
namespace {
namespace fs = std::filesystem;

std::string frame_name(const std::string& stem, int64_t index, double time) {
  char text[64];
  std::snprintf(text, sizeof text, "_%06lld_%.3fs.png", static_cast<long long>(index), time);
  return stem + text;
}

class VideoFrames final : public VideoFrameSource {
 public:
  VideoFrames(const fs::path& path, VideoSourceOptions options)
      : options_(std::move(options)), stem_(path.stem().string()),
        reader_(path, VideoReaderOptions{options_.on_warning}) {
    check(options_.every >= 1, "video frames: every must be at least 1, got ", options_.every);
    check(options_.start >= 0 && options_.duration >= 0,
          "video frames: start and duration must not be negative");
    check(options_.batch_size >= 1, "video frames: batch size must be at least 1");
  }

  bool next(Frames& frames) override {
    frames = Frames();
    VideoFrame frame;
    while (static_cast<int64_t>(frames.samples.size()) < options_.batch_size && read(frame)) {
      if (!frames.samples.empty() && (frame.image.width != frames.samples.front().width() ||
                                      frame.image.height != frames.samples.front().height())) {
        pending_ = std::move(frame);  // a new frame size starts the next batch
        break;
      }
      Sample sample;
      sample.name = frame_name(stem_, frame.index, frame.time);
      sample.source = cat("video frame ", frame.index);
      sample.index = frame.index;
      sample.rgb = std::move(frame.image);
      if (options_.intrinsics) sample.intrinsics = *options_.intrinsics;
      frames.times.push_back(frame.time);
      frames.samples.push_back(std::move(sample));
    }
    if (frames.samples.empty()) return false;
    frames.batch = collate(frames.samples);
    return true;
  }

  const VideoInfo& info() const override { return reader_.info(); }
  int64_t corrupt_frames() const override { return reader_.corrupt_frames(); }
  int64_t frame_count() const override {
    const VideoInfo& v = reader_.info();
    double seconds = v.duration > 0 ? v.duration - options_.start : 0;
    if (options_.duration > 0) seconds = std::min(seconds > 0 ? seconds : options_.duration, options_.duration);
    if (seconds <= 0 || v.fps <= 0) return -1;
    return static_cast<int64_t>(std::ceil(seconds * v.fps / static_cast<double>(options_.every)));
  }

 private:
  // The next frame within [start, start + duration) that `every` keeps.
  bool read(VideoFrame& frame) {
    if (pending_) {
      frame = std::move(*pending_);
      pending_.reset();
      return true;
    }
    const double end = options_.duration > 0 ? options_.start + options_.duration
                                             : std::numeric_limits<double>::infinity();
    while (!done_ && reader_.next(frame)) {
      // A millisecond of slack: time stamps are rounded to the stream's clock.
      if (frame.time < options_.start - 1e-3) continue;
      if (frame.time >= end - 1e-3) {
        done_ = true;  // nothing after it is wanted: stop decoding
        break;
      }
      if (seen_++ % options_.every == 0) return true;
    }
    return false;
  }

  VideoSourceOptions options_;
  std::string stem_;
  VideoReader reader_;
  std::optional<VideoFrame> pending_;
  int64_t seen_ = 0;
  bool done_ = false;
};

class DepthVideo final : public DepthSink {
 public:
  explicit DepthVideo(DepthVideoOptions options) : o_(std::move(options)) {
    check(o_.vis_max > o_.vis_min, "depth video colour range: max (", o_.vis_max,
          ") must exceed min (", o_.vis_min, ")");
    check(o_.fps > 0, "depth video: frame rate must be positive, got ", o_.fps);
  }

  void write(const Frames& frames) override {
    check(o_.layout != VideoLayout::kSideBySide ||
              frames.samples.size() == static_cast<size_t>(frames.size()),
          "depth video: side by side needs the frames' images");
    for (int64_t k = 0; k < frames.size(); ++k) {
      const Image8 picture = render(frames, k);
      const double time = frames.times.empty() ? static_cast<double>(written_) / o_.fps
                                               : frames.times[static_cast<size_t>(k)];
      if (!writer_) open(picture, frames.batch.names[static_cast<size_t>(k)]);
      if (picture.width != width_ || picture.height != height_)
        throw Error(cat("depth video ", o_.path.string(), ": frame ",
                        frames.batch.names[static_cast<size_t>(k)], " is ", picture.width, "x",
                        picture.height, ", the video ", width_, "x", height_,
                        " (a video needs frames of one size)"));
      writer_->write(picture, time);
      ++written_;
    }
  }

  void finish() override {
    if (writer_) writer_->finish();
  }

 private:
  Image8 render(const Frames& frames, int64_t k) const {
    const torch::Tensor depth = frames.prediction[k][0].contiguous();
    if (o_.layout == VideoLayout::kDepth) return colorize(depth, o_.colormap, o_.vis_min, o_.vis_max);
    PanelOptions panel;
    panel.colormap = o_.colormap;
    panel.min_depth = o_.vis_min;
    panel.max_depth = o_.vis_max;
    const Image8 none;
    const Image8& image =
        o_.layout == VideoLayout::kSideBySide ? frames.samples[static_cast<size_t>(k)].rgb : none;
    return render_panel(image, depth, panel);
  }

  void open(const Image8& first, const std::string&) {
    width_ = first.width;
    height_ = first.height;
    VideoWriterOptions options;
    options.fps = o_.fps;
    options.crf = o_.crf;
    options.metadata["comment"] = "glpdepth depth: " + describe_colour_scale(o_);
    writer_ = std::make_unique<VideoWriter>(o_.path, width_, height_, options);
  }

  DepthVideoOptions o_;
  std::unique_ptr<VideoWriter> writer_;
  int width_ = 0, height_ = 0;
  int64_t written_ = 0;
};

}  // namespace

std::unique_ptr<VideoFrameSource> video_frames(const fs::path& path, const VideoSourceOptions& options) {
  return std::make_unique<VideoFrames>(path, options);
}

const std::vector<std::pair<std::string, VideoLayout>>& video_layout_names() {
  static const std::vector<std::pair<std::string, VideoLayout>> names = {
      {"depth", VideoLayout::kDepth},
      {"colorbar", VideoLayout::kDepthColorbar},
      {"side-by-side", VideoLayout::kSideBySide}};
  return names;
}

VideoLayout parse_video_layout(const std::string& text) {
  return parse_name(video_layout_names(), text, "video layout");
}

std::string to_string(VideoLayout layout) { return name_of(video_layout_names(), layout); }

std::unique_ptr<DepthSink> depth_video_sink(const DepthVideoOptions& options) {
  return std::make_unique<DepthVideo>(options);
}

std::string describe_colour_scale(const DepthVideoOptions& o) {
  return cat(to_string(o.colormap), " colour scale, ", o.vis_min, " to ", o.vis_max,
             " m, fixed for the whole video");
}

}  // namespace glpdepth
