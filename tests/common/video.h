// Video helpers for tests: a second, independent path through a video file (FFmpeg's demuxer on
// its own: no decoding, none of glpdepth's code) giving the video stream's packets and their time
// stamps; a moving test pattern; and the skip rule for builds without video.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "glpdepth/io/image.h"
#include "glpdepth/io/video.h"

#if GLPDEPTH_HAVE_VIDEO
extern "C" {
#include <libavformat/avformat.h>
}
#endif

namespace glpdepth::testing {

// A smooth pattern that moves with k: frame k differs from frame k+1, and codecs keep it well.
inline Image8 moving_pattern(int width, int height, int k) {
  Image8 image(width, height, 3);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      uint8_t* p = image.at(x, y);
      p[0] = static_cast<uint8_t>(128 + 100 * std::sin(0.1 * x + 0.3 * k));
      p[1] = static_cast<uint8_t>(128 + 100 * std::cos(0.13 * y - 0.2 * k));
      p[2] = static_cast<uint8_t>((x + y + 5 * k) % 256 / 2 + 64);
    }
  return image;
}

struct DemuxedStream {
  std::string codec;
  int width = 0, height = 0;
  std::vector<double> times;  // presentation times of the packets in seconds, sorted
  std::string comment;        // the container's "comment" metadata
};

inline DemuxedStream demux(const std::filesystem::path& path) {
  DemuxedStream out;
#if GLPDEPTH_HAVE_VIDEO
  AVFormatContext* format = nullptr;
  if (avformat_open_input(&format, path.c_str(), nullptr, nullptr) < 0) return out;
  avformat_find_stream_info(format, nullptr);
  const int index = av_find_best_stream(format, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  if (index >= 0) {
    const AVStream* stream = format->streams[index];
    out.codec = avcodec_get_name(stream->codecpar->codec_id);
    out.width = stream->codecpar->width;
    out.height = stream->codecpar->height;
    const int64_t start = stream->start_time != AV_NOPTS_VALUE ? stream->start_time : 0;
    AVPacket* packet = av_packet_alloc();
    while (av_read_frame(format, packet) >= 0) {
      if (packet->stream_index == index && packet->pts != AV_NOPTS_VALUE)
        out.times.push_back((packet->pts - start) * av_q2d(stream->time_base));
      av_packet_unref(packet);
    }
    av_packet_free(&packet);
    std::sort(out.times.begin(), out.times.end());
  }
  if (const AVDictionaryEntry* e = av_dict_get(format->metadata, "comment", nullptr, 0)) out.comment = e->value;
  avformat_close_input(&format);
#endif
  return out;
}

// Skips the test where this build has no video, unless GLPDEPTH_REQUIRE_VIDEO=1 (CI), where a
// build that lost its video support must fail instead.
#define GLPDEPTH_REQUIRE_VIDEO_OR_SKIP()                                                     \
  do {                                                                                       \
    if (!glpdepth::video_supported()) {                                                      \
      const char* required = std::getenv("GLPDEPTH_REQUIRE_VIDEO");                          \
      if (required && std::string(required) == "1") FAIL() << "this build has no video";     \
      GTEST_SKIP() << "this build has no video support (FFmpeg's libraries not found)";      \
    }                                                                                        \
  } while (0)

}  // namespace glpdepth::testing
