#include "glpdepth/io/safetensors.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>

#include "common/temp_dir.h"
#include "glpdepth/util/error.h"
#include "io/python_util.h"

namespace glpdepth {
namespace {

using testing::run_python;
using testing::TempDir;

void write_raw(const std::filesystem::path& path, const std::string& header,
               const std::string& data) {
  std::ofstream out(path, std::ios::binary);
  uint64_t n = header.size();
  for (int k = 0; k < 8; ++k) out.put(static_cast<char>((n >> (8 * k)) & 0xFF));
  out << header << data;
}

TEST(Safetensors, RoundTripKeepsOrderDtypesAndMetadata) {
  TempDir dir;
  StateDict state = {
      {"z.last_in_alphabet", torch::arange(6, torch::kFloat32).reshape({2, 3})},
      {"a.half", torch::linspace(-1, 1, 3).to(torch::kHalf)},
      {"m.bf16", torch::linspace(-1, 1, 4).to(torch::kBFloat16)},
      {"nbt", torch::tensor(int64_t(5))},
      {"t", torch::arange(6, torch::kFloat64).reshape({2, 3}).t()},
      {"flags", torch::tensor({true, false})},
      {"empty", torch::zeros({0})},
  };
  write_safetensors(dir / "w.safetensors", state, {{"format", "pt"}});
  EXPECT_TRUE(looks_like_safetensors(dir / "w.safetensors"));
  std::map<std::string, std::string> metadata;
  StateDict back = read_safetensors(dir / "w.safetensors", &metadata);
  EXPECT_EQ(metadata.at("format"), "pt");
  ASSERT_EQ(back.size(), state.size());
  for (size_t k = 0; k < state.size(); ++k) {
    EXPECT_EQ(back[k].first, state[k].first);
    EXPECT_EQ(back[k].second.scalar_type(), state[k].second.scalar_type());
    EXPECT_TRUE(torch::equal(back[k].second, state[k].second)) << state[k].first;
  }
  // read_state_dict tells the formats apart by content.
  EXPECT_EQ(read_state_dict(dir / "w.safetensors").size(), state.size());
}

TEST(Safetensors, MalformedFilesFailNamingTheFile) {
  TempDir dir;
  auto expect_error = [&](const std::string& name, const std::string& header,
                          const std::string& data, const std::string& needle) {
    write_raw(dir / name, header, data);
    try {
      read_safetensors(dir / name);
      ADD_FAILURE() << name << " was accepted";
    } catch (const Error& e) {
      std::string message = e.what();
      EXPECT_NE(message.find(name), std::string::npos) << message;
      EXPECT_NE(message.find(needle), std::string::npos) << message;
    }
  };
  expect_error("range.st", R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})",
               std::string(8, '\0'), "outside");
  expect_error("size.st", R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})",
               std::string(8, '\0'), "do not match");
  expect_error("overlap.st",
               R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
               R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
               std::string(12, '\0'), "overlap");
  expect_error("dtype.st", R"({"a":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}})",
               std::string(8, '\0'), "C64");
  expect_error("json.st", R"({"a":{"dtype":"F32",)", "", "JSON");
  expect_error("huge.st", R"({"a":{"dtype":"F32","shape":[4611686018427387904,8],)"
                          R"("data_offsets":[0,0]}})", "", "overflow");
  // A header length longer than the file.
  {
    std::ofstream out(dir / "short.st", std::ios::binary);
    out << std::string("\xff\xff\x00\x00\x00\x00\x00\x00{}", 10);
  }
  EXPECT_THROW(read_safetensors(dir / "short.st"), Error);
}

TEST(Safetensors, InteroperatesWithAnIndependentPythonCodec) {
  GLPDEPTH_REQUIRE_PYTHON_TORCH();
  TempDir dir;
  write_safetensors(dir / "ours.safetensors",
                    {{"w", torch::arange(12, torch::kFloat32).reshape({3, 4})},
                     {"h", torch::tensor({0.5, -2.0}).to(torch::kHalf)},
                     {"n", torch::tensor({int64_t(-3), int64_t(1) << 40})}});
  // The format written out by hand in Python (no safetensors package needed).
  ASSERT_TRUE(run_python(dir.path(), R"(
import numpy as np
def read(path):
    data = open(path, 'rb').read()
    n = struct.unpack('<Q', data[:8])[0]
    header = json.loads(data[8:8 + n])
    assert (8 + n) % 8 == 0
    out = {}
    for k, v in header.items():
        if k == '__metadata__': continue
        b, e = v['data_offsets']
        dt = {'F32': np.float32, 'F16': np.float16, 'I64': np.int64}[v['dtype']]
        out[k] = np.frombuffer(data[8 + n + b:8 + n + e], dtype=dt).reshape(v['shape'])
    return out
t = read(os.path.join(D, 'ours.safetensors'))
assert (t['w'] == np.arange(12, dtype=np.float32).reshape(3, 4)).all()
assert t['h'].tolist() == [0.5, -2.0]
assert t['n'].tolist() == [-3, 2**40]
def write(path, tensors):
    header, blobs, off = {}, [], 0
    for k, a in tensors.items():
        b = a.tobytes()
        header[k] = {'dtype': {np.dtype('float32'): 'F32', np.dtype('int32'): 'I32'}[a.dtype],
                     'shape': list(a.shape), 'data_offsets': [off, off + len(b)]}
        off += len(b); blobs.append(b)
    h = json.dumps(header).encode()
    open(path, 'wb').write(struct.pack('<Q', len(h)) + h + b''.join(blobs))
write(os.path.join(D, 'theirs.safetensors'),
      {'b': np.array([[1.5, 2.5]], dtype=np.float32), 'a': np.array([7, -8, 9], dtype=np.int32)})
)"));
  StateDict theirs = read_safetensors(dir / "theirs.safetensors");
  ASSERT_EQ(theirs.size(), 2u);
  EXPECT_EQ(theirs[0].first, "b");
  EXPECT_TRUE(torch::equal(theirs[0].second, torch::tensor({{1.5f, 2.5f}})));
  EXPECT_EQ(theirs[1].first, "a");
  EXPECT_TRUE(torch::equal(theirs[1].second, torch::tensor({7, -8, 9}, torch::kInt32)));
}

}  // namespace
}  // namespace glpdepth
