#include "glpdepth/io/video.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <set>

#include "glpdepth/util/error.h"
#include "glpdepth/util/strings.h"

#if GLPDEPTH_HAVE_VIDEO
extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
}
#endif

namespace glpdepth {
namespace fs = std::filesystem;

bool looks_like_video(const fs::path& path) {
  static const std::set<std::string> extensions = {".mp4", ".m4v", ".mkv", ".mov", ".avi", ".webm",
                                                   ".mjpeg", ".mjpg", ".y4m", ".ts", ".mpg", ".mpeg"};
  return extensions.count(to_lower(path.extension().string())) > 0;
}

#if !GLPDEPTH_HAVE_VIDEO

bool video_supported() { return false; }
std::string video_library_versions() { return ""; }

namespace {
[[noreturn]] void no_video(const fs::path& path) {
  throw Error(cat("video ", path.string(), ": this build of glpdepth has no video support (FFmpeg's "
                  "libavformat, libavcodec and libswscale were not found when it was built)"));
}
}  // namespace

struct VideoReader::State {};
VideoReader::VideoReader(const fs::path& path, VideoReaderOptions) { no_video(path); }
VideoReader::~VideoReader() = default;
const VideoInfo& VideoReader::info() const { throw Error("no video support"); }
bool VideoReader::next(VideoFrame&) { return false; }
int64_t VideoReader::corrupt_frames() const { return 0; }

struct VideoWriter::State {};
VideoWriter::VideoWriter(const fs::path& path, int, int, const VideoWriterOptions&) { no_video(path); }
VideoWriter::~VideoWriter() = default;
void VideoWriter::write(const Image8&, double) {}
void VideoWriter::finish() {}
int64_t VideoWriter::frames() const { return 0; }

#else

bool video_supported() { return true; }

std::string video_library_versions() {
  const auto text = [](unsigned v) { return cat(v >> 16, ".", (v >> 8) & 0xff, ".", v & 0xff); };
  return cat("FFmpeg (libavformat ", text(avformat_version()), ", libavcodec ", text(avcodec_version()),
             ", libswscale ", text(swscale_version()), ")");
}

namespace {

std::string av_message(int code) {
  std::array<char, AV_ERROR_MAX_STRING_SIZE> text{};
  av_strerror(code, text.data(), text.size());
  return text.data();
}

std::string format_time(double seconds) { return cat(std::round(seconds * 1000.0) / 1000.0, " s"); }

}  // namespace

// ---- reading -------------------------------------------------------------------------------

struct VideoReader::State {
  fs::path path;
  VideoReaderOptions options;
  VideoInfo info;
  AVFormatContext* format = nullptr;
  AVCodecContext* codec = nullptr;
  AVPacket* packet = nullptr;
  AVFrame* frame = nullptr;
  SwsContext* sws = nullptr;
  int stream = -1;
  double time_base = 0;
  int64_t start_pts = 0;
  int64_t next_index = 0;
  int64_t corrupt = 0;
  bool draining = false;

  ~State() {
    sws_freeContext(sws);
    av_frame_free(&frame);
    av_packet_free(&packet);
    avcodec_free_context(&codec);
    avformat_close_input(&format);
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(cat("video ", path.string(), ": ", what));
  }

  void skip_corrupt(const std::string& why) {
    const int64_t index = next_index++;
    ++corrupt;
    const double time = info.fps > 0 ? index / info.fps : 0.0;
    if (options.on_corrupt_frame)
      options.on_corrupt_frame(cat("video ", path.string(), ": frame ", index, " (about ",
                                   format_time(time), "): ", why, "; skipped"));
  }

  Image8 to_rgb(const AVFrame* decoded) {
    const int w = decoded->width, h = decoded->height;
    sws = sws_getCachedContext(sws, w, h, static_cast<AVPixelFormat>(decoded->format), w, h,
                               AV_PIX_FMT_RGB24, SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT,
                               nullptr, nullptr, nullptr);
    if (!sws) fail(cat("cannot convert pixel format ", decoded->format, " to RGB"));
    Image8 image(w, h, 3);
    uint8_t* planes[4] = {image.pixels.data(), nullptr, nullptr, nullptr};
    int strides[4] = {3 * w, 0, 0, 0};
    sws_scale(sws, decoded->data, decoded->linesize, 0, h, planes, strides);
    return image;
  }

  // Feeds the decoder one packet of the video stream (or the end); false when nothing is left.
  bool feed() {
    if (draining) return false;
    while (true) {
      const int read = av_read_frame(format, packet);
      if (read == AVERROR_EOF) {
        draining = true;
        avcodec_send_packet(codec, nullptr);
        return true;
      }
      if (read < 0) fail(cat("reading failed after frame ", next_index, ": ", av_message(read)));
      if (packet->stream_index != stream) {
        av_packet_unref(packet);
        continue;
      }
      const int sent = avcodec_send_packet(codec, packet);
      av_packet_unref(packet);
      if (sent < 0 && sent != AVERROR(EAGAIN)) skip_corrupt(cat("cannot be decoded (", av_message(sent), ")"));
      return true;
    }
  }
};

VideoReader::VideoReader(const fs::path& path, VideoReaderOptions options)
    : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.path = path;
  s.options = std::move(options);
  if (!fs::exists(path)) s.fail("no such file");
  av_log_set_level(AV_LOG_QUIET);  // errors reach the user through our messages
  int code = avformat_open_input(&s.format, path.c_str(), nullptr, nullptr);
  if (code < 0) s.fail(cat("not a video FFmpeg can read (", av_message(code), ")"));
  code = avformat_find_stream_info(s.format, nullptr);
  if (code < 0) s.fail(cat("cannot read the streams (", av_message(code), ")"));
  const AVCodec* decoder = nullptr;
  s.stream = av_find_best_stream(s.format, AVMEDIA_TYPE_VIDEO, -1, -1, &decoder, 0);
  if (s.stream == AVERROR_STREAM_NOT_FOUND) s.fail("no video stream in the file");
  const AVStream* stream = s.format->streams[s.stream >= 0 ? s.stream : 0];
  if (s.stream == AVERROR_DECODER_NOT_FOUND || !decoder)
    s.fail(cat("no decoder for its codec ", avcodec_get_name(stream->codecpar->codec_id),
               " in this FFmpeg"));
  if (s.stream < 0) s.fail(cat("cannot select the video stream (", av_message(s.stream), ")"));
  s.codec = avcodec_alloc_context3(decoder);
  if (!s.codec || avcodec_parameters_to_context(s.codec, stream->codecpar) < 0)
    s.fail("cannot set up the decoder");
  // A damaged frame is an error for the decoder (then skipped with a warning), never concealed.
  s.codec->err_recognition |= AV_EF_EXPLODE;
  s.codec->thread_count = 1;  // the decoder shares the machine with the network
  code = avcodec_open2(s.codec, decoder, nullptr);
  if (code < 0) s.fail(cat("cannot open the ", decoder->name, " decoder (", av_message(code), ")"));
  s.packet = av_packet_alloc();
  s.frame = av_frame_alloc();
  if (!s.packet || !s.frame) s.fail("out of memory");

  s.time_base = av_q2d(stream->time_base);
  s.start_pts = stream->start_time != AV_NOPTS_VALUE ? stream->start_time : 0;
  VideoInfo& info = s.info;
  info.width = stream->codecpar->width;
  info.height = stream->codecpar->height;
  if (stream->avg_frame_rate.num > 0 && stream->avg_frame_rate.den > 0)
    info.fps = av_q2d(stream->avg_frame_rate);
  info.frames = stream->nb_frames > 0 ? stream->nb_frames : -1;
  if (stream->duration != AV_NOPTS_VALUE) {
    info.duration = stream->duration * s.time_base;
  } else if (s.format->duration != AV_NOPTS_VALUE) {
    info.duration = static_cast<double>(s.format->duration) / AV_TIME_BASE;
  }
  info.codec = avcodec_get_name(stream->codecpar->codec_id);
  info.container = s.format->iformat->name;
  if (info.width <= 0 || info.height <= 0) s.fail("the video stream has no frame size");
}

VideoReader::~VideoReader() = default;

const VideoInfo& VideoReader::info() const { return state_->info; }

int64_t VideoReader::corrupt_frames() const { return state_->corrupt; }

bool VideoReader::next(VideoFrame& out) {
  State& s = *state_;
  while (true) {
    const int got = avcodec_receive_frame(s.codec, s.frame);
    if (got == AVERROR(EAGAIN)) {
      if (!s.feed()) return false;
      continue;
    }
    if (got == AVERROR_EOF) {
      if (s.info.frames > 0 && s.next_index < s.info.frames)
        s.fail(cat("ends after ", s.next_index, " of the ", s.info.frames,
                   " frames its container declares (truncated?)"));
      return false;
    }
    if (got < 0) {
      s.skip_corrupt(cat("cannot be decoded (", av_message(got), ")"));
      continue;
    }
    if ((s.frame->flags & AV_FRAME_FLAG_CORRUPT) || s.frame->decode_error_flags) {
      av_frame_unref(s.frame);
      s.skip_corrupt("flagged corrupt by the decoder");
      continue;
    }
    out.index = s.next_index++;
    const int64_t pts = s.frame->best_effort_timestamp;
    out.time = pts != AV_NOPTS_VALUE ? (pts - s.start_pts) * s.time_base
                                     : (s.info.fps > 0 ? out.index / s.info.fps : 0.0);
    out.image = s.to_rgb(s.frame);
    av_frame_unref(s.frame);
    return true;
  }
}

// ---- writing -------------------------------------------------------------------------------

namespace {
constexpr int kTimeScale = 90000;  // MPEG's clock: time stamps to 11 us
}

struct VideoWriter::State {
  fs::path path, part;
  int width = 0, height = 0;  // the frames'
  AVFormatContext* format = nullptr;
  AVCodecContext* codec = nullptr;
  AVStream* stream = nullptr;
  AVFrame* frame = nullptr;
  AVPacket* packet = nullptr;
  SwsContext* sws = nullptr;
  int64_t frames = 0;
  int64_t last_pts = -1;
  bool finished = false;

  ~State() {
    sws_freeContext(sws);
    av_frame_free(&frame);
    av_packet_free(&packet);
    avcodec_free_context(&codec);
    if (format) {
      if (format->pb) avio_closep(&format->pb);
      avformat_free_context(format);
    }
    if (!finished && !part.empty()) {
      std::error_code ignored;
      fs::remove(part, ignored);
    }
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(cat("video ", path.string(), ": ", what));
  }

  // Sends `input` (nullptr: the end) and writes every packet the encoder has ready.
  void encode(const AVFrame* input) {
    int code = avcodec_send_frame(codec, input);
    if (code < 0) fail(cat("encoding failed (", av_message(code), ")"));
    while ((code = avcodec_receive_packet(codec, packet)) >= 0) {
      av_packet_rescale_ts(packet, codec->time_base, stream->time_base);
      packet->stream_index = stream->index;
      const int written = av_interleaved_write_frame(format, packet);
      if (written < 0) fail(cat("cannot write (", av_message(written), ")"));
    }
    if (code != AVERROR(EAGAIN) && code != AVERROR_EOF) fail(cat("encoding failed (", av_message(code), ")"));
  }
};

VideoWriter::VideoWriter(const fs::path& path, int width, int height, const VideoWriterOptions& options)
    : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.path = path;
  s.width = width;
  s.height = height;
  if (width <= 0 || height <= 0) s.fail(cat("frame size ", width, "x", height, " is empty"));
  check(options.fps > 0, "video ", path.string(), ": frame rate must be positive, got ", options.fps);
  av_log_set_level(AV_LOG_QUIET);
  int code = avformat_alloc_output_context2(&s.format, nullptr, nullptr, path.c_str());
  if (code < 0 || !s.format) s.fail(cat("no container for this file name (", av_message(code), ")"));
  const AVCodec* encoder = avcodec_find_encoder_by_name("libx264");
  if (!encoder) encoder = avcodec_find_encoder(AV_CODEC_ID_H264);
  if (!encoder) s.fail("this FFmpeg has no H.264 encoder");
  s.codec = avcodec_alloc_context3(encoder);
  if (!s.codec) s.fail("out of memory");
  s.codec->width = width + (width % 2);
  s.codec->height = height + (height % 2);
  s.codec->pix_fmt = AV_PIX_FMT_YUV420P;
  s.codec->time_base = AVRational{1, kTimeScale};
  s.codec->framerate = av_d2q(options.fps, 100000);
  s.codec->max_b_frames = 0;  // presentation order = decoding order: exact time stamps, low latency
  s.codec->thread_count = 1;  // the encoder shares the machine with the network
  if (s.format->oformat->flags & AVFMT_GLOBALHEADER) s.codec->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  AVDictionary* settings = nullptr;
  av_dict_set(&settings, "crf", std::to_string(options.crf).c_str(), 0);
  av_dict_set(&settings, "preset", options.preset.c_str(), 0);
  code = avcodec_open2(s.codec, encoder, &settings);
  av_dict_free(&settings);
  if (code < 0) s.fail(cat("cannot open the ", encoder->name, " encoder (", av_message(code), ")"));

  s.stream = avformat_new_stream(s.format, nullptr);
  if (!s.stream || avcodec_parameters_from_context(s.stream->codecpar, s.codec) < 0)
    s.fail("cannot add the video stream");
  s.stream->time_base = s.codec->time_base;
  s.stream->avg_frame_rate = s.codec->framerate;
  for (const auto& [key, value] : options.metadata)
    av_dict_set(&s.format->metadata, key.c_str(), value.c_str(), 0);

  s.part = path;
  s.part += ".part";
  code = avio_open(&s.format->pb, s.part.c_str(), AVIO_FLAG_WRITE);
  if (code < 0) {
    s.part.clear();
    s.fail(cat("cannot create it (", av_message(code), ")"));
  }
  code = avformat_write_header(s.format, nullptr);
  if (code < 0) s.fail(cat("cannot write the header (", av_message(code), ")"));
  s.frame = av_frame_alloc();
  s.packet = av_packet_alloc();
  if (!s.frame || !s.packet) s.fail("out of memory");
  s.frame->format = s.codec->pix_fmt;
  s.frame->width = s.codec->width;
  s.frame->height = s.codec->height;
  if (av_frame_get_buffer(s.frame, 0) < 0) s.fail("out of memory");
  s.sws = sws_getContext(s.codec->width, s.codec->height, AV_PIX_FMT_RGB24, s.codec->width,
                         s.codec->height, AV_PIX_FMT_YUV420P, SWS_BICUBIC | SWS_ACCURATE_RND,
                         nullptr, nullptr, nullptr);
  if (!s.sws) s.fail("cannot convert RGB to yuv420p");
}

VideoWriter::~VideoWriter() = default;

int64_t VideoWriter::frames() const { return state_->frames; }

void VideoWriter::write(const Image8& rgb, double time) {
  State& s = *state_;
  if (s.finished) s.fail("write after finish()");
  if (rgb.channels != 3 || rgb.width != s.width || rgb.height != s.height)
    s.fail(cat("frame ", s.frames, " is ", rgb.width, "x", rgb.height, "x", rgb.channels,
               ", the video ", s.width, "x", s.height, "x3"));
  const int64_t pts = std::llround(time * kTimeScale);
  if (pts <= s.last_pts)
    s.fail(cat("frame ", s.frames, " at ", time, " s does not come after the frame before it"));
  // Odd sizes: the last column and row repeat into the padding.
  const int w = s.codec->width, h = s.codec->height;
  Image8 padded(w, h, 3);
  for (int y = 0; y < h; ++y) {
    const uint8_t* row = rgb.pixels.data() + static_cast<size_t>(std::min(y, rgb.height - 1)) * rgb.width * 3;
    uint8_t* dst = padded.pixels.data() + static_cast<size_t>(y) * w * 3;
    std::copy(row, row + static_cast<size_t>(rgb.width) * 3, dst);
    if (w > rgb.width) std::copy(row + (rgb.width - 1) * 3, row + rgb.width * 3, dst + rgb.width * 3);
  }
  if (av_frame_make_writable(s.frame) < 0) s.fail("out of memory");
  const uint8_t* planes[4] = {padded.pixels.data(), nullptr, nullptr, nullptr};
  const int strides[4] = {3 * w, 0, 0, 0};
  sws_scale(s.sws, planes, strides, 0, h, s.frame->data, s.frame->linesize);
  s.frame->pts = pts;
  s.encode(s.frame);
  s.last_pts = pts;
  ++s.frames;
}

void VideoWriter::finish() {
  State& s = *state_;
  if (s.finished) return;
  s.encode(nullptr);
  const int code = av_write_trailer(s.format);
  if (code < 0) s.fail(cat("cannot finish the file (", av_message(code), ")"));
  avio_closep(&s.format->pb);
  std::error_code error;
  fs::rename(s.part, s.path, error);
  if (error) s.fail(cat("cannot move ", s.part.string(), " into place: ", error.message()));
  s.finished = true;
}

#endif

}  // namespace glpdepth
