// Truncated and corrupted files must fail with glpdepth::Error (or load some value), never
// crash, hang or allocate without bound.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "common/temp_dir.h"
#include "glpdepth/io/pytorch_file.h"
#include "glpdepth/io/safetensors.h"
#include "glpdepth/util/error.h"
#include "io/pickle.h"
#include "io/python_util.h"

namespace glpdepth {
namespace {

using testing::run_python;
using testing::TempDir;

std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void spit(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

struct Outcome {
  int errors = 0;
  int successes = 0;
};

// Feeds `reader` every truncation of `valid` (at `stride` steps) and `flips` random single-bit
// and single-byte corruptions. Exceptions other than glpdepth::Error fail the test.
Outcome fuzz(const std::filesystem::path& dir, const std::string& valid,
             const std::function<void(const std::filesystem::path&)>& reader, int flips,
             size_t stride = 1) {
  Outcome outcome;
  int counter = 0;
  auto attempt = [&](const std::string& bytes, const std::string& what) {
    // A fresh name each time: overwriting a file makes ext4 flush it to disk on close.
    auto path = dir / ("fuzz" + std::to_string(counter++) + ".bin");
    spit(path, bytes);
    struct Remove {
      std::filesystem::path path;
      ~Remove() { std::filesystem::remove(path); }
    } remove{path};
    try {
      reader(path);
      ++outcome.successes;
    } catch (const Error& e) {
      std::string message = e.what();
      EXPECT_NE(message.find(path.string()), std::string::npos) << what << ": " << message;
      ++outcome.errors;
    } catch (const std::exception& e) {
      ADD_FAILURE() << what << ": not a glpdepth::Error: " << e.what();
    }
  };
  for (size_t n = 0; n < valid.size(); n += stride) {
    attempt(valid.substr(0, n), "truncated to " + std::to_string(n));
  }
  std::mt19937 rng(1234);
  for (int k = 0; k < flips; ++k) {
    std::string bytes = valid;
    size_t at = rng() % bytes.size();
    if (k % 2 == 0) {
      bytes[at] = static_cast<char>(bytes[at] ^ (1 << (rng() % 8)));
    } else {
      bytes[at] = static_cast<char>(rng() % 256);
    }
    attempt(bytes, "byte " + std::to_string(at) + " changed");
  }
  return outcome;
}

PyValue small_value() {
  return PyValue::dict()
      .set("w", torch::arange(12, torch::kFloat32).reshape({3, 4}))
      .set("n", torch::tensor(int64_t(3)))
      .set("h", torch::ones({2}, torch::kHalf))
      .set("meta", PyValue::dict()
                       .set("epoch", 2)
                       .set("names", PyValue::list({"a", 1.5, PyValue(), true}))
                       .set("t", PyValue::tuple({1, 2})));
}

TEST(Fuzz, ZipFilesWeWrote) {
  TempDir dir;
  write_pytorch_file(dir / "valid.pt", small_value());
  std::string valid = slurp(dir / "valid.pt");
  Outcome outcome = fuzz(dir.path(), valid, [](const auto& p) { read_pytorch_file(p); }, 3000);
  EXPECT_GT(outcome.errors, static_cast<int>(valid.size()));  // every truncation fails
}

TEST(Fuzz, PickleStreams) {
  // Straight at the unpickler (a zip's CRC would catch most corruptions before it runs).
  std::string valid = detail::pickle(small_value(), true, [](const torch::Tensor&) {
    return std::string("0");
  });
  detail::StorageLoader loader = [](const detail::StorageId& id) {
    check(id.numel <= 1000, "too large for this test");
    return torch::zeros({id.numel * detail::element_size(id.dtype)}, torch::kUInt8);
  };
  auto run = [&](const std::string& bytes) {
    detail::MemorySource source(bytes);
    try {
      detail::unpickle(source, loader, detail::unpickle_budget(bytes.size()));
    } catch (const Error&) {
    } catch (const std::exception& e) {
      ADD_FAILURE() << "not a glpdepth::Error: " << e.what();
    }
  };
  for (size_t n = 0; n <= valid.size(); ++n) run(valid.substr(0, n));
  std::mt19937 rng(99);
  for (int k = 0; k < 20000; ++k) {
    std::string bytes = valid;
    int changes = 1 + rng() % 3;
    for (int c = 0; c < changes; ++c) bytes[rng() % bytes.size()] = static_cast<char>(rng());
    run(bytes);
  }
  // Hostile constructs: self-reference, deep nesting, huge declared sizes, foreign globals.
  auto expect_error = [&](const std::string& bytes, const std::string& needle) {
    detail::MemorySource source(bytes);
    try {
      detail::unpickle(source, loader, detail::unpickle_budget(bytes.size()));
      ADD_FAILURE() << "accepted: " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error(std::string("\x80\x02]q\x00h\x00\x61.", 9), "nested too deeply");
  expect_error("\x80\x02" + std::string(1000, ']') + std::string(999, 'a') + ".",
               "nested too deeply");
  expect_error(std::string("\x80\x02X\xff\xff\xff\x7f", 8), "truncated");
  expect_error("\x80\x02\x63os\nsystem\n.", "os.system");
  expect_error("\x80\x02\x63__builtin__\neval\n.", "__builtin__.eval");
  {
    // A million nested lists, dropped again: freeing them must not recurse a million deep (with a
    // budget that lets them be built).
    std::string deep = "\x80\x02" + std::string(1000000, ']') + std::string(999999, 'a') + "0N.";
    detail::MemorySource source(deep);
    EXPECT_TRUE(detail::unpickle(source, loader, uint64_t{1} << 30).is_none());
    std::string cyclic = std::string("\x80\x02]q\x00h\x00\x61\x30N.", 11);
    detail::MemorySource cyclic_source(cyclic);
    EXPECT_TRUE(detail::unpickle(cyclic_source, loader, uint64_t{1} << 30).is_none());
  }
  // With the file's own budget (16x its size, 1 MiB aside) those million lists, some 200 bytes
  // each for a byte of pickle, are refused before they are all made (issue 27's rule).
  expect_error("\x80\x02" + std::string(1000000, ']') + std::string(999999, 'a') + "0N.",
               "than its file's size allows");
  // Exponential sharing: each list holds the previous one twice.
  std::string bomb = std::string("\x80\x02]q\x00", 5);
  for (int k = 0; k < 60; ++k) {
    bomb += "(h";
    bomb += static_cast<char>(k);
    bomb += 'h';
    bomb += static_cast<char>(k);
    bomb += "lq";
    bomb += static_cast<char>(k + 1);
  }
  bomb += '.';
  expect_error(bomb, "too large");
}

// What libFuzzer found in the PyTorch-file reader (fuzz/regressions/pytorch_file_fuzz) is refused
// with an error naming the file. The first: a 554-byte legacy pickle whose shared references
// expanded into 1.9 MB of values before the expansion limit (then 100,000 values) stopped them.
TEST(Fuzz, InputsFoundByFuzzingAreRefusedNamingTheFile) {
  const std::filesystem::path found =
      std::filesystem::path(GLPDEPTH_SOURCE_DIR) / "fuzz" / "regressions" / "pytorch_file_fuzz";
  int tried = 0;
  for (const auto& entry : std::filesystem::directory_iterator(found)) {
    ++tried;
    try {
      const PyValue value = read_pytorch_file(entry.path());
      if (value.is_dict()) state_dict_from_value(value, entry.path().string());
      ADD_FAILURE() << "read " << entry.path();
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(entry.path().string()), std::string::npos) << e.what();
    }
  }
  EXPECT_GE(tried, 1);
}

TEST(Fuzz, LegacyFilesWrittenByPyTorch) {
  GLPDEPTH_REQUIRE_PYTHON_TORCH();
  TempDir dir;
  ASSERT_TRUE(run_python(dir.path(), R"(
base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
obj = {'state_dict': collections.OrderedDict([('w', base), ('t', base.t()), ('n', torch.tensor(3)),
       ('h', torch.ones(2).half())]), 'epoch': 2, 'names': ['a', 1.5, None, True]}
torch.save(obj, os.path.join(D, 'legacy.pt'), _use_new_zipfile_serialization=False)
torch.save(obj, os.path.join(D, 'zip.pt'))
)"));
  std::string legacy = slurp(dir / "legacy.pt");
  Outcome outcome =
      fuzz(dir.path(), legacy, [](const auto& p) { read_pytorch_file(p); }, 3000);
  EXPECT_GE(outcome.errors, static_cast<int>(legacy.size()));
  std::string zip = slurp(dir / "zip.pt");
  outcome = fuzz(dir.path(), zip, [](const auto& p) { read_state_dict(p); }, 1000, 7);
  EXPECT_GT(outcome.errors, 0);
}

TEST(Fuzz, Safetensors) {
  TempDir dir;
  write_safetensors(dir / "valid.safetensors",
                    {{"w", torch::arange(12, torch::kFloat32).reshape({3, 4})},
                     {"n", torch::tensor(int64_t(3))},
                     {"h", torch::ones({2}, torch::kHalf)}},
                    {{"k", "v"}});
  std::string valid = slurp(dir / "valid.safetensors");
  Outcome outcome =
      fuzz(dir.path(), valid, [](const auto& p) { read_safetensors(p); }, 3000);
  EXPECT_GE(outcome.errors, static_cast<int>(valid.size()));
}

}  // namespace
}  // namespace glpdepth
