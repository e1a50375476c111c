#include "glpdepth/io/image.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>

#include "glpdepth/util/atomic_file.h"
#include "glpdepth/util/error.h"

namespace glpdepth {
namespace {
namespace fs = std::filesystem;

class ImageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    dir_ = fs::temp_directory_path() /
           ("glpdepth_image_test_" + std::to_string(rd()) + "_" + std::to_string(rd()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path dir_;
};

Image16 random_image16(int w, int h, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Image16 image(w, h);
  for (auto& v : image.pixels) v = static_cast<uint16_t>(rng() & 0xffff);
  // Extremes must survive: 0 is "invalid depth" and 65535 the largest encodable value.
  image.pixels.front() = 0;
  image.pixels.back() = 65535;
  if (image.pixels.size() > 2) image.pixels[image.pixels.size() / 2] = 65535;
  return image;
}

// Smooth regions plus steps, like a depth map, so every PNG filter gets chosen somewhere.
Image16 depth_like_image16(int w, int h) {
  Image16 image(w, h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      image.at(x, y) = (x > w / 2) ? static_cast<uint16_t>(256 * (y + 1) + x)
                                   : static_cast<uint16_t>(y < h / 3 ? 0 : 60000 - 7 * y);
  return image;
}

void expect_throws_with(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "expected glpdepth::Error";
  } catch (const Error& e) {
    std::string what = e.what();
    for (const auto& part : parts)
      EXPECT_NE(what.find(part), std::string::npos)
          << "message '" << what << "' lacks '" << part << "'";
  }
}

TEST_F(ImageTest, Png16RoundTripInMemoryAndOnDisk) {
  const int sizes[][2] = {{1, 1}, {7, 3}, {33, 17}, {1, 50}, {50, 1}, {121, 37}};
  uint64_t seed = 1;
  for (const auto& size : sizes) {
    for (const Image16& original :
         {random_image16(size[0], size[1], seed++), depth_like_image16(size[0], size[1])}) {
      std::string bytes = encode_png16(original);
      Image16 decoded =
          decode_png16(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "memory");
      ASSERT_EQ(decoded.width, original.width);
      ASSERT_EQ(decoded.height, original.height);
      EXPECT_EQ(decoded.pixels, original.pixels);

      fs::path path = dir_ / "depth.png";
      write_png16(path, original);
      Image16 read = read_png16(path);
      EXPECT_EQ(read.pixels, original.pixels);
      ImageInfo info = probe_image(path);
      EXPECT_EQ(info.width, size[0]);
      EXPECT_EQ(info.height, size[1]);
      EXPECT_EQ(info.channels, 1);
      EXPECT_EQ(info.bits, 16);
    }
  }
  // Atomic writes leave no temporary files behind.
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir_)) files += entry.is_regular_file();
  EXPECT_EQ(files, 1);
}

// An independent decoder (PIL when installed, plus a pure-Python zlib decoder) must read our
// 16-bit PNGs, and our reader must read a 16-bit PNG written by Python.
TEST_F(ImageTest, Png16CrossCheckWithPython) {
  std::string python = GLPDEPTH_TEST_PYTHON;
  if (python.empty() || !fs::exists(python)) GTEST_SKIP() << "no python3";
  Image16 a = random_image16(37, 23, 42);
  Image16 b = depth_like_image16(64, 19);
  write_png16(dir_ / "a.png", a);
  write_png16(dir_ / "b.png", b);
  for (auto [name, image] : {std::pair<const char*, const Image16*>{"a", &a}, {"b", &b}}) {
    std::string raw;
    for (uint16_t v : image->pixels) {
      raw.push_back(static_cast<char>(v & 0xff));
      raw.push_back(static_cast<char>(v >> 8));
    }
    write_bytes_atomic(dir_ / (std::string(name) + ".raw"), raw);
  }
  const char* script = R"PY(
import struct, sys, zlib, os
d = sys.argv[1]

def decode(path):
    data = open(path, 'rb').read()
    assert data[:8] == b'\x89PNG\r\n\x1a\n'
    pos, idat = 8, b''
    while pos < len(data):
        n, = struct.unpack('>I', data[pos:pos+4]); t = data[pos+4:pos+8]; body = data[pos+8:pos+8+n]
        crc, = struct.unpack('>I', data[pos+8+n:pos+12+n])
        assert zlib.crc32(t + body) & 0xffffffff == crc, 'bad crc'
        if t == b'IHDR':
            w, h, depth, ctype, comp, filt, inter = struct.unpack('>IIBBBBB', body)
            assert (depth, ctype, inter) == (16, 0, 0), (depth, ctype, inter)
        elif t == b'IDAT':
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride, bpp, prev, out = 2 * w + 1, 2, bytearray(2 * w), []
    for y in range(h):
        f, line = raw[y * stride], bytearray(raw[y * stride + 1:(y + 1) * stride])
        for i in range(len(line)):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]; c = prev[i - bpp] if i >= bpp else 0
            if f == 1: line[i] = (line[i] + a) & 255
            elif f == 2: line[i] = (line[i] + b) & 255
            elif f == 3: line[i] = (line[i] + ((a + b) >> 1)) & 255
            elif f == 4:
                p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
            else: assert f == 0, f
        out += [line[2 * x] << 8 | line[2 * x + 1] for x in range(w)]
        prev = line
    return w, h, out

for name in ('a', 'b'):
    raw = open(os.path.join(d, name + '.raw'), 'rb').read()
    expected = list(struct.unpack('<%dH' % (len(raw) // 2), raw))
    w, h, got = decode(os.path.join(d, name + '.png'))
    assert got == expected, name + ': pure-python decode differs'
    try:
        from PIL import Image
        import numpy as np
    except ImportError:
        continue
    im = Image.open(os.path.join(d, name + '.png'))
    arr = np.array(im).astype('int64').ravel().tolist()
    assert im.size == (w, h) and arr == expected, name + ': PIL decode differs'

# A 16-bit gray PNG written by Python (filter None, several IDAT chunks) for our reader.
w, h = 5, 3
vals = [0, 1, 255, 256, 65535, 1000, 2000, 3000, 4000, 5000, 7, 77, 777, 7777, 65534]
rows = b''.join(b'\x00' + b''.join(struct.pack('>H', vals[y * w + x]) for x in range(w)) for y in range(h))
z = zlib.compress(rows)
def chunk(t, body): return struct.pack('>I', len(body)) + t + body + struct.pack('>I', zlib.crc32(t + body) & 0xffffffff)
png = b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 16, 0, 0, 0, 0))
png += chunk(b'IDAT', z[:5]) + chunk(b'IDAT', z[5:]) + chunk(b'IEND', b'')
open(os.path.join(d, 'py.png'), 'wb').write(png)
print('ok')
)PY";
  write_bytes_atomic(dir_ / "check.py", script);
  std::string command = python + " " + (dir_ / "check.py").string() + " " + dir_.string() + " > " +
                        (dir_ / "log.txt").string() + " 2>&1";
  int rc = std::system(command.c_str());
  std::string log = read_file_bytes(dir_ / "log.txt");
  ASSERT_EQ(rc, 0) << log;
  Image16 py = read_png16(dir_ / "py.png");
  ASSERT_EQ(py.width, 5);
  ASSERT_EQ(py.height, 3);
  std::vector<uint16_t> expected = {0,    1,    255, 256, 65535, 1000, 2000, 3000,
                                    4000, 5000, 7,   77,  777,   7777, 65534};
  EXPECT_EQ(py.pixels, expected);
}

TEST_F(ImageTest, EightBitPngIsRejectedByReadPng16) {
  Image8 gray(9, 4, 1);
  for (size_t i = 0; i < gray.pixels.size(); ++i) gray.pixels[i] = static_cast<uint8_t>(i * 7);
  fs::path path = dir_ / "gray8.png";
  write_image(path, gray);
  expect_throws_with([&] { read_png16(path); }, {path.string(), "16-bit", "8-bit"});
  Image8 rgb(9, 4, 3);
  fs::path rgb_path = dir_ / "rgb8.png";
  write_image(rgb_path, rgb);
  expect_throws_with([&] { read_png16(rgb_path); }, {rgb_path.string(), "8-bit RGB"});
  // A JPEG is not a PNG at all.
  fs::path jpg = dir_ / "x.jpg";
  write_image(jpg, rgb);
  expect_throws_with([&] { read_png16(jpg); }, {jpg.string(), "not a PNG"});
}

Image8 test_pattern(int w, int h, int channels) {
  Image8 image(w, h, channels);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < channels; ++c)
        image.at(x, y)[c] =
            static_cast<uint8_t>((x * 255) / std::max(1, w - 1) * (c != 1) +
                                 (y * 200) / std::max(1, h - 1) * (c == 1) + (c == 2 ? 30 : 0));
  return image;
}

TEST_F(ImageTest, RgbPngRoundTripIsExact) {
  std::mt19937_64 rng(7);
  for (int channels : {1, 3, 4}) {
    Image8 image(13, 11, channels);
    for (auto& v : image.pixels) v = static_cast<uint8_t>(rng() & 0xff);
    fs::path path = dir_ / "rgb.png";
    write_image(path, image);
    Image8 back = read_image(path, channels);
    EXPECT_EQ(back.width, 13);
    EXPECT_EQ(back.height, 11);
    EXPECT_EQ(back.channels, channels);
    EXPECT_EQ(back.pixels, image.pixels);
    ImageInfo info = probe_image(path);
    EXPECT_EQ(info.channels, channels);
    EXPECT_EQ(info.bits, 8);
  }
}

TEST_F(ImageTest, JpegRoundTripWithinTolerance) {
  Image8 image = test_pattern(65, 31, 3);
  for (const char* name : {"a.jpg", "b.JPEG"}) {
    fs::path path = dir_ / name;
    write_image(path, image, 95);
    Image8 back = read_image(path);
    ASSERT_EQ(back.width, 65);
    ASSERT_EQ(back.height, 31);
    ASSERT_EQ(back.channels, 3);
    double sum = 0;
    int worst = 0;
    for (size_t i = 0; i < image.pixels.size(); ++i) {
      int d = std::abs(int(back.pixels[i]) - int(image.pixels[i]));
      sum += d;
      worst = std::max(worst, d);
    }
    EXPECT_LT(sum / image.pixels.size(), 3.0);
    EXPECT_LT(worst, 40);
  }
  // Reading as gray gives one channel close to the luminance.
  Image8 gray = read_image(dir_ / "a.jpg", 1);
  EXPECT_EQ(gray.channels, 1);
  EXPECT_EQ(gray.pixels.size(), 65u * 31u);
}

// libjpeg-turbo decodes JPEG, as under the reference's cv2.imread: PIL (which links it too) must
// see the same pixels, baseline and progressive, colour and gray. A CMYK file is refused by name.
TEST_F(ImageTest, JpegDecodesToThePixelsPilDecodes) {
  std::string python = GLPDEPTH_TEST_PYTHON;
  if (python.empty() || !fs::exists(python)) GTEST_SKIP() << "no python3";
  write_image(dir_ / "ours.jpg", test_pattern(67, 29, 3), 90);
  const char* script = R"PY(
import sys, os
try:
    from PIL import Image
except ImportError:
    print('no PIL'); sys.exit(3)
d = sys.argv[1]
ramp = Image.frombytes('RGB', (61, 35), bytes((x * 7 + y * 3 + c * 50) % 256
                       for y in range(35) for x in range(61) for c in range(3)))
ramp.save(os.path.join(d, 'progressive.jpg'), quality=85, progressive=True)
ramp.convert('L').save(os.path.join(d, 'gray.jpg'), quality=85)
ramp.convert('CMYK').save(os.path.join(d, 'cmyk.jpg'))
for name, mode in (('ours', 'RGB'), ('progressive', 'RGB'), ('gray', 'L')):
    im = Image.open(os.path.join(d, name + '.jpg'))
    assert im.mode == mode, (name, im.mode)
    open(os.path.join(d, name + '.raw'), 'wb').write(im.tobytes())
print('ok')
)PY";
  write_bytes_atomic(dir_ / "check.py", script);
  const std::string command = python + " " + (dir_ / "check.py").string() + " " + dir_.string() +
                              " > " + (dir_ / "log.txt").string() + " 2>&1";
  const int rc = std::system(command.c_str());
  const std::string log = read_file_bytes(dir_ / "log.txt");
  if (log.find("no PIL") != std::string::npos) GTEST_SKIP() << "python3 has no PIL";
  ASSERT_EQ(rc, 0) << log;
  for (auto [name, channels] :
       {std::pair<const char*, int>{"ours", 3}, {"progressive", 3}, {"gray", 1}}) {
    const std::string pil = read_file_bytes(dir_ / (std::string(name) + ".raw"));
    const Image8 image = read_image(dir_ / (std::string(name) + ".jpg"), channels);
    ASSERT_EQ(image.pixels.size(), pil.size()) << name;
    EXPECT_TRUE(std::equal(image.pixels.begin(), image.pixels.end(),
                           reinterpret_cast<const uint8_t*>(pil.data())))
        << name << " decodes differently from PIL";
  }
  EXPECT_EQ(probe_image(dir_ / "gray.jpg").channels, 1);
  EXPECT_EQ(probe_image(dir_ / "progressive.jpg").channels, 3);
  const fs::path cmyk = dir_ / "cmyk.jpg";
  expect_throws_with([&] { read_image(cmyk); }, {cmyk.string(), "CMYK"});
  expect_throws_with([&] { probe_image(cmyk); }, {cmyk.string(), "CMYK"});
}

// A gray picture read as 1 to 4 channels: the same gray in every colour, opaque alpha.
TEST_F(ImageTest, GrayJpegReadsAsAnyChannelCount) {
  const fs::path path = dir_ / "gray.jpg";
  write_image(path, test_pattern(23, 9, 1), 90);
  const Image8 gray = read_image(path, 1);
  ASSERT_EQ(gray.pixels.size(), 23u * 9u);
  for (int channels = 2; channels <= 4; ++channels) {
    const Image8 image = read_image(path, channels);
    ASSERT_EQ(image.channels, channels);
    for (size_t i = 0; i < gray.pixels.size(); ++i) {
      const uint8_t* pixel = image.pixels.data() + i * channels;
      const int colours = channels == 2 ? 1 : 3;
      for (int c = 0; c < colours; ++c) ASSERT_EQ(pixel[c], gray.pixels[i]) << i;
      if (channels % 2 == 0) {
        ASSERT_EQ(pixel[channels - 1], 255) << i;
      }
    }
  }
}

// libjpeg paints what follows a broken scan grey and only warns; that is a silent wrong result,
// so the warning is an error naming the file.
TEST_F(ImageTest, AJpegWhoseScanDataStopsEarlyIsAnErrorNotGreyBlocks) {
  write_image(dir_ / "whole.jpg", test_pattern(64, 48, 3), 95);
  const std::string whole = read_file_bytes(dir_ / "whole.jpg");
  const size_t scan = whole.find("\xff\xda");
  ASSERT_NE(scan, std::string::npos);
  const size_t header_length =
      static_cast<uint8_t>(whole[scan + 2]) << 8 | static_cast<uint8_t>(whole[scan + 3]);
  // The scan's header and 40 bytes of its data, then the end-of-image marker.
  const std::string cut = whole.substr(0, scan + 2 + header_length + 40) + "\xff\xd9";
  const fs::path path = dir_ / "cut.jpg";
  write_bytes_atomic(path, cut);
  expect_throws_with([&] { read_image(path); }, {path.string(), "corrupt JPEG", "premature end"});
  EXPECT_EQ(read_image(dir_ / "whole.jpg").width, 64);
}

// Every decoder checks the pixel count from the header, before decoding.
TEST_F(ImageTest, ThePixelLimitRefusesLargerImagesOfEveryFormat) {
  const Image8 image = test_pattern(40, 30, 3);
  for (const char* name : {"a.png", "a.jpg", "a.bmp"}) write_image(dir_ / name, image);
  const int64_t before = image_pixel_limit();
  set_image_pixel_limit(40 * 30 - 1);
  for (const char* name : {"a.png", "a.jpg", "a.bmp"}) {
    const fs::path path = dir_ / name;
    expect_throws_with([&] { read_image(path); }, {path.string(), "40x30", "limit of 1199"});
  }
  set_image_pixel_limit(40 * 30);
  for (const char* name : {"a.png", "a.jpg", "a.bmp"})
    EXPECT_EQ(read_image(dir_ / name).height, 30);
  set_image_pixel_limit(before);
}

// Every input the image fuzzer found (fuzz/regressions/image_fuzz/, docs/RELIABILITY.md) is
// refused the way a user reads it: Error naming the file and what is wrong. The JPEG ones broke
// Debian 12's stb (a Huffman table written past its end, a dequantisation overflowing int);
// libjpeg-turbo refuses them as corrupt.
TEST_F(ImageTest, InputsFoundByFuzzingAreRefusedNamingTheFile) {
  const fs::path found = fs::path(GLPDEPTH_SOURCE_DIR) / "fuzz" / "regressions" / "image_fuzz";
  int tried = 0;
  for (const auto& entry : fs::directory_iterator(found)) {
    const std::string bytes = read_file_bytes(entry.path());
    const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
    const std::string name = entry.path().filename().string();
    const bool jpeg = entry.path().extension() == ".jpg";
    ++tried;
    try {
      decode_image(data, bytes.size(), 3, name);
      ADD_FAILURE() << "decoded " << name;
    } catch (const Error& e) {
      const std::string expected = "file " + name + (jpeg ? ": corrupt JPEG (" : ": ");
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
    }
  }
  EXPECT_GE(tried, 7);
}

TEST_F(ImageTest, TruncatedAndBogusFilesGiveErrorsNamingTheFile) {
  fs::path png = dir_ / "d.png";
  write_png16(png, random_image16(40, 30, 3));
  std::string full = read_file_bytes(png);
  for (size_t keep : {size_t{0}, size_t{5}, size_t{20}, size_t{40}, full.size() / 2,
                      full.size() - 12, full.size() - 1}) {
    fs::path cut = dir_ / ("cut" + std::to_string(keep) + ".png");
    write_bytes_atomic(cut, std::string_view(full).substr(0, keep));
    expect_throws_with([&] { read_png16(cut); }, {cut.string()});
    expect_throws_with([&] { read_image(cut); }, {cut.string()});
  }
  fs::path half = dir_ / "half.png";
  write_bytes_atomic(half, std::string_view(full).substr(0, full.size() / 2));
  expect_throws_with([&] { read_png16(half); }, {half.string(), "truncated"});

  // A flipped byte inside the image data is caught by the CRC.
  std::string corrupt = full;
  corrupt[60] ^= 0x5a;
  fs::path bad = dir_ / "bad.png";
  write_bytes_atomic(bad, corrupt);
  expect_throws_with([&] { read_png16(bad); }, {bad.string(), "corrupt"});

  fs::path jpg = dir_ / "i.jpg";
  write_image(jpg, test_pattern(64, 48, 3));
  std::string jfull = read_file_bytes(jpg);
  fs::path jcut = dir_ / "icut.jpg";
  write_bytes_atomic(jcut, std::string_view(jfull).substr(0, jfull.size() * 2 / 3));
  expect_throws_with([&] { read_image(jcut); }, {jcut.string(), "truncated"});

  fs::path text = dir_ / "notes.png";
  write_bytes_atomic(text, "this is not an image at all\n");
  expect_throws_with([&] { read_image(text); }, {text.string(), "not a"});
  expect_throws_with([&] { probe_image(text); }, {text.string(), "not a"});

  fs::path missing = dir_ / "missing.png";
  expect_throws_with([&] { read_image(missing); }, {missing.string(), "no such file"});
  expect_throws_with([&] { read_png16(missing); }, {missing.string(), "no such file"});
}

TEST_F(ImageTest, WriterRejectsBadInput) {
  Image8 image(4, 4, 3);
  expect_throws_with([&] { write_image(dir_ / "x.tiff", image); }, {"x.tiff", "extension"});
  Image8 broken(4, 4, 3);
  broken.pixels.resize(5);
  expect_throws_with([&] { write_image(dir_ / "y.png", broken); }, {"y.png"});
  expect_throws_with([&] { write_png16(dir_ / "z.png", Image16()); }, {"z.png", "empty"});
  EXPECT_FALSE(fs::exists(dir_ / "x.tiff"));
  EXPECT_FALSE(fs::exists(dir_ / "y.png"));
  EXPECT_FALSE(fs::exists(dir_ / "z.png"));
}

}  // namespace
}  // namespace glpdepth
