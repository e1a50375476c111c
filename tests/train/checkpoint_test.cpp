// Checkpoints read back what was written; the model header is model/serialization's (its own
// tests are in tests/model/serialization_test.cpp), shared by resuming and by weight loading.
#include <gtest/gtest.h>

#include "common/temp_dir.h"
#include "glpdepth/model/loading.h"
#include "glpdepth/model/serialization.h"
#include "glpdepth/train/checkpoint.h"
#include "glpdepth/util/error.h"

namespace glpdepth {
namespace {

TEST(ModelHeader, BothReadersOfACheckpointRefuseAnotherVersion) {
  // Weight loading (load_model) and resuming (peek_checkpoint) read the same header.
  testing::TempDir dir;
  GLPDepthOptions options;
  options.encoder = MitEncoder::kB0;
  options.max_depth = 80;
  options.canonical_focal = 721.5377;
  GLPDepth model(options);
  CheckpointData data;
  const auto path = dir / "run.ckpt";
  save_checkpoint(path, model, nullptr, data);
  EXPECT_EQ(peek_checkpoint(path).model_options.canonical_focal, 721.5377);
  EXPECT_EQ(load_model(path, std::nullopt, 0)->options().canonical_focal, 721.5377);
  PyValue file = read_pytorch_file(path);
  file.set(kCheckpointFormatKey, int64_t{7});
  const auto newer = dir / "newer.ckpt";
  write_pytorch_file(newer, file);
  EXPECT_THROW(peek_checkpoint(newer), Error);
  EXPECT_THROW(load_model(newer, std::nullopt, 0), Error);
}

}  // namespace
}  // namespace glpdepth
