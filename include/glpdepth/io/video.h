// Video files through FFmpeg's libraries (libavformat, libavcodec, libswscale; no ffmpeg
// binary): VideoReader decodes frames to RGB with their presentation times, VideoWriter encodes
// RGB frames to H.264 (yuv420p) with the time stamps it is given. FFmpeg's types stay in
// src/io/video.cpp. Builds without FFmpeg (the CMake option GLPDEPTH_WITH_VIDEO, on where the
// libraries are found) keep these declarations; opening then throws Error saying so.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "glpdepth/io/image.h"

namespace glpdepth {

// Whether this build reads and writes video.
bool video_supported();
// "FFmpeg (libavformat 59.27.100, libavcodec 59.37.100)", or "" without video support.
std::string video_library_versions();
// Whether `path` names a video by its extension (.mp4 .mkv .mov .avi .webm .m4v .mjpeg .y4m ...).
bool looks_like_video(const std::filesystem::path& path);

struct VideoInfo {
  int width = 0, height = 0;
  double fps = 0;           // the stream's average frame rate (0: unknown)
  int64_t frames = -1;      // frames the container declares (-1: none declared)
  double duration = 0;      // seconds (0: unknown)
  std::string codec;        // "h264", "mjpeg", ...
  std::string container;    // "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", ...
};

struct VideoFrame {
  Image8 image;       // RGB
  int64_t index = 0;  // 0, 1, 2 ... in presentation order, counting corrupt frames too
  double time = 0;    // presentation time in seconds from the stream's start
};

struct VideoReaderOptions {
  // Called for each frame the decoder flags corrupt or cannot decode: that frame is skipped
  // (never concealed), the message names the file, the frame index and the time.
  std::function<void(const std::string& message)> on_corrupt_frame;
};

class VideoReader {
 public:
  // Opens the first video stream. Error naming the file when it is missing, not a video, has
  // no video stream, or its codec has no decoder in this FFmpeg.
  explicit VideoReader(const std::filesystem::path& path, VideoReaderOptions options = {});
  ~VideoReader();
  VideoReader(const VideoReader&) = delete;
  VideoReader& operator=(const VideoReader&) = delete;

  const VideoInfo& info() const;
  // The next good frame; false at the end. Error naming the file and frame when reading fails
  // for another reason than a corrupt frame, or when the file ends before the frames its
  // container declares (truncated).
  bool next(VideoFrame& frame);
  int64_t corrupt_frames() const;  // skipped so far

 private:
  struct State;
  std::unique_ptr<State> state_;
};

struct VideoWriterOptions {
  double fps = 10;        // the nominal rate (time stamps come with each frame)
  int crf = 18;           // x264's constant rate factor: 0 lossless .. 51; 18 looks lossless
  std::string preset = "veryfast";
  // Container metadata (key -> value), e.g. {"comment", "depth colour scale: ..."}.
  std::map<std::string, std::string> metadata;
};

// Writes <path>.part and renames it to <path> in finish(); destroyed without finish() (an
// error upstream), it removes the partial file: nothing half-written is left.
class VideoWriter {
 public:
  // Frames of width x height; odd sizes are padded to even (yuv420p needs it) by repeating the
  // last column or row. Error naming the file when it cannot be written.
  VideoWriter(const std::filesystem::path& path, int width, int height,
              const VideoWriterOptions& options = {});
  ~VideoWriter();
  VideoWriter(const VideoWriter&) = delete;
  VideoWriter& operator=(const VideoWriter&) = delete;

  // One RGB frame of the writer's size at `time` seconds (times must increase).
  void write(const Image8& rgb, double time);
  // Flushes the encoder, writes the trailer, renames the file into place.
  void finish();
  int64_t frames() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace glpdepth
