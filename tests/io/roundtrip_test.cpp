// Files we write: read back by us, and by PyTorch (which checks the values and saves them again
// in both formats for us to read).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>

#include "common/temp_dir.h"
#include "glpdepth/io/pytorch_file.h"
#include "glpdepth/util/error.h"
#include "io/python_util.h"

namespace glpdepth {
namespace {

using testing::run_python;
using testing::TempDir;

std::string all_bytes() {
  std::string raw;
  for (int k = 0; k < 256; ++k) raw.push_back(static_cast<char>(k));
  return raw;
}

// Something like a training checkpoint: model, optimizer state, numbers, RNG bytes, config.
PyValue sample_checkpoint() {
  torch::manual_seed(3);
  auto weight = torch::randn({3, 4});
  PyValue model = PyValue::dict()
                      .set("encoder.weight", weight)
                      .set("encoder.weight_t", weight.t())  // non-contiguous
                      .set("half", torch::linspace(-1, 1, 5).to(torch::kHalf))
                      .set("bf16", torch::linspace(-3, 3, 4).to(torch::kBFloat16))
                      .set("f64", torch::tensor({0.1, 1e300}, torch::kFloat64))
                      .set("bn.num_batches_tracked", torch::tensor(int64_t(12345678901)))
                      .set("i32", torch::tensor({-7, 8}, torch::kInt32))
                      .set("mask", torch::tensor({true, false}))
                      .set("empty", torch::zeros({0, 2}));
  PyValue optimizer = PyValue::dict()
                          .set("state", PyValue::dict().set(0, PyValue::dict()
                                                                   .set("step", 10)
                                                                   .set("exp_avg", torch::ones({3}))))
                          .set("param_groups",
                               PyValue::list({PyValue::dict()
                                                  .set("lr", 0.001)
                                                  .set("betas", PyValue::tuple({0.9, 0.999}))
                                                  .set("params", PyValue::list({0, 1}))}));
  auto rng = torch::arange(256, torch::kInt64).to(torch::kUInt8);
  return PyValue::dict()
      .set("model", model)
      .set("optimizer", optimizer)
      .set("epoch", 12)
      .set("big", int64_t(1) << 40)
      .set("neg", -70000)
      .set("neg_big", -(int64_t(1) << 62))
      .set("lr", 0.1)
      .set("config", "{\"name\": \"caf\xc3\xa9\"}")
      .set("none", PyValue())
      .set("flag", true)
      .set("raw", PyValue::bytes(all_bytes()))
      .set("rng", rng)
      .set("empty_list", PyValue::list())
      .set("empty_tuple", PyValue::tuple());
}

TEST(RoundTrip, OwnWriterAndReader) {
  TempDir dir;
  PyValue value = sample_checkpoint();
  write_pytorch_file(dir / "c.pt", value);
  PyValue back = read_pytorch_file(dir / "c.pt");
  EXPECT_TRUE(back == value);
  EXPECT_EQ(back.at("model").at("half").as_tensor().scalar_type(), torch::kHalf);
  EXPECT_TRUE(back.at("model").at("encoder.weight_t").as_tensor().is_contiguous());

  // The zip layout PyTorch expects: data aligned to 64 bytes, version record present.
  std::ifstream in(dir / "c.pt", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(bytes.substr(0, 4), "PK\x03\x04");
  EXPECT_NE(bytes.find("archive/version"), std::string::npos);
  EXPECT_NE(bytes.find("archive/data.pkl"), std::string::npos);
}

TEST(RoundTrip, StateDictWithPrefix) {
  TempDir dir;
  StateDict state = {{"a.weight", torch::randn({2, 2})}, {"a.bias", torch::randn({2})}};
  write_state_dict(dir / "s.pt", state, "module.");
  StateDict back = read_state_dict(dir / "s.pt");
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].first, "module.a.weight");
  EXPECT_EQ(back[1].first, "module.a.bias");
  EXPECT_TRUE(torch::equal(back[0].second, state[0].second));
  EXPECT_TRUE(torch::equal(back[1].second, state[1].second));
}

TEST(RoundTrip, WritingUnsupportedDtypeFailsCleanly) {
  TempDir dir;
  PyValue value = PyValue::dict().set("c", torch::zeros({2}, torch::kComplexFloat));
  EXPECT_THROW(write_pytorch_file(dir / "c.pt", value), Error);
  EXPECT_FALSE(std::filesystem::exists(dir / "c.pt"));
}

TEST(RoundTrip, ThroughPyTorch) {
  GLPDEPTH_REQUIRE_PYTHON_TORCH();
  TempDir dir;
  PyValue value = sample_checkpoint();
  write_pytorch_file(dir / "ours.pt", value);
  write_state_dict(dir / "sd.pt", {{"x.weight", torch::arange(6.0).reshape({2, 3})}}, "module.");
  ASSERT_TRUE(run_python(dir.path(), R"(
torch.manual_seed(3)
w = torch.randn(3, 4)
c = torch.load(os.path.join(D, 'ours.pt'))
m = c['model']
assert torch.equal(m['encoder.weight'], w)
assert torch.equal(m['encoder.weight_t'], w.t())
assert m['half'].dtype == torch.float16 and torch.equal(m['half'], torch.linspace(-1, 1, 5).half())
assert m['bf16'].dtype == torch.bfloat16 and torch.equal(m['bf16'], torch.linspace(-3, 3, 4).bfloat16())
assert m['f64'].dtype == torch.float64 and m['f64'].tolist() == [0.1, 1e300]
nbt = m['bn.num_batches_tracked']
assert nbt.dtype == torch.int64 and nbt.dim() == 0 and nbt.item() == 12345678901
assert m['i32'].dtype == torch.int32 and m['i32'].tolist() == [-7, 8]
assert m['mask'].dtype == torch.bool and m['mask'].tolist() == [True, False]
assert m['empty'].shape == (0, 2)
o = c['optimizer']
assert o['state'][0]['step'] == 10 and torch.equal(o['state'][0]['exp_avg'], torch.ones(3))
assert o['param_groups'] == [{'lr': 0.001, 'betas': (0.9, 0.999), 'params': [0, 1]}]
assert c['epoch'] == 12 and c['big'] == 2**40 and c['neg'] == -70000 and c['neg_big'] == -2**62
assert c['lr'] == 0.1 and c['none'] is None and c['flag'] is True
assert json.loads(c['config']) == {'name': 'caf\u00e9'}
assert c['raw'] == bytes(range(256))
assert c['rng'].dtype == torch.uint8 and c['rng'].tolist() == list(range(256))
assert c['empty_list'] == [] and c['empty_tuple'] == ()
# Python's own load of the state_dict, and load_state_dict into a module.
sd = torch.load(os.path.join(D, 'sd.pt'))
assert isinstance(sd, collections.OrderedDict) and list(sd) == ['module.x.weight']
lin = torch.nn.Linear(3, 2, bias=False)
lin.load_state_dict({'weight': sd['module.x.weight']})
assert torch.equal(lin.weight.data, torch.arange(6.0).reshape(2, 3))
# mmap-style readers need 64-byte aligned records.
import zipfile
with zipfile.ZipFile(os.path.join(D, 'ours.pt')) as z:
    for info in z.infolist():
        with open(os.path.join(D, 'ours.pt'), 'rb') as f:
            f.seek(info.header_offset + 26)
            n, e = struct.unpack('<HH', f.read(4))
            assert (info.header_offset + 30 + n + e) % 64 == 0, info.filename
torch.save(c, os.path.join(D, 'back_zip.pt'))
torch.save(c, os.path.join(D, 'back_legacy.pt'), _use_new_zipfile_serialization=False)
print('ok')
)"));
  for (const char* file : {"back_zip.pt", "back_legacy.pt"}) {
    PyValue back = read_pytorch_file(dir / file);
    EXPECT_TRUE(back == value) << file;
  }
}

}  // namespace
}  // namespace glpdepth
