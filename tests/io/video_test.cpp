// VideoReader and VideoWriter: what we write reads back with its frame count, time stamps and
// metadata as FFmpeg's demuxer alone sees them (tests/common/video.h), and its pixels within
// the codec's loss; odd sizes are padded; damaged input gives a clear error or, for one
// corrupt frame of an intra-only stream, a warning naming it while the other frames come through;
// a writer that never finishes leaves nothing behind.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <algorithm>
#include <iterator>

#include "common/video.h"
#include "common/temp_dir.h"
#include "glpdepth/io/image.h"
#include "glpdepth/io/video.h"
#include "glpdepth/util/error.h"

namespace glpdepth {
namespace {
namespace fs = std::filesystem;

Image8 pattern(int width, int height, int k) { return testing::moving_pattern(width, height, k); }

double mean_abs_difference(const Image8& a, const Image8& b) {
  double sum = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) sum += std::abs(a.pixels[i] - b.pixels[i]);
  return sum / static_cast<double>(a.pixels.size());
}

fs::path write_video(const fs::path& path, int width, int height, int frames, double fps,
                     const VideoWriterOptions& base = {}) {
  VideoWriterOptions options = base;
  options.fps = fps;
  VideoWriter writer(path, width, height, options);
  for (int k = 0; k < frames; ++k) writer.write(pattern(width, height, k), k / fps);
  writer.finish();
  return path;
}

TEST(Video, WhatWeWriteReadsBackWithItsTimesAndPixelsWithinTheCodecsLoss) {
  GLPDEPTH_REQUIRE_VIDEO_OR_SKIP();
  testing::TempDir dir;
  VideoWriterOptions options;
  options.metadata["comment"] = "turbo colour scale, 0 to 80 m";
  const fs::path path = write_video(dir / "clip.mp4", 96, 64, 12, 10.0, options);
  EXPECT_FALSE(fs::exists(dir / "clip.mp4.part"));

  // The independent path: the demuxer alone.
  const testing::DemuxedStream demuxed = testing::demux(path);
  EXPECT_EQ(demuxed.codec, "h264");
  EXPECT_EQ(demuxed.width, 96);
  ASSERT_EQ(demuxed.times.size(), 12u);
  for (size_t k = 0; k < 12; ++k) EXPECT_NEAR(demuxed.times[k], k / 10.0, 1e-4) << "packet " << k;
  EXPECT_EQ(demuxed.comment, "turbo colour scale, 0 to 80 m");

  VideoReader reader(path);
  EXPECT_EQ(reader.info().width, 96);
  EXPECT_EQ(reader.info().height, 64);
  EXPECT_NEAR(reader.info().fps, 10.0, 1e-6);
  EXPECT_EQ(reader.info().codec, "h264");
  VideoFrame frame;
  int k = 0;
  while (reader.next(frame)) {
    EXPECT_EQ(frame.index, k);
    EXPECT_NEAR(frame.time, demuxed.times[static_cast<size_t>(k)], 1e-9);
    // crf 18, yuv420p: about 1.5 grey levels on this pattern (measured 2026-12-05).
    EXPECT_LT(mean_abs_difference(frame.image, pattern(96, 64, k)), 3.0) << "frame " << k;
    // ... and each frame is its own, not a neighbour's.
    EXPECT_GT(mean_abs_difference(frame.image, pattern(96, 64, k + 1)), 6.0) << "frame " << k;
    ++k;
  }
  EXPECT_EQ(k, 12);
  EXPECT_EQ(reader.corrupt_frames(), 0);
}

TEST(Video, OddSizesArePaddedByRepeatingTheLastColumnAndRow) {
  GLPDEPTH_REQUIRE_VIDEO_OR_SKIP();
  testing::TempDir dir;
  const fs::path path = write_video(dir / "odd.mp4", 63, 47, 3, 10.0);
  VideoReader reader(path);
  EXPECT_EQ(reader.info().width, 64);
  EXPECT_EQ(reader.info().height, 48);
  VideoFrame frame;
  ASSERT_TRUE(reader.next(frame));
  const Image8 original = pattern(63, 47, 0);
  double column = 0;
  for (int y = 0; y < 47; ++y)
    for (int c = 0; c < 3; ++c) column += std::abs(frame.image.at(63, y)[c] - original.at(62, y)[c]);
  EXPECT_LT(column / (47 * 3), 4.0);
}

TEST(Video, FramesMustComeInTimeOrderAndHaveTheVideosSize) {
  GLPDEPTH_REQUIRE_VIDEO_OR_SKIP();
  testing::TempDir dir;
  VideoWriter writer(dir / "x.mp4", 32, 32);
  writer.write(pattern(32, 32, 0), 0.5);
  EXPECT_THROW(writer.write(pattern(32, 32, 1), 0.5), Error);
  EXPECT_THROW(writer.write(pattern(48, 32, 1), 1.0), Error);
}

TEST(Video, AWriterThatNeverFinishesLeavesNothingBehind) {
  GLPDEPTH_REQUIRE_VIDEO_OR_SKIP();
  testing::TempDir dir;
  {
    VideoWriter writer(dir / "gone.mp4", 32, 32);
    writer.write(pattern(32, 32, 0), 0.0);
    EXPECT_TRUE(fs::exists(dir / "gone.mp4.part"));
  }
  EXPECT_FALSE(fs::exists(dir / "gone.mp4"));
  EXPECT_FALSE(fs::exists(dir / "gone.mp4.part"));
}

TEST(Video, FilesThatAreNoVideoOrAreTruncatedGiveAnErrorNamingThem) {
  GLPDEPTH_REQUIRE_VIDEO_OR_SKIP();
  testing::TempDir dir;
  const auto message = [](const fs::path& path) {
    try {
      VideoReader reader(path);
      VideoFrame frame;
      while (reader.next(frame)) {
      }
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message(dir / "missing.mp4").find("missing.mp4: no such file"), std::string::npos);
  std::ofstream(dir / "text.mp4") << "this is not a video\n";
  EXPECT_NE(message(dir / "text.mp4").find("text.mp4: not a video FFmpeg can read"), std::string::npos)
      << message(dir / "text.mp4");
  // A PNG has no video stream worth the name for the mp4 rule, but FFmpeg reads it as one frame;
  // a WAV-like file with only audio has none at all: an empty mp4 header stands in for it.
  const fs::path whole = write_video(dir / "whole.mp4", 64, 48, 20, 10.0);
  std::ifstream in(whole, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::ofstream(dir / "cut.mp4", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  const std::string cut = message(dir / "cut.mp4");
  EXPECT_NE(cut.find("video " + (dir / "cut.mp4").string() + ": "), std::string::npos) << cut;
  EXPECT_NE(cut, "no error");
}

// A NUT file whose one video stream has a codec no FFmpeg decodes (fourcc "ZZZZ"), made with
// FFmpeg's muxer directly.
TEST(Video, AnUnknownCodecIsAnErrorNamingIt) {
  GLPDEPTH_REQUIRE_VIDEO_OR_SKIP();
#if GLPDEPTH_HAVE_VIDEO
  testing::TempDir dir;
  const fs::path path = dir / "odd.nut";
  AVFormatContext* format = nullptr;
  ASSERT_GE(avformat_alloc_output_context2(&format, nullptr, "nut", path.c_str()), 0);
  AVStream* stream = avformat_new_stream(format, nullptr);
  stream->codecpar->codec_type = AVMEDIA_TYPE_VIDEO;
  stream->codecpar->codec_id = AV_CODEC_ID_NONE;
  stream->codecpar->codec_tag = MKTAG('Z', 'Z', 'Z', 'Z');
  stream->codecpar->width = 32;
  stream->codecpar->height = 32;
  stream->time_base = AVRational{1, 10};
  ASSERT_GE(avio_open(&format->pb, path.c_str(), AVIO_FLAG_WRITE), 0);
  ASSERT_GE(avformat_write_header(format, nullptr), 0);
  AVPacket* packet = av_packet_alloc();
  for (int k = 0; k < 3; ++k) {
    ASSERT_GE(av_new_packet(packet, 64), 0);
    std::fill(packet->data, packet->data + 64, static_cast<uint8_t>(k));
    packet->pts = packet->dts = k;
    packet->stream_index = 0;
    packet->flags |= AV_PKT_FLAG_KEY;
    ASSERT_GE(av_interleaved_write_frame(format, packet), 0);
  }
  av_packet_free(&packet);
  av_write_trailer(format);
  avio_closep(&format->pb);
  avformat_free_context(format);
  try {
    VideoReader reader(path);
    FAIL() << "no error for an unknown codec";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("odd.nut: no decoder for its codec"), std::string::npos) << e.what();
  }
#endif
}

// Concatenated JPEGs (the raw MJPEG format, intra-only): the SOF header of frame 2 is damaged
// (0 colour components). The reader skips exactly that frame with a warning naming it and
// returns the others; FFmpeg never conceals it.
TEST(Video, ACorruptFrameIsSkippedWithAWarningNamingItAndTheOthersComeThrough) {
  GLPDEPTH_REQUIRE_VIDEO_OR_SKIP();
  testing::TempDir dir;
  std::string stream;
  for (int k = 0; k < 5; ++k) {
    const fs::path jpeg = dir / ("f" + std::to_string(k) + ".jpg");
    write_image(jpeg, pattern(64, 48, k), 90);
    std::ifstream in(jpeg, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (k == 2) {
      const size_t sof = bytes.find("\xFF\xC0");
      ASSERT_NE(sof, std::string::npos);
      bytes[sof + 9] = 0;  // marker (2), length (2), precision (1), height (2), width (2), components (1)
    }
    stream += bytes;
  }
  std::ofstream(dir / "clip.mjpeg", std::ios::binary) << stream;
  std::vector<std::string> warnings;
  VideoReaderOptions options;
  options.on_corrupt_frame = [&](const std::string& message) { warnings.push_back(message); };
  VideoReader reader(dir / "clip.mjpeg", options);
  EXPECT_EQ(reader.info().codec, "mjpeg");
  std::vector<int64_t> indices;
  VideoFrame frame;
  while (reader.next(frame)) {
    indices.push_back(frame.index);
    EXPECT_LT(mean_abs_difference(frame.image, pattern(64, 48, static_cast<int>(frame.index))), 4.0)
        << "frame " << frame.index;
  }
  EXPECT_EQ(indices, (std::vector<int64_t>{0, 1, 3, 4}));
  EXPECT_EQ(reader.corrupt_frames(), 1);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("clip.mjpeg: frame 2 "), std::string::npos) << warnings[0];
}

TEST(Video, VideoFilesAreToldByTheirExtension) {
  EXPECT_TRUE(looks_like_video("drive.MP4"));
  EXPECT_TRUE(looks_like_video("a/b.mkv"));
  EXPECT_FALSE(looks_like_video("frame.png"));
  EXPECT_FALSE(looks_like_video("list.txt"));
}

}  // namespace
}  // namespace glpdepth
