// The ONNX exporter's requests and the file it writes, read back with the ONNX schema classes:
// initializers are the model's tensors, metadata and shapes say what the issue asks for.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <string>

#include "common/temp_dir.h"
#include "deploy/test_models.h"
#include "glpdepth/deploy/onnx_export.h"
#include "glpdepth/io/weights.h"
#include "glpdepth/util/atomic_file.h"
#include "glpdepth/util/error.h"

#if GLPDEPTH_HAVE_ONNX
#include <onnx/onnx_pb.h>
#endif

namespace glpdepth {
namespace {

using testing::TempDir;

// Expects `call` to throw UsageError whose message names --onnx_shape.
template <typename Call>
void expect_shape_usage_error(Call call, const std::string& what) {
  try {
    call();
    ADD_FAILURE() << what << ": no error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("--onnx_shape"), std::string::npos) << what << ": " << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << what << ": not a UsageError: " << e.what();
  }
}

TEST(OnnxInputShape, ParsesBatchHeightWidth) {
  const OnnxInputShape shape = parse_onnx_input_shape("2x352x704");
  EXPECT_EQ(shape.batch, 2);
  EXPECT_EQ(shape.height, 352);
  EXPECT_EQ(shape.width, 704);
  EXPECT_EQ(parse_onnx_input_shape("1x32x1216").width, 1216);
}

TEST(OnnxInputShape, MalformedOrUnusableShapesAreUsageErrorsNamingTheFlag) {
  for (const std::string text :
       {"", "352x704", "1x352x704x3", "x352x704", "1x352x", "ax352x704", "1x-352x704", "1 x352x704",
        "1x352.5x704", "0x352x704", "1x0x704", "1x350x704", "1x352x700", "1x16x32",
        "99999999999x32x32"}) {
    expect_shape_usage_error([&] { parse_onnx_input_shape(text); }, "'" + text + "'");
  }
}

TEST(OnnxExport, RefusedRequestsWriteNothingAndKeepTheOldFile) {
  TempDir dir;
  GLPDepth model = testing::make_disturbed_model("b0", 1);
  const auto path = dir / "model.onnx";
  OnnxExportOptions options;
  options.fixed_shape = OnnxInputShape{1, 352, 700};  // built directly, not parsed
  expect_shape_usage_error([&] { write_onnx_model(model, path, options); }, "352x700");
  EXPECT_FALSE(std::filesystem::exists(path));

  write_bytes_atomic(path, "previous");
  options.fixed_shape = OnnxInputShape{0, 352, 704};
  expect_shape_usage_error([&] { write_onnx_model(model, path, options); }, "batch 0");
  options.fixed_shape.reset();
  options.opset = 18;
  EXPECT_THROW(write_onnx_model(model, path, options), Error);
  options.opset = kOnnxOpset;
  options.metadata["max_depth"] = "1000";  // extra metadata cannot overrule the model's own
  EXPECT_THROW(write_onnx_model(model, path, options), Error);
  EXPECT_EQ(read_file_bytes(path), "previous");
  // Nothing else was left in the folder (no temporary file).
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()),
                          std::filesystem::directory_iterator()),
            1);
}

#if GLPDEPTH_HAVE_ONNX

onnx::ModelProto read_model(const std::filesystem::path& path) {
  onnx::ModelProto model;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(model.ParseFromIstream(&in)) << path;
  return model;
}

std::map<std::string, std::string> metadata_of(const onnx::ModelProto& model) {
  std::map<std::string, std::string> metadata;
  for (const auto& entry : model.metadata_props()) metadata[entry.key()] = entry.value();
  return metadata;
}

torch::Tensor tensor_of(const onnx::TensorProto& proto) {
  std::vector<int64_t> dims(proto.dims().begin(), proto.dims().end());
  const auto dtype = proto.data_type() == onnx::TensorProto::FLOAT16 ? torch::kFloat16
                     : proto.data_type() == onnx::TensorProto::INT64 ? torch::kInt64
                                                                      : torch::kFloat32;
  auto tensor = torch::empty(dims, dtype);
  EXPECT_EQ(proto.raw_data().size(), static_cast<size_t>(tensor.numel() * tensor.element_size()))
      << proto.name();
  std::memcpy(tensor.data_ptr(), proto.raw_data().data(),
              std::min<size_t>(proto.raw_data().size(), tensor.numel() * tensor.element_size()));
  return tensor;
}

TEST(OnnxExport, InitializersAreTheModelTensorsUnderTheirStateDictNames) {
  TempDir dir;
  GLPDepth model = testing::make_disturbed_model("b0", 2);
  for (const bool fp16 : {false, true}) {
    SCOPED_TRACE(fp16 ? "float16 weights" : "float32 weights");
    OnnxExportOptions options;
    options.fp16_weights = fp16;
    const auto path = dir / "b0.onnx";
    const OnnxExportSummary summary = write_onnx_model(model, path, options);
    EXPECT_EQ(summary.bytes, static_cast<int64_t>(std::filesystem::file_size(path)));
    const onnx::ModelProto proto = read_model(path);
    EXPECT_EQ(summary.nodes, proto.graph().node_size());
    std::map<std::string, const onnx::TensorProto*> initializers;
    for (const auto& init : proto.graph().initializer()) initializers[init.name()] = &init;

    int64_t weights = 0;
    for (const auto& [key, tensor] : module_state_dict(*model)) {
      if (key.find("num_batches_tracked") != std::string::npos) {
        EXPECT_FALSE(initializers.count(key)) << key;
        continue;
      }
      // Linear weights are stored transposed for MatMul, as "<key>.T".
      const bool transposed = initializers.count(key + ".T") > 0;
      auto found = initializers.find(transposed ? key + ".T" : key);
      ASSERT_NE(found, initializers.end()) << key;
      torch::Tensor expected = transposed ? tensor.t() : tensor;
      if (fp16) expected = expected.to(torch::kFloat16);
      EXPECT_TRUE(torch::equal(tensor_of(*found->second), expected.contiguous())) << key;
      if (transposed) {
        EXPECT_NE(key.find("weight"), std::string::npos) << key;
      }
      ++weights;
    }
    EXPECT_GT(weights, 100);
    // float16 weights come into the graph through one Cast to float32 each.
    int64_t casts = 0;
    for (const auto& node : proto.graph().node()) casts += node.op_type() == "Cast";
    EXPECT_EQ(casts, fp16 ? weights : 0);
  }
}

TEST(OnnxExport, MetadataOpsetAndDynamicShapes) {
  TempDir dir;
  GLPDepth model = testing::make_disturbed_model("b0", 3, /*max_depth=*/10.0);
  model->set_canonical_focal(721.5377);
  OnnxExportOptions options;
  options.metadata["source"] = "test weights";
  const auto path = dir / "b0.onnx";
  write_onnx_model(model, path, options);
  const onnx::ModelProto proto = read_model(path);

  EXPECT_EQ(proto.ir_version(), 8);
  ASSERT_EQ(proto.opset_import_size(), 1);
  EXPECT_EQ(proto.opset_import(0).domain(), "");
  EXPECT_EQ(proto.opset_import(0).version(), 17);
  EXPECT_EQ(proto.producer_name(), "glpdepth");
  EXPECT_NE(proto.doc_string().find("multiples of 32"), std::string::npos) << proto.doc_string();

  auto metadata = metadata_of(proto);
  EXPECT_EQ(metadata["encoder"], "b0");
  EXPECT_EQ(std::stod(metadata["max_depth"]), 10.0);
  EXPECT_EQ(std::stod(metadata["canonical_focal"]), 721.5377);
  EXPECT_EQ(metadata["glpdepth_version"], GLPDEPTH_EXPECTED_VERSION);
  EXPECT_EQ(metadata["source"], "test weights");
  EXPECT_NE(metadata["input"].find("RGB in [0, 1]"), std::string::npos) << metadata["input"];
  EXPECT_NE(metadata["input"].find("NCHW"), std::string::npos);
  EXPECT_NE(metadata["input"].find("no mean/std normalisation"), std::string::npos);
  EXPECT_NE(metadata["input_size"].find("multiples of 32"), std::string::npos);
  EXPECT_NE(metadata["output"].find("fx / 721.5377"), std::string::npos) << metadata["output"];

  const auto& graph = proto.graph();
  ASSERT_EQ(graph.input_size(), 1);
  ASSERT_EQ(graph.output_size(), 1);
  EXPECT_EQ(graph.input(0).name(), "image");
  EXPECT_EQ(graph.output(0).name(), "depth");
  const auto& in = graph.input(0).type().tensor_type();
  const auto& out = graph.output(0).type().tensor_type();
  EXPECT_EQ(in.elem_type(), onnx::TensorProto::FLOAT);
  EXPECT_EQ(out.elem_type(), onnx::TensorProto::FLOAT);
  ASSERT_EQ(in.shape().dim_size(), 4);
  ASSERT_EQ(out.shape().dim_size(), 4);
  EXPECT_EQ(in.shape().dim(0).dim_param(), "batch");
  EXPECT_EQ(in.shape().dim(1).dim_value(), 3);
  EXPECT_EQ(in.shape().dim(2).dim_param(), "height");
  EXPECT_EQ(in.shape().dim(3).dim_param(), "width");
  EXPECT_EQ(out.shape().dim(0).dim_param(), "batch");
  EXPECT_EQ(out.shape().dim(1).dim_value(), 1);

  // Only standard opset-17 operators, no custom domains.
  const std::set<std::string> allowed = {
      "Add", "BatchNormalization", "Concat", "Conv", "Erf", "LayerNormalization", "MatMul", "Mul",
      "Relu", "Reshape", "Resize", "Shape", "Sigmoid", "Softmax", "Split", "Transpose"};
  for (const auto& node : graph.node()) {
    EXPECT_TRUE(allowed.count(node.op_type())) << node.op_type() << " (" << node.name() << ")";
    EXPECT_EQ(node.domain(), "") << node.name();
  }
}

float epsilon_of(const onnx::NodeProto& node) {
  for (const auto& attribute : node.attribute())
    if (attribute.name() == "epsilon") return attribute.f();
  ADD_FAILURE() << node.name() << " has no epsilon";
  return 0;
}

// A wrong epsilon moves the output by only ~2e-6 (relative), under the runtime test's 1e-5, so
// the values are checked here, against docs/MODEL.md: 1e-5 in the patch embeddings and the
// attention's spatial-reduction norm (nn.LayerNorm's default), 1e-6 in the blocks and stage
// norms, 1e-5 in the decoder's BatchNorms.
TEST(OnnxExport, NormalisationEpsilonsAreTheModels) {
  TempDir dir;
  GLPDepth model = testing::make_disturbed_model("b0", 5);
  const auto path = dir / "b0.onnx";
  write_onnx_model(model, path);
  const std::regex fine(R"(encoder\.(block\d\.\d+\.norm[12]|norm\d))");
  const std::regex coarse(R"(encoder\.(patch_embed\d\.norm|block\d\.\d+\.attn\.norm))");
  int layer_norms = 0, batch_norms = 0;
  const onnx::ModelProto proto = read_model(path);
  for (const auto& node : proto.graph().node()) {
    if (node.op_type() == "LayerNormalization") {
      ++layer_norms;
      if (std::regex_match(node.name(), fine)) {
        EXPECT_FLOAT_EQ(epsilon_of(node), 1e-6f) << node.name();
      } else {
        EXPECT_TRUE(std::regex_match(node.name(), coarse)) << node.name();
        EXPECT_FLOAT_EQ(epsilon_of(node), 1e-5f) << node.name();
      }
    } else if (node.op_type() == "BatchNormalization") {
      ++batch_norms;
      EXPECT_FLOAT_EQ(epsilon_of(node), 1e-5f) << node.name();
    }
  }
  // b0: 4 patch embeddings + 8 blocks x 2 + 6 blocks with spatial reduction + 4 stage norms.
  EXPECT_EQ(layer_norms, 30);
  EXPECT_EQ(batch_norms, 6);  // two per fusion module
}

TEST(OnnxExport, FixedShapesNeedNoShapeOperators) {
  TempDir dir;
  GLPDepth model = testing::make_disturbed_model("b0", 4);
  OnnxExportOptions options;
  options.fixed_shape = parse_onnx_input_shape("2x64x96");
  const auto path = dir / "fixed.onnx";
  write_onnx_model(model, path, options);
  const onnx::ModelProto proto = read_model(path);
  const auto& in = proto.graph().input(0).type().tensor_type().shape();
  const auto& out = proto.graph().output(0).type().tensor_type().shape();
  const std::vector<int64_t> expected_in = {2, 3, 64, 96}, expected_out = {2, 1, 64, 96};
  for (int k = 0; k < 4; ++k) {
    EXPECT_EQ(in.dim(k).dim_value(), expected_in[k]);
    EXPECT_EQ(out.dim(k).dim_value(), expected_out[k]);
    EXPECT_TRUE(in.dim(k).dim_param().empty());
  }
  for (const auto& node : proto.graph().node()) EXPECT_NE(node.op_type(), "Shape") << node.name();
  EXPECT_NE(metadata_of(proto)["input_size"].find("2x3x64x96"), std::string::npos);
}

#else

TEST(OnnxExport, UnavailableSaysWhatToInstall) {
  EXPECT_FALSE(onnx_export_available());
  TempDir dir;
  GLPDepth model = testing::make_disturbed_model("b0", 1);
  try {
    write_onnx_model(model, dir / "x.onnx");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("libonnx-dev"), std::string::npos) << e.what();
  }
}

#endif

}  // namespace
}  // namespace glpdepth
