// The model header of our files has one reader and one writer (model/serialization.h): a header
// round-trips, and every reader refuses the same malformed headers (before this unit, weight
// loading did not check the format version and resuming did not check the focal).
#include <gtest/gtest.h>

#include "glpdepth/model/loading.h"
#include "glpdepth/model/serialization.h"
#include "glpdepth/util/error.h"

namespace glpdepth {
namespace {

GLPDepthOptions camera_aware_b0() {
  GLPDepthOptions options;
  options.encoder = MitEncoder::kB0;
  options.max_depth = 80;
  options.canonical_focal = 721.5377;
  return options;
}

// A checkpoint-shaped dict: the format version and the header of `options`.
PyValue checkpoint_with(const GLPDepthOptions& options, int64_t version = kCheckpointFormatVersion) {
  return PyValue::dict()
      .set(kCheckpointFormatKey, version)
      .set("model_options", model_header_value(options));
}

TEST(ModelHeader, CheckpointHeaderRoundTrips) {
  const PyValue file = checkpoint_with(camera_aware_b0());
  ASSERT_TRUE(is_glpdepth_checkpoint(file));
  const GLPDepthOptions read = read_checkpoint_header(file, "x.ckpt");
  EXPECT_EQ(read.encoder, MitEncoder::kB0);
  EXPECT_EQ(read.max_depth, 80);
  EXPECT_EQ(read.canonical_focal, 721.5377);
  EXPECT_FALSE(is_glpdepth_checkpoint(PyValue::dict().set("state_dict", int64_t{1})));
}

TEST(ModelHeader, MalformedHeadersAreErrorsNamingTheFile) {
  auto refused = [](const PyValue& file, const std::string& says) {
    try {
      read_checkpoint_header(file, "bad.ckpt");
      ADD_FAILURE() << "accepted a header that should say: " << says;
    } catch (const Error& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find("bad.ckpt"), std::string::npos) << message;
      EXPECT_NE(message.find(says), std::string::npos) << message;
    }
  };
  refused(checkpoint_with(camera_aware_b0(), 2), "format version 2");
  GLPDepthOptions options = camera_aware_b0();
  options.canonical_focal = -5;
  refused(checkpoint_with(options), "canonical_focal");
  options = camera_aware_b0();
  options.max_depth = 0;
  refused(checkpoint_with(options), "max_depth");
  refused(PyValue::dict()
              .set(kCheckpointFormatKey, kCheckpointFormatVersion)
              .set("model_options", model_header_value(camera_aware_b0()).set("encoder", "b9")),
          "b9");
}

TEST(ModelHeader, SafetensorsHeaderRoundTripsTheFocalExactly) {
  GLPDepthOptions options = camera_aware_b0();
  options.canonical_focal = 0.1 + 0.2;  // not a short decimal
  const auto metadata = safetensors_header(options, "glpdepth checkpoint");
  EXPECT_EQ(metadata.at("encoder"), "b0");
  EXPECT_EQ(metadata.at("format"), "pt");
  EXPECT_EQ(safetensors_canonical_focal(metadata, "x.safetensors"), options.canonical_focal);
  options.canonical_focal = 0;
  EXPECT_EQ(safetensors_header(options, "s").count("canonical_focal"), 0u);
  EXPECT_EQ(safetensors_canonical_focal(safetensors_header(options, "s"), "x"), -1);
  for (const char* bad : {"abc", "-1", "720abc", "nan"})
    EXPECT_THROW(safetensors_canonical_focal({{"canonical_focal", bad}}, "x.safetensors"), Error)
        << bad;
}

}  // namespace
}  // namespace glpdepth
