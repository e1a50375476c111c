// `glpdepth predict` on video: each frame's depth equals predict on the same decoded frame saved
// as an image, and is close to predict on the original frame (the codec's loss, measured); the
// depth video keeps the frame count and time stamps (checked with FFmpeg's demuxer alone) and
// states its fixed colour scale; --every/--start/--duration choose frames; numbered frames become
// a video; damaged input gives a clear error (nothing written) or, for one corrupt frame, a
// warning and the rest of the run.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <fstream>
#include <iterator>

#include "common/run_cli.h"
#include "common/temp_dir.h"
#include "common/video.h"
#include "glpdepth/io/depth_outputs.h"
#include "glpdepth/io/image.h"
#include "glpdepth/io/video.h"

namespace glpdepth {
namespace {
namespace fs = std::filesystem;
using testing::run_glpdepth;

constexpr int kWidth = 128, kHeight = 64, kFrames = 8;  // even: no padding in the video

class VideoCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!video_supported()) return;
    auto [code, output] = run_glpdepth("export --random_weights --encoder b0 --seed 1 --format safetensors --output " +
                                       (dir_ / "w.safetensors").string());
    ASSERT_EQ(code, 0) << output;
    std::tie(code, output) = run_glpdepth("export --random_weights --encoder b0 --seed 1 --canonical_focal 700 "
                                          "--format safetensors --output " + (dir_ / "camera.safetensors").string());
    ASSERT_EQ(code, 0) << output;
    // One synthetic drive of kFrames frames (a small KITTI-like camera of even size), encoded as a
    // 10 fps video by our own writer; the frames are kept as originals/f<k>.png.
    std::tie(code, output) = run_glpdepth("synth --output " + (dir_ / "data").string() + " --count " +
                                          std::to_string(kFrames) + " --frames_per_drive " + std::to_string(kFrames) +
                                          " --camera 120,120,64,30," + std::to_string(kWidth) + "," +
                                          std::to_string(kHeight) + " --layout kitti --seed 4 --val_fraction 0 --test_fraction 0");
    ASSERT_EQ(code, 0) << output;
    std::vector<fs::path> frames;
    for (const auto& entry : fs::recursive_directory_iterator(dir_ / "data" / "raw_data"))
      if (entry.path().extension() == ".png" && entry.path().string().find("image_02") != std::string::npos)
        frames.push_back(entry.path());
    std::sort(frames.begin(), frames.end());
    ASSERT_EQ(frames.size(), static_cast<size_t>(kFrames));
    fs::create_directories(dir_ / "originals");
    VideoWriterOptions options;
    options.fps = 10;
    VideoWriter writer(dir_ / "clip.mp4", kWidth, kHeight, options);
    for (int k = 0; k < kFrames; ++k) {
      const Image8 frame = read_image(frames[static_cast<size_t>(k)]);
      write_image(dir_ / "originals" / ("f" + std::to_string(k) + ".png"), frame);
      writer.write(frame, k / 10.0);
    }
    writer.finish();
  }

  std::pair<int, std::string> predict(const std::string& args) {
    return run_glpdepth("predict " + args + " --ckpt " + (dir_ / "w.safetensors").string() + " --threads 1");
  }

  testing::TempDir dir_;
};

double relative_l2(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a - b).norm() / b.norm()).item<double>();
}

TEST_F(VideoCli, EachFramesDepthEqualsPredictOnTheDecodedFrameAndNearlyOnTheOriginal) {
  GLPDEPTH_REQUIRE_VIDEO_OR_SKIP();
  // The decoded frames, saved as images by the library's reader.
  fs::create_directories(dir_ / "decoded");
  {
    VideoReader reader(dir_ / "clip.mp4");
    VideoFrame frame;
    while (reader.next(frame))
      write_image(dir_ / "decoded" / ("f" + std::to_string(frame.index) + ".png"), frame.image);
  }
  auto [code, output] = predict((dir_ / "clip.mp4").string() + " --save_npy --output " + (dir_ / "v").string());
  ASSERT_EQ(code, 0) << output;
  EXPECT_NE(output.find("8 frames"), std::string::npos) << output;
  std::tie(code, output) = predict((dir_ / "decoded").string() + " --save_npy --output " + (dir_ / "d").string());
  ASSERT_EQ(code, 0) << output;
  std::tie(code, output) = predict((dir_ / "originals").string() + " --save_npy --output " + (dir_ / "o").string());
  ASSERT_EQ(code, 0) << output;
  double worst_codec = 0;
  for (int k = 0; k < kFrames; ++k) {
    char name[64];
    std::snprintf(name, sizeof name, "clip_%06d_%.3fs_depth.npy", k, k / 10.0);
    const torch::Tensor from_video = read_npy(dir_ / "v" / name);
    const torch::Tensor from_decoded = read_npy(dir_ / "d" / ("f" + std::to_string(k) + "_depth.npy"));
    const torch::Tensor from_original = read_npy(dir_ / "o" / ("f" + std::to_string(k) + "_depth.npy"));
    ASSERT_EQ(from_video.sizes(), from_original.sizes());
    EXPECT_LE((from_video - from_decoded).abs().max().item<double>(), 1e-6) << name;
    worst_codec = std::max(worst_codec, relative_l2(from_video, from_original));
  }
  // H.264 at crf 18 changes the depth by 2.5e-3 relative L2 at most on this drive with random
  // b0 weights (measured 2026-12-05); a frame mixed up with its neighbour would be far above.
  EXPECT_LT(worst_codec, 0.02);
  std::cout << "codec loss in depth: worst relative L2 " << worst_codec << "\n";

  const testing::DemuxedStream depth_video = testing::demux(dir_ / "v" / "clip_depth.mp4");
  EXPECT_EQ(depth_video.codec, "h264");
  ASSERT_EQ(depth_video.times.size(), static_cast<size_t>(kFrames));
  for (int k = 0; k < kFrames; ++k) EXPECT_NEAR(depth_video.times[static_cast<size_t>(k)], k / 10.0, 1e-4);
  EXPECT_NE(depth_video.comment.find("turbo colour scale, 0 to 80 m, fixed for the whole video"), std::string::npos)
      << depth_video.comment;
}

TEST_F(VideoCli, EveryStartAndDurationChooseTheFramesAndKeepTheirTimes) {
  GLPDEPTH_REQUIRE_VIDEO_OR_SKIP();
  auto [code, output] = predict((dir_ / "clip.mp4").string() + " --every 2 --start 0.2 --duration 0.5" +
                                " --save_png16 --video_layout side-by-side --output " + (dir_ / "v").string());
  ASSERT_EQ(code, 0) << output;
  for (const char* name : {"clip_000002_0.200s_depth16.png", "clip_000004_0.400s_depth16.png",
                           "clip_000006_0.600s_depth16.png"})
    EXPECT_TRUE(fs::exists(dir_ / "v" / name)) << name;
  EXPECT_FALSE(fs::exists(dir_ / "v" / "clip_000003_0.300s_depth16.png"));
  const testing::DemuxedStream video = testing::demux(dir_ / "v" / "clip_depth.mp4");
  ASSERT_EQ(video.times.size(), 3u);
  // Times relative to the output's first frame: the input's spacing is kept.
  EXPECT_NEAR(video.times[1] - video.times[0], 0.2, 1e-4);
  EXPECT_NEAR(video.times[2] - video.times[0], 0.4, 1e-4);
  EXPECT_GT(video.width, 2 * kWidth);  // image | depth | colour bar
}

TEST_F(VideoCli, NumberedFramesBecomeADepthVideoAtTenFramesPerSecond) {
  GLPDEPTH_REQUIRE_VIDEO_OR_SKIP();
  auto [code, output] = predict((dir_ / "originals").string() + " --save_video --output " + (dir_ / "o").string());
  ASSERT_EQ(code, 0) << output;
  const testing::DemuxedStream video = testing::demux(dir_ / "o" / "depth.mp4");
  ASSERT_EQ(video.times.size(), static_cast<size_t>(kFrames));
  for (int k = 0; k < kFrames; ++k) EXPECT_NEAR(video.times[static_cast<size_t>(k)], k / 10.0, 1e-4);
  EXPECT_TRUE(fs::exists(dir_ / "o" / "f0_depth.png"));  // the per-image outputs as always
}

// Camera-aware models take the camera from --intrinsics (or --calib) for every frame, as for
// images; without it the run stops before anything is written.
TEST_F(VideoCli, CameraAwareModelsTakeTheIntrinsicsAsForImages) {
  GLPDEPTH_REQUIRE_VIDEO_OR_SKIP();
  const std::string weights = " --ckpt " + (dir_ / "camera.safetensors").string() + " --threads 1";
  auto [code, output] = run_glpdepth("predict " + (dir_ / "clip.mp4").string() + weights + " --output " +
                                     (dir_ / "none").string());
  EXPECT_EQ(code, 2) << output;  // a flag is missing, as for images
  EXPECT_NE(output.find("needs the camera: --intrinsics fx,fy,cx,cy or --calib FILE"), std::string::npos) << output;
  EXPECT_FALSE(fs::exists(dir_ / "none"));
  std::tie(code, output) = run_glpdepth("predict " + (dir_ / "clip.mp4").string() + weights +
                                        " --intrinsics 120,120,64,30 --save_ply --save_npy --output " +
                                        (dir_ / "cam").string());
  ASSERT_EQ(code, 0) << output;
  std::tie(code, output) = run_glpdepth("predict " + (dir_ / "originals").string() + weights +
                                        " --intrinsics 120,120,64,30 --save_npy --output " + (dir_ / "img").string());
  ASSERT_EQ(code, 0) << output;
  EXPECT_TRUE(fs::exists(dir_ / "cam" / "clip_000003_0.300s.ply"));
  // Halving the focal length halves a camera-aware model's depth: the intrinsics reach the frames.
  std::tie(code, output) = run_glpdepth("predict " + (dir_ / "clip.mp4").string() + weights +
                                        " --intrinsics 60,60,64,30 --save_npy --output " + (dir_ / "half").string());
  ASSERT_EQ(code, 0) << output;
  const torch::Tensor full = read_npy(dir_ / "cam" / "clip_000003_0.300s_depth.npy");
  const torch::Tensor half = read_npy(dir_ / "half" / "clip_000003_0.300s_depth.npy");
  EXPECT_TRUE(torch::allclose(half * 2, full, 1e-4, 1e-5));
}

TEST_F(VideoCli, BadVideosGiveAClearErrorAndWriteNothing) {
  GLPDEPTH_REQUIRE_VIDEO_OR_SKIP();
  std::ofstream(dir_ / "text.mp4") << "not a video\n";
  auto [code, output] = predict((dir_ / "text.mp4").string() + " --output " + (dir_ / "out").string());
  EXPECT_EQ(code, 1) << output;
  EXPECT_NE(output.find("error: video " + (dir_ / "text.mp4").string() + ": not a video"), std::string::npos)
      << output;
  EXPECT_FALSE(fs::exists(dir_ / "out"));
  std::tie(code, output) = predict((dir_ / "clip.mp4").string() + " " + (dir_ / "originals" / "f0.png").string() +
                                   " --output " + (dir_ / "out").string());
  EXPECT_EQ(code, 2) << output;
  EXPECT_NE(output.find("a video must be predict's only input"), std::string::npos) << output;
  std::tie(code, output) = predict((dir_ / "originals").string() + " --every 2 --output " + (dir_ / "out").string());
  EXPECT_EQ(code, 2) << output;
  EXPECT_FALSE(fs::exists(dir_ / "out"));
  // A colour range that cannot be, for a video and for images: refused before the folder is made.
  for (const std::string input : {(dir_ / "clip.mp4").string(), (dir_ / "originals").string()}) {
    std::tie(code, output) = predict(input + " --vis_min 1 --vis_max 0.5 --output " + (dir_ / "out").string());
    EXPECT_EQ(code, 2) << output;
    EXPECT_FALSE(fs::exists(dir_ / "out")) << input;
  }
}

TEST_F(VideoCli, ACorruptFrameIsReportedAndTheRunGoesOn) {
  GLPDEPTH_REQUIRE_VIDEO_OR_SKIP();
  // Raw MJPEG (concatenated JPEGs) with frame 2's header damaged (0 colour components).
  std::string stream;
  for (int k = 0; k < 5; ++k) {
    const fs::path jpeg = dir_ / ("f" + std::to_string(k) + ".jpg");
    write_image(jpeg, testing::moving_pattern(kWidth, kHeight, k), 90);
    std::ifstream in(jpeg, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (k == 2) bytes[bytes.find("\xFF\xC0") + 9] = 0;
    stream += bytes;
  }
  std::ofstream(dir_ / "cam.mjpeg", std::ios::binary) << stream;
  auto [code, output] = predict((dir_ / "cam.mjpeg").string() + " --save_npy --output " + (dir_ / "v").string());
  ASSERT_EQ(code, 0) << output;
  EXPECT_NE(output.find("warning: video " + (dir_ / "cam.mjpeg").string() + ": frame 2 "), std::string::npos) << output;
  EXPECT_NE(output.find("4 frames"), std::string::npos) << output;
  EXPECT_NE(output.find("1 corrupt frames skipped"), std::string::npos) << output;
  int npy = 0;
  for (const auto& entry : fs::directory_iterator(dir_ / "v")) npy += entry.path().extension() == ".npy";
  EXPECT_EQ(npy, 4);
}

}  // namespace
}  // namespace glpdepth
