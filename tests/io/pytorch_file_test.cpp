// Reading files that PyTorch itself wrote, in both serialisations, and refusing bad ones.
#include "glpdepth/io/pytorch_file.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <functional>

#include "common/errors.h"
#include "common/temp_dir.h"
#include "glpdepth/util/error.h"
#include "io/python_util.h"

namespace glpdepth {
namespace {

using testing::run_python;
using testing::TempDir;

using testing::error_of;

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

// The parameter: true for the zip format, false for the legacy one.
class PythonWritten : public ::testing::TestWithParam<bool> {
 protected:
  // Runs `script` with SAVE_ARGS replaced by the torch.save arguments choosing the format.
  bool save_with_python(const std::string& script) {
    return run_python(dir.path(), replace_all(script, "SAVE_ARGS",
                                              GetParam() ? "" : ", _use_new_zipfile_serialization=False"));
  }
  TempDir dir;
};

TEST_P(PythonWritten, TensorsViewsAndDtypes) {
  GLPDEPTH_REQUIRE_PYTHON_TORCH();
  ASSERT_TRUE(save_with_python(R"(
base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
d = collections.OrderedDict()
d['w'] = base
d['t'] = base.t()
d['slice'] = base[1:3, ::2]
d['half'] = torch.linspace(-2, 2, 7).half()
d['bf16'] = torch.linspace(-2, 2, 5).bfloat16()
d['f64'] = torch.tensor([1.5, -2.25], dtype=torch.float64)
d['num_batches_tracked'] = torch.tensor(7)
d['i32'] = torch.tensor([1, -2, 3], dtype=torch.int32)
d['u8'] = torch.tensor([0, 255, 7], dtype=torch.uint8)
d['bool'] = torch.tensor([True, False, True])
d['param'] = torch.nn.Parameter(torch.full((2, 2), 0.5))
d['empty'] = torch.zeros(0, 3)
torch.save(d, os.path.join(D, 'f.pt')SAVE_ARGS)
)"));
  PyValue value = read_pytorch_file(dir / "f.pt");
  ASSERT_TRUE(value.is_dict());
  std::vector<std::string> keys;
  for (const auto& entry : value.entries()) keys.push_back(entry.first.as_string());
  EXPECT_EQ(keys, (std::vector<std::string>{"w", "t", "slice", "half", "bf16", "f64",
                                            "num_batches_tracked", "i32", "u8", "bool", "param",
                                            "empty"}));
  auto base = torch::arange(24, torch::kFloat32).reshape({4, 6});
  torch::Tensor w = value.at("w").as_tensor();
  torch::Tensor t = value.at("t").as_tensor();
  torch::Tensor slice = value.at("slice").as_tensor();
  EXPECT_TRUE(torch::equal(w, base));
  EXPECT_TRUE(torch::equal(t, base.t()));
  EXPECT_EQ(t.strides(), (std::vector<int64_t>{1, 6}));
  EXPECT_TRUE(torch::equal(slice, base.slice(0, 1, 3).slice(1, 0, 6, 2)));
  EXPECT_EQ(slice.storage_offset(), 6);
  EXPECT_EQ(slice.strides(), (std::vector<int64_t>{6, 2}));
  // One storage behind the three views, as in Python.
  w.index_put_({0, 1}, -100.0f);
  EXPECT_EQ(t.index({1, 0}).item<float>(), -100.0f);
  w.index_put_({1, 2}, -200.0f);
  EXPECT_EQ(slice.index({0, 1}).item<float>(), -200.0f);

  torch::Tensor half = value.at("half").as_tensor();
  EXPECT_EQ(half.scalar_type(), torch::kHalf);
  EXPECT_TRUE(torch::equal(half, torch::linspace(-2, 2, 7).to(torch::kHalf)));
  torch::Tensor bf16 = value.at("bf16").as_tensor();
  EXPECT_EQ(bf16.scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(torch::equal(bf16, torch::linspace(-2, 2, 5).to(torch::kBFloat16)));
  torch::Tensor f64 = value.at("f64").as_tensor();
  EXPECT_EQ(f64.scalar_type(), torch::kFloat64);
  EXPECT_EQ(f64[1].item<double>(), -2.25);
  torch::Tensor nbt = value.at("num_batches_tracked").as_tensor();
  EXPECT_EQ(nbt.scalar_type(), torch::kInt64);
  EXPECT_EQ(nbt.dim(), 0);
  EXPECT_EQ(nbt.item<int64_t>(), 7);
  EXPECT_TRUE(torch::equal(value.at("i32").as_tensor(),
                           torch::tensor({1, -2, 3}, torch::kInt32)));
  EXPECT_TRUE(torch::equal(value.at("u8").as_tensor(),
                           torch::tensor({0, 255, 7}, torch::kUInt8)));
  EXPECT_TRUE(torch::equal(value.at("bool").as_tensor(), torch::tensor({true, false, true})));
  EXPECT_TRUE(torch::equal(value.at("param").as_tensor(), torch::full({2, 2}, 0.5)));
  EXPECT_EQ(value.at("empty").as_tensor().sizes(), (std::vector<int64_t>{0, 3}));

  StateDict state = read_state_dict(dir / "f.pt");
  ASSERT_EQ(state.size(), 12u);
  EXPECT_EQ(state[6].first, "num_batches_tracked");
}

TEST_P(PythonWritten, NestedValuesAndWrappers) {
  GLPDEPTH_REQUIRE_PYTHON_TORCH();
  ASSERT_TRUE(save_with_python(R"(
sd = collections.OrderedDict([('module.a.weight', torch.ones(2, 3)), ('module.a.bias', torch.zeros(2))])
obj = {'state_dict': sd, 'epoch': 3, 'lr': 1e-4, 'name': 'run é', 'none': None,
       'list': [1, 2.5, 'a', None, True, False], 'tup': (1, 2), 'big': 2**40, 'neg': -5,
       'neg_big': -2**62, 'raw': bytes(range(256)),
       'opt': {'state': {0: {'step': 3, 'exp_avg': torch.full((2,), 0.25)}},
               'param_groups': [{'lr': 0.1, 'params': [0, 1]}]}}
torch.save(obj, os.path.join(D, 'wrapped.pt')SAVE_ARGS)
torch.save({'model': sd, 'optimizer': {}}, os.path.join(D, 'model.pt')SAVE_ARGS)
torch.save(obj, os.path.join(D, 'protocol4.pt'), pickle_protocol=4SAVE_ARGS)
)"));
  // Protocol 4 (frames, memoize, stack globals, short strings) reads the same.
  EXPECT_TRUE(read_pytorch_file(dir / "protocol4.pt") == read_pytorch_file(dir / "wrapped.pt"));
  PyValue value = read_pytorch_file(dir / "wrapped.pt");
  EXPECT_EQ(value.at("epoch").as_int(), 3);
  EXPECT_DOUBLE_EQ(value.at("lr").as_float(), 1e-4);
  EXPECT_EQ(value.at("name").as_string(), "run \xc3\xa9");
  EXPECT_TRUE(value.at("none").is_none());
  const auto& list = value.at("list").items();
  ASSERT_EQ(list.size(), 6u);
  EXPECT_EQ(list[0], PyValue(1));
  EXPECT_EQ(list[1], PyValue(2.5));
  EXPECT_EQ(list[2], PyValue("a"));
  EXPECT_TRUE(list[3].is_none());
  EXPECT_EQ(list[4], PyValue(true));
  EXPECT_EQ(list[5], PyValue(false));
  EXPECT_TRUE(value.at("tup").is_tuple());
  EXPECT_EQ(value.at("tup"), PyValue::tuple({1, 2}));
  EXPECT_EQ(value.at("big").as_int(), int64_t(1) << 40);
  EXPECT_EQ(value.at("neg").as_int(), -5);
  EXPECT_EQ(value.at("neg_big").as_int(), -(int64_t(1) << 62));
  std::string raw;
  for (int k = 0; k < 256; ++k) raw.push_back(static_cast<char>(k));
  EXPECT_EQ(value.at("raw"), PyValue::bytes(raw));
  const PyValue& opt = value.at("opt");
  const PyValue* state0 = opt.at("state").find(int64_t(0));
  ASSERT_NE(state0, nullptr);
  EXPECT_EQ(state0->at("step").as_int(), 3);
  EXPECT_TRUE(torch::equal(state0->at("exp_avg").as_tensor(), torch::full({2}, 0.25)));
  EXPECT_EQ(opt.at("param_groups").items()[0].at("params"), PyValue::list({0, 1}));

  for (const char* file : {"wrapped.pt", "model.pt"}) {
    StateDict state = read_state_dict(dir / file);
    ASSERT_EQ(state.size(), 2u) << file;
    EXPECT_EQ(state[0].first, "module.a.weight");
    EXPECT_TRUE(torch::equal(state[0].second, torch::ones({2, 3})));
    EXPECT_EQ(state[1].first, "module.a.bias");
  }
}

TEST_P(PythonWritten, RefusesForeignGlobalsByName) {
  GLPDEPTH_REQUIRE_PYTHON_TORCH();
  ASSERT_TRUE(save_with_python(R"(
torch.save({'x': collections.Counter('aab')}, os.path.join(D, 'counter.pt')SAVE_ARGS)
torch.save({'f': os.system}, os.path.join(D, 'system.pt')SAVE_ARGS)
)"));
  std::string message = error_of([&] { read_pytorch_file(dir / "counter.pt"); });
  EXPECT_NE(message.find("collections.Counter"), std::string::npos) << message;
  EXPECT_NE(message.find("counter.pt"), std::string::npos) << message;
  message = error_of([&] { read_pytorch_file(dir / "system.pt"); });
  EXPECT_NE(message.find("posix.system"), std::string::npos) << message;
}

INSTANTIATE_TEST_SUITE_P(Formats, PythonWritten, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "Zip" : "Legacy"; });

TEST(PyTorchFile, NotAPyTorchFile) {
  TempDir dir;
  std::ofstream(dir / "text.pt") << "hello, this is not a checkpoint";
  std::string message = error_of([&] { read_pytorch_file(dir / "text.pt"); });
  EXPECT_NE(message.find("text.pt"), std::string::npos) << message;
  EXPECT_NE(message.find("not a PyTorch file"), std::string::npos) << message;
  message = error_of([&] { read_pytorch_file(dir / "missing.pt"); });
  EXPECT_NE(message.find("missing.pt"), std::string::npos) << message;
  std::ofstream(dir / "empty.pt").flush();
  message = error_of([&] { read_state_dict(dir / "empty.pt"); });
  EXPECT_NE(message.find("empty.pt"), std::string::npos) << message;
}

TEST(PyTorchFile, CompressedZipEntriesAreRefusedClearly) {
  GLPDEPTH_REQUIRE_PYTHON_TORCH();
  TempDir dir;
  ASSERT_TRUE(run_python(dir.path(), R"(
import zipfile
torch.save({'a': torch.zeros(1000)}, os.path.join(D, 'plain.pt'))
src = zipfile.ZipFile(os.path.join(D, 'plain.pt'))
with zipfile.ZipFile(os.path.join(D, 'deflated.pt'), 'w', zipfile.ZIP_DEFLATED) as out:
    for name in src.namelist():
        out.writestr(name, src.read(name))
)"));
  EXPECT_TRUE(torch::equal(read_state_dict(dir / "plain.pt").at(0).second, torch::zeros(1000)));
  std::string message = error_of([&] { read_pytorch_file(dir / "deflated.pt"); });
  EXPECT_NE(message.find("compressed"), std::string::npos) << message;
  EXPECT_NE(message.find("deflated.pt"), std::string::npos) << message;
}

}  // namespace
}  // namespace glpdepth
