#include "glpdepth/deploy/onnx_export.h"

#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <utility>
#include <variant>

#include "glpdepth/io/weights.h"
#include "glpdepth/util/atomic_file.h"
#include "glpdepth/util/error.h"
#include "glpdepth/version.h"

#if GLPDEPTH_HAVE_ONNX
#include <onnx/onnx_pb.h>
#endif

namespace glpdepth {

namespace {

void check_fixed_shape(const OnnxInputShape& shape, const std::string& text) {
  if (shape.batch < 1 || shape.height < 1 || shape.width < 1)
    throw UsageError(cat("--onnx_shape '", text, "': batch, height and width must be positive"));
  // The graph has no padding (the library model pads inside forward; an ONNX file cannot
  // without a data-dependent Pad): the encoder's four halvings and the decoder's skip
  // connections need multiples of 32.
  if (shape.height % 32 != 0 || shape.width % 32 != 0)
    throw UsageError(cat("--onnx_shape '", text, "': height and width must be multiples of 32, got ",
                         shape.height, "x", shape.width));
}

// Requests the exporter cannot satisfy, refused before anything is written.
void check_options(const OnnxExportOptions& options) {
  if (options.opset != kOnnxOpset)
    throw Error(cat("ONNX export: opset ", options.opset, " is not written; only opset ", kOnnxOpset));
  if (options.fixed_shape) {
    const auto& s = *options.fixed_shape;
    check_fixed_shape(s, cat(s.batch, "x", s.height, "x", s.width));
  }
}

}  // namespace

OnnxInputShape parse_onnx_input_shape(const std::string& text) {
  std::vector<int64_t> numbers;
  size_t start = 0;
  while (true) {
    const size_t end = text.find('x', start);
    const std::string part = text.substr(start, end == std::string::npos ? end : end - start);
    const bool digits = !part.empty() && part.size() <= 9 &&
                        std::all_of(part.begin(), part.end(),
                                    [](unsigned char c) { return std::isdigit(c) != 0; });
    if (!digits)
      throw UsageError(cat("--onnx_shape '", text,
                           "': expected BATCHxHEIGHTxWIDTH with positive integers, e.g. 1x352x1216"));
    numbers.push_back(std::stoll(part));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  if (numbers.size() != 3)
    throw UsageError(cat("--onnx_shape '", text,
                         "': expected three numbers BATCHxHEIGHTxWIDTH, e.g. 1x352x1216"));
  OnnxInputShape shape{numbers[0], numbers[1], numbers[2]};
  check_fixed_shape(shape, text);
  return shape;
}

#if !GLPDEPTH_HAVE_ONNX

bool onnx_export_available() { return false; }

OnnxExportSummary write_onnx_model(GLPDepth&, const std::filesystem::path& path,
                                   const OnnxExportOptions& options) {
  check_options(options);
  throw Error(cat("cannot write ", path.string(),
                  ": this glpdepth was built without ONNX export (install libonnx-dev and "
                  "libprotobuf-dev, scripts/install-deps.sh, and configure again)"));
}

std::string onnx_model_bytes(GLPDepth&, const OnnxExportOptions& options) {
  check_options(options);
  throw Error("ONNX export: this glpdepth was built without it (install libonnx-dev and "
              "libprotobuf-dev, scripts/install-deps.sh, and configure again)");
}

#else

bool onnx_export_available() { return true; }

namespace {
namespace nn = torch::nn;
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "ONNX raw_data is little-endian; tensors are copied as they are in memory");

// IR version 8 is the one that came with opset 17 (ONNX 1.12, Debian 12's libonnx); readers of
// newer IR versions read it, and Debian's onnx checker accepts it.
constexpr int64_t kIrVersion = 8;

// The shortest text that reads back as the same double (721.5377, not 721.53769999999997).
std::string format_number(double value) {
  char text[32];
  for (int digits = 6; digits <= 17; ++digits) {
    std::snprintf(text, sizeof text, "%.*g", digits, value);
    if (std::strtod(text, nullptr) == value) break;
  }
  return text;
}

void set_int(onnx::NodeProto& node, const std::string& name, int64_t value) {
  auto* attribute = node.add_attribute();
  attribute->set_name(name);
  attribute->set_type(onnx::AttributeProto::INT);
  attribute->set_i(value);
}
void set_ints(onnx::NodeProto& node, const std::string& name, const std::vector<int64_t>& values) {
  auto* attribute = node.add_attribute();
  attribute->set_name(name);
  attribute->set_type(onnx::AttributeProto::INTS);
  for (int64_t value : values) attribute->add_ints(value);
}
void set_float(onnx::NodeProto& node, const std::string& name, float value) {
  auto* attribute = node.add_attribute();
  attribute->set_name(name);
  attribute->set_type(onnx::AttributeProto::FLOAT);
  attribute->set_f(value);
}
void set_string(onnx::NodeProto& node, const std::string& name, const std::string& value) {
  auto* attribute = node.add_attribute();
  attribute->set_name(name);
  attribute->set_type(onnx::AttributeProto::STRING);
  attribute->set_s(value);
}

// Fills an initializer from a contiguous CPU tensor (float32, float16 or int64).
void fill_tensor(onnx::TensorProto& proto, const std::string& name, const torch::Tensor& tensor) {
  proto.set_name(name);
  switch (tensor.scalar_type()) {
    case torch::kFloat32: proto.set_data_type(onnx::TensorProto::FLOAT); break;
    case torch::kFloat16: proto.set_data_type(onnx::TensorProto::FLOAT16); break;
    case torch::kInt64: proto.set_data_type(onnx::TensorProto::INT64); break;
    default: throw Error(cat("ONNX export: no ONNX type for ", tensor.scalar_type(), " (", name, ")"));
  }
  for (int64_t size : tensor.sizes()) proto.add_dims(size);
  proto.set_raw_data(tensor.data_ptr(), tensor.numel() * tensor.element_size());
}

// Adds nodes and initializers to one graph. Values are named after the module that computes
// them ("encoder.block1.0.attn.q"), so ONNX Runtime's messages and graph viewers point at the
// state_dict names; every name is checked to be new (a graph value has one producer).
class GraphWriter {
 public:
  GraphWriter(onnx::GraphProto& graph, StateDict weights, bool fp16_weights)
      : graph_(graph), fp16_weights_(fp16_weights) {
    for (auto& [key, tensor] : weights) weights_.emplace(key, tensor);
  }

  // The float32 value of state_dict entry `key`, added as an initializer on first use.
  // Linear weights are stored transposed ([in, out]) for MatMul and named "<key>.T". With
  // fp16_weights the initializer holds float16 and a Cast gives the float32 value.
  std::string weight(const std::string& key, bool transposed = false) {
    const std::string name = transposed ? key + ".T" : key;
    auto known = weight_values_.find(name);
    if (known != weight_values_.end()) return known->second;
    auto found = weights_.find(key);
    check(found != weights_.end(), "ONNX export: the model has no tensor '", key, "'");
    used_.insert(key);
    torch::Tensor tensor = found->second.detach().to(torch::kCPU, torch::kFloat32);
    if (transposed) tensor = tensor.t();
    std::string value = name;
    if (fp16_weights_) {
      tensor = tensor.to(torch::kFloat16);
      check(torch::isfinite(tensor).all().item<bool>(), "ONNX export: ", key,
            " has values beyond float16's range (65504): export it without fp16 weights");
      value = name + "/float32";
      auto& cast = node("Cast", value, {name});
      set_int(cast, "to", onnx::TensorProto::FLOAT);
    }
    fill_tensor(*graph_.add_initializer(), claim(name), tensor.contiguous());
    weight_values_.emplace(name, value);
    return value;
  }

  // Constant int64 vector (shapes, axes), shared by all nodes that need the same values.
  std::string int64s(const std::vector<int64_t>& values) {
    std::string name = "const/int64";
    for (int64_t v : values) name += "_" + (v < 0 ? "m" + std::to_string(-v) : std::to_string(v));
    if (constants_.insert(name).second)
      fill_tensor(*graph_.add_initializer(), claim(name),
                  torch::tensor(values, torch::kInt64).contiguous());
    return name;
  }

  // Constant float32: a scalar (0-d) when `values` has one element and `scalar` is set.
  std::string floats(const std::string& label, const std::vector<float>& values, bool scalar) {
    const std::string name = "const/" + label;
    if (constants_.insert(name).second) {
      torch::Tensor tensor = torch::tensor(values, torch::kFloat32);
      if (scalar) tensor = tensor.reshape({});
      fill_tensor(*graph_.add_initializer(), claim(name), tensor.contiguous());
    }
    return name;
  }

  // Adds node `op` whose first output is `name` (further outputs: name/1, name/2, ...).
  onnx::NodeProto& node(const std::string& op, const std::string& name,
                        const std::vector<std::string>& inputs, int outputs = 1) {
    auto* node = graph_.add_node();
    node->set_op_type(op);
    node->set_name(name);
    for (const auto& input : inputs) node->add_input(input);
    node->add_output(claim(name));
    for (int k = 1; k < outputs; ++k) node->add_output(claim(cat(name, "/", k)));
    return *node;
  }
  std::string op(const std::string& op, const std::string& name,
                 const std::vector<std::string>& inputs) {
    return node(op, name, inputs).output(0);
  }

  // Every parameter and buffer must be in the graph (running statistics' batch counters aside):
  // a layer the exporter does not know would otherwise be dropped silently.
  void check_every_weight_used() const {
    std::vector<std::string> unused;
    for (const auto& [key, tensor] : weights_) {
      const bool counter = key.size() >= 19 && key.compare(key.size() - 19, 19, "num_batches_tracked") == 0;
      if (!counter && !used_.count(key)) unused.push_back(key);
    }
    if (!unused.empty()) {
      std::string list;
      for (size_t k = 0; k < unused.size() && k < 5; ++k) list += (k ? ", " : "") + unused[k];
      throw Error(cat("ONNX export: the graph would leave out ", unused.size(),
                      " model tensors (", list, unused.size() > 5 ? ", ..." : "",
                      "): the exporter does not know this model's structure"));
    }
  }

 private:
  const std::string& claim(const std::string& name) {
    auto inserted = names_.insert(name);
    check(inserted.second, "ONNX export: value name '", name, "' used twice");
    return *inserted.first;
  }

  onnx::GraphProto& graph_;
  bool fp16_weights_;
  std::map<std::string, torch::Tensor> weights_;
  std::map<std::string, std::string> weight_values_;
  std::set<std::string> used_, constants_, names_;
};

// The spatial size of one encoder stage, for reshaping tokens [B, N, C] back to [B, C, h, w]:
// dynamic graphs read h and w from the stage's patch-embedding output at run time; fixed-shape
// graphs use numbers, so they need no Shape operator at all.
struct StageGrid {
  std::string name;
  std::string height_width;  // dynamic: int64 [h, w]
  int64_t batch = 0, height = 0, width = 0;  // fixed shapes
};

class GlpDepthOnnxWriter {
 public:
  GlpDepthOnnxWriter(GraphWriter& graph, GLPDepthImpl& model,
                     const std::optional<OnnxInputShape>& fixed)
      : g_(graph), model_(model), fixed_(fixed) {}

  // image [B,3,H,W] -> depth [B,1,H,W], as GLPDepthImpl::forward for multiples of 32.
  std::string depth(const std::string& image, const std::string& output) {
    auto features = encoder(image);
    auto decoded = decoder(features);
    const auto& head = model_.last_layer_depth;
    auto x = conv(head->ptr(0)->as<nn::Conv2dImpl>(), "last_layer_depth.0", decoded);
    check(head->ptr(1)->as<nn::ReLUImpl>() != nullptr, "ONNX export: last_layer_depth.1 is not a ReLU");
    x = g_.op("Relu", "last_layer_depth.1", {x});
    x = conv(head->ptr(2)->as<nn::Conv2dImpl>(), "last_layer_depth.2", x);
    x = g_.op("Sigmoid", "last_layer_depth/sigmoid", {x});
    // sigmoid * max_depth: the multiplication happens in float32, as LibTorch does it.
    auto max_depth = g_.floats("max_depth", {static_cast<float>(model_.options().max_depth)}, true);
    return g_.op("Mul", output, {x, max_depth});
  }

 private:
  // ---- layers --------------------------------------------------------------------------------
  std::string conv(const nn::Conv2dImpl* layer, const std::string& key, const std::string& input) {
    check(layer != nullptr, "ONNX export: ", key, " is not a Conv2d");
    const auto& options = layer->options;
    using std::get_if;  // LibTorch 1.13's c10::variant has its own get_if, found by ADL
    const auto* padding = get_if<torch::ExpandingArray<2>>(&options.padding());
    check(padding != nullptr && get_if<torch::enumtype::kZeros>(&options.padding_mode()) != nullptr,
          "ONNX export: ", key, " has a padding mode other than explicit zeros");
    std::vector<std::string> inputs = {input, g_.weight(key + ".weight")};
    if (options.bias()) inputs.push_back(g_.weight(key + ".bias"));
    auto& node = g_.node("Conv", key, inputs);
    const auto &kernel = *options.kernel_size(), &stride = *options.stride();
    const auto &pad = **padding, &dilation = *options.dilation();
    set_ints(node, "kernel_shape", {kernel[0], kernel[1]});
    set_ints(node, "strides", {stride[0], stride[1]});
    set_ints(node, "pads", {pad[0], pad[1], pad[0], pad[1]});
    set_ints(node, "dilations", {dilation[0], dilation[1]});
    set_int(node, "group", options.groups());
    return node.output(0);
  }

  // x [..., in] -> [..., out]: MatMul with the transposed weight, then the bias.
  std::string linear(const nn::LinearImpl& layer, const std::string& key, const std::string& input) {
    auto y = g_.op("MatMul", key + "/matmul", {input, g_.weight(key + ".weight", true)});
    if (!layer.options.bias()) return y;
    return g_.op("Add", key, {y, g_.weight(key + ".bias")});
  }

  std::string layer_norm(const nn::LayerNormImpl& layer, const std::string& key,
                         const std::string& input) {
    const auto& options = layer.options;
    check(options.normalized_shape().size() == 1 && options.elementwise_affine(),
          "ONNX export: ", key, " is not an affine LayerNorm over the last dimension");
    auto& node = g_.node("LayerNormalization", key,
                         {input, g_.weight(key + ".weight"), g_.weight(key + ".bias")});
    set_int(node, "axis", -1);
    set_float(node, "epsilon", static_cast<float>(options.eps()));
    return node.output(0);
  }

  // Decoder conv -> BatchNorm (inference: running statistics) -> ReLU. BatchNormalization is
  // kept as an operator rather than folded into the convolution, so the initializers stay the
  // state_dict's tensors; runtimes fold it themselves.
  std::string conv_bn_relu(const nn::Sequential& block, const std::string& key,
                           const std::string& input) {
    auto x = conv(block->ptr(0)->as<nn::Conv2dImpl>(), key + ".0", input);
    const auto* bn = block->ptr(1)->as<nn::BatchNorm2dImpl>();
    check(bn != nullptr, "ONNX export: ", key,
          ".1 is not a BatchNorm2d (a model built with sync_batchnorm cannot be exported)");
    const std::string bn_key = key + ".1";
    auto& node = g_.node("BatchNormalization", bn_key,
                         {x, g_.weight(bn_key + ".weight"), g_.weight(bn_key + ".bias"),
                          g_.weight(bn_key + ".running_mean"), g_.weight(bn_key + ".running_var")});
    set_float(node, "epsilon", static_cast<float>(bn->options.eps()));
    return g_.op("Relu", key + ".2", {node.output(0)});
  }

  // Bilinear x2 with align_corners=false: ONNX's half_pixel coordinates are PyTorch's
  // (x_in = (x_out + 0.5) / 2 - 0.5, clamped at the border).
  std::string upsample2x(const std::string& input, const std::string& name) {
    auto scales = g_.floats("upsample_scales", {1.f, 1.f, 2.f, 2.f}, false);
    auto& node = g_.node("Resize", name, {input, "", scales});
    set_string(node, "mode", "linear");
    set_string(node, "coordinate_transformation_mode", "half_pixel");
    return node.output(0);
  }

  std::string transpose(const std::string& input, const std::vector<int64_t>& perm,
                        const std::string& name) {
    auto& node = g_.node("Transpose", name, {input});
    set_ints(node, "perm", perm);
    return node.output(0);
  }

  std::string reshape(const std::string& input, const std::string& shape, const std::string& name) {
    return g_.op("Reshape", name, {input, shape});
  }

  // ---- token <-> image layouts ----------------------------------------------------------------
  StageGrid stage_grid(int stage, const std::string& patch_grid, int64_t& height, int64_t& width,
                       const nn::Conv2dImpl& proj) {
    StageGrid grid;
    grid.name = cat("encoder.stage", stage + 1);
    if (fixed_) {
      // Conv output size, as LibTorch computes it (floor((n + 2p - d(k-1) - 1) / s) + 1).
      const auto& o = proj.options;
      using std::get_if;
      const auto& pad = **get_if<torch::ExpandingArray<2>>(&o.padding());
      auto out = [&](int64_t n, int axis) {
        return (n + 2 * pad[axis] - (*o.dilation())[axis] * ((*o.kernel_size())[axis] - 1) - 1) /
                   (*o.stride())[axis] + 1;
      };
      height = out(height, 0);
      width = out(width, 1);
      grid.batch = fixed_->batch;
      grid.height = height;
      grid.width = width;
    } else {
      auto& shape = g_.node("Shape", grid.name + "/height_width", {patch_grid});
      set_int(shape, "start", 2);
      grid.height_width = shape.output(0);
    }
    return grid;
  }

  // Shape [B, channels, h, w] of a stage's feature map.
  std::string image_shape(const StageGrid& grid, int64_t channels) {
    if (fixed_) return g_.int64s({grid.batch, channels, grid.height, grid.width});
    const std::string name = cat(grid.name, "/shape_", channels);
    auto cached = image_shapes_.find(name);
    if (cached != image_shapes_.end()) return cached->second;
    // 0 copies the batch from the reshaped tensor ([B, C, N]).
    auto& concat = g_.node("Concat", name, {g_.int64s({0, channels}), grid.height_width});
    set_int(concat, "axis", 0);
    image_shapes_.emplace(name, concat.output(0));
    return concat.output(0);
  }

  // [B, N, C] -> [B, C, h, w] (row-major tokens, as mit.cpp's tokens_to_image).
  std::string tokens_to_image(const std::string& tokens, const StageGrid& grid, int64_t channels,
                              const std::string& name) {
    auto channels_first = transpose(tokens, {0, 2, 1}, name + "/transpose");
    return reshape(channels_first, image_shape(grid, channels), name);
  }

  // [B, C, h, w] -> [B, N, C] (flatten(2).transpose(1, 2)).
  std::string image_to_tokens(const std::string& image, int64_t channels, const std::string& name) {
    auto flat = reshape(image, g_.int64s({0, channels, -1}), name + "/flatten");
    return transpose(flat, {0, 2, 1}, name);
  }

  // ---- encoder --------------------------------------------------------------------------------
  std::vector<std::string> encoder(const std::string& image) {
    auto& mit = *model_.encoder;
    std::vector<std::string> features;
    std::string x = image;
    int64_t height = fixed_ ? fixed_->height : 0, width = fixed_ ? fixed_->width : 0;
    for (int s = 0; s < 4; ++s) {
      const int64_t channels = mit.variant.embed_dims[s];
      const std::string embed_key = cat("encoder.patch_embed", s + 1);
      auto& embed = *mit.patch_embed[s];
      auto patches = conv(embed.proj.get(), embed_key + ".proj", x);
      StageGrid grid = stage_grid(s, patches, height, width, *embed.proj);
      auto tokens = layer_norm(*embed.norm, embed_key + ".norm",
                               image_to_tokens(patches, channels, embed_key + "/tokens"));
      int64_t index = 0;
      for (auto& module : *mit.block[s]) {
        auto* block = module->as<MitBlockImpl>();
        check(block != nullptr, "ONNX export: encoder stage ", s + 1, " holds a non-MiT block");
        tokens = mit_block(*block, cat("encoder.block", s + 1, ".", index++), tokens, grid, channels);
      }
      tokens = layer_norm(*mit.norm[s], cat("encoder.norm", s + 1), tokens);
      x = tokens_to_image(tokens, grid, channels, cat("encoder.c", s + 1));
      features.push_back(x);
    }
    return features;
  }

  std::string mit_block(MitBlockImpl& block, const std::string& key, const std::string& tokens,
                        const StageGrid& grid, int64_t channels) {
    auto attended = attention(*block.attn, key + ".attn",
                              layer_norm(*block.norm1, key + ".norm1", tokens), grid);
    auto y = g_.op("Add", key + "/attention_residual", {tokens, attended});
    auto mixed = mix_ffn(*block.mlp, key + ".mlp", layer_norm(*block.norm2, key + ".norm2", y), grid);
    return g_.op("Add", key, {y, mixed});
  }

  // Efficient self-attention: softmax(q k^T / sqrt(d)) v per head, keys and values from the
  // tokens reduced by the sr x sr convolution.
  std::string attention(EfficientAttentionImpl& attn, const std::string& key,
                        const std::string& tokens, const StageGrid& grid) {
    const int64_t dim = attn.dim, heads = attn.num_heads, head_dim = dim / heads;
    // The scale goes on q, as in mit.cpp (same float32 rounding).
    auto scale = g_.floats(cat("attention_scale_", head_dim), {static_cast<float>(attn.scale)}, true);
    auto query = g_.op("Mul", key + ".q/scaled", {linear(*attn.q, key + ".q", tokens), scale});
    std::string reduced = tokens;
    if (attn.sr_ratio > 1) {
      auto image = tokens_to_image(tokens, grid, dim, key + "/image");
      auto sr = conv(attn.sr.get(), key + ".sr", image);
      reduced = layer_norm(*attn.norm, key + ".norm", image_to_tokens(sr, dim, key + ".sr/tokens"));
    }
    // kv columns [0, C) are the keys, [C, 2C) the values.
    auto& split = g_.node("Split", key + ".kv/split", {linear(*attn.kv, key + ".kv", reduced)}, 2);
    set_int(split, "axis", 2);
    const auto head_shape = g_.int64s({0, 0, heads, head_dim});
    auto per_head = [&](const std::string& x, std::vector<int64_t> perm, const std::string& name) {
      return transpose(reshape(x, head_shape, name + "/heads"), perm, name);
    };
    auto q = per_head(query, {0, 2, 1, 3}, key + "/query");            // [B, h, N, d]
    auto k_t = per_head(split.output(0), {0, 2, 3, 1}, key + "/key_t");  // [B, h, d, Nk]
    auto v = per_head(split.output(1), {0, 2, 1, 3}, key + "/value");    // [B, h, Nk, d]
    auto scores = g_.op("MatMul", key + "/scores", {q, k_t});
    auto& softmax = g_.node("Softmax", key + "/softmax", {scores});
    set_int(softmax, "axis", -1);
    auto out = g_.op("MatMul", key + "/weighted_values", {softmax.output(0), v});
    auto merged = reshape(transpose(out, {0, 2, 1, 3}, key + "/merge_transpose"),
                          g_.int64s({0, 0, dim}), key + "/merge");
    return linear(*attn.proj, key + ".proj", merged);
  }

  // fc1 -> depthwise 3x3 conv on the image layout -> exact GELU -> fc2.
  std::string mix_ffn(MixFFNImpl& mlp, const std::string& key, const std::string& tokens,
                      const StageGrid& grid) {
    const int64_t hidden = mlp.fc1->options.out_features();
    auto image = tokens_to_image(linear(*mlp.fc1, key + ".fc1", tokens), grid, hidden, key + "/image");
    auto conv_out = conv(mlp.dwconv->dwconv.get(), key + ".dwconv.dwconv", image);
    auto hidden_tokens = image_to_tokens(conv_out, hidden, key + ".dwconv/tokens");
    return linear(*mlp.fc2, key + ".fc2", gelu(hidden_tokens, key + "/gelu"));
  }

  // Exact GELU, x * 0.5 * (1 + erf(x / sqrt(2))): opset 17 has Erf but no Gelu.
  std::string gelu(const std::string& x, const std::string& name) {
    auto inv_sqrt2 = g_.floats("gelu_inv_sqrt2", {static_cast<float>(1.0 / std::sqrt(2.0))}, true);
    auto one = g_.floats("one", {1.f}, true);
    auto half = g_.floats("half", {0.5f}, true);
    auto erf = g_.op("Erf", name + "/erf", {g_.op("Mul", name + "/scaled", {x, inv_sqrt2})});
    auto gate = g_.op("Add", name + "/gate", {erf, one});
    return g_.op("Mul", name, {g_.op("Mul", name + "/half", {x, half}), gate});
  }

  // ---- decoder --------------------------------------------------------------------------------
  std::string decoder(const std::vector<std::string>& c) {
    auto& d = *model_.decoder;
    auto global = upsample2x(conv(d.bot_conv.get(), "decoder.bot_conv", c[3]), "decoder.up1");
    global = fusion(*d.fusion1, "decoder.fusion1", conv(d.skip_conv1.get(), "decoder.skip_conv1", c[2]),
                    global);
    global = upsample2x(global, "decoder.up2");
    global = fusion(*d.fusion2, "decoder.fusion2", conv(d.skip_conv2.get(), "decoder.skip_conv2", c[1]),
                    global);
    global = upsample2x(global, "decoder.up3");
    global = fusion(*d.fusion3, "decoder.fusion3", c[0], global);
    return upsample2x(upsample2x(global, "decoder.up4"), "decoder.up5");
  }

  // Selective Feature Fusion: a = sigmoid(conv3(conv2(conv1([local, global])))),
  // out = local * a0 + global * a1.
  std::string fusion(SelectiveFeatureFusionImpl& sff, const std::string& key,
                     const std::string& local, const std::string& global) {
    auto& concat = g_.node("Concat", key + "/concat", {local, global});
    set_int(concat, "axis", 1);
    auto x = conv_bn_relu(sff.conv1, key + ".conv1", concat.output(0));
    x = conv_bn_relu(sff.conv2, key + ".conv2", x);
    x = g_.op("Sigmoid", key + "/attention", {conv(sff.conv3.get(), key + ".conv3", x)});
    auto& split = g_.node("Split", key + "/attention_split", {x}, 2);
    set_int(split, "axis", 1);
    auto weighted_local = g_.op("Mul", key + "/local_weighted", {local, split.output(0)});
    auto weighted_global = g_.op("Mul", key + "/global_weighted", {global, split.output(1)});
    return g_.op("Add", key, {weighted_local, weighted_global});
  }

  GraphWriter& g_;
  GLPDepthImpl& model_;
  std::optional<OnnxInputShape> fixed_;
  std::map<std::string, std::string> image_shapes_;
};

void set_tensor_type(onnx::ValueInfoProto& value, const std::string& name,
                     const std::vector<std::pair<std::string, int64_t>>& dims) {
  value.set_name(name);
  auto* tensor = value.mutable_type()->mutable_tensor_type();
  tensor->set_elem_type(onnx::TensorProto::FLOAT);
  auto* shape = tensor->mutable_shape();
  for (const auto& [param, size] : dims) {
    auto* dim = shape->add_dim();
    if (param.empty()) {
      dim->set_dim_value(size);
    } else {
      dim->set_dim_param(param);
    }
  }
}

}  // namespace

namespace {

// The whole network as an ONNX ModelProto, checked against protobuf's 2 GiB limit.
onnx::ModelProto build_model_proto(GLPDepth& model, const OnnxExportOptions& options) {
  check_options(options);
  const GLPDepthOptions& net = model->options();

  onnx::ModelProto proto;
  proto.set_ir_version(kIrVersion);
  auto* opset = proto.add_opset_import();
  opset->set_domain("");
  opset->set_version(options.opset);
  proto.set_producer_name("glpdepth");
  proto.set_producer_version(version());

  const std::string size_rule =
      options.fixed_shape
          ? cat("fixed input shape ", options.fixed_shape->batch, "x3x", options.fixed_shape->height,
                "x", options.fixed_shape->width)
          : std::string("dynamic batch, height and width; height and width must be multiples of 32 "
                        "(the graph does not pad: pad or resize other sizes first)");
  const std::string input_rule =
      "image: float32 [batch, 3, height, width], NCHW, RGB in [0, 1] (8-bit values / 255), no "
      "mean/std normalisation";
  const std::string output_rule =
      net.canonical_focal > 0
          ? cat("depth: float32 [batch, 1, height, width] in (0, ", format_number(net.max_depth),
                "), depth for a camera of focal length ", format_number(net.canonical_focal),
                " px: metric depth in metres = depth * fx / ", format_number(net.canonical_focal))
          : cat("depth: float32 [batch, 1, height, width], metres in (0, ",
                format_number(net.max_depth), ")");
  proto.set_doc_string(cat("GLPDepth (MiT-", net.encoder,
                           " encoder, selective-feature-fusion decoder, sigmoid x max_depth head) "
                           "written by glpdepth ", version(), ". Input ", input_rule,
                           ". Output ", output_rule, ". Shapes: ", size_rule, "."));

  std::map<std::string, std::string> metadata = {
      {"glpdepth_version", version()},
      {"encoder", to_string(net.encoder)},
      {"max_depth", format_number(net.max_depth)},
      {"canonical_focal", format_number(net.canonical_focal)},
      {"input", input_rule},
      {"input_size", size_rule},
      {"output", output_rule},
      {"weights", options.fp16_weights ? "float16 initializers, cast to float32 in the graph"
                                       : "float32"},
  };
  for (const auto& [key, value] : options.metadata) {
    check(!metadata.count(key), "ONNX export: metadata key '", key, "' is the exporter's own");
    metadata.emplace(key, value);
  }
  for (const auto& [key, value] : metadata) {
    auto* entry = proto.add_metadata_props();
    entry->set_key(key);
    entry->set_value(value);
  }

  auto* graph = proto.mutable_graph();
  graph->set_name(cat("glpdepth_mit_", net.encoder));
  using Dims = std::vector<std::pair<std::string, int64_t>>;
  Dims input_dims = {{"batch", 0}, {"", 3}, {"height", 0}, {"width", 0}};
  Dims output_dims = {{"batch", 0}, {"", 1}, {"height", 0}, {"width", 0}};
  if (options.fixed_shape) {
    const auto& s = *options.fixed_shape;
    input_dims = {{"", s.batch}, {"", 3}, {"", s.height}, {"", s.width}};
    output_dims = {{"", s.batch}, {"", 1}, {"", s.height}, {"", s.width}};
  }
  set_tensor_type(*graph->add_input(), "image", input_dims);
  set_tensor_type(*graph->add_output(), "depth", output_dims);

  {
    torch::NoGradGuard no_grad;
    GraphWriter writer(*graph, module_state_dict(*model), options.fp16_weights);
    GlpDepthOnnxWriter(writer, *model, options.fixed_shape).depth("image", "depth");
    writer.check_every_weight_used();
  }

  // Protocol buffers cannot hold more than 2 GiB (MiT-b5 is about 330 MB in float32).
  const size_t bytes = proto.ByteSizeLong();
  check(bytes < (size_t{1} << 31), "ONNX export: the model would be ", bytes,
        " bytes, over protobuf's 2 GiB limit");
  return proto;
}

}  // namespace

OnnxExportSummary write_onnx_model(GLPDepth& model, const std::filesystem::path& path,
                                   const OnnxExportOptions& options) {
  const onnx::ModelProto proto = build_model_proto(model, options);
  write_file_atomic(path, [&](const std::filesystem::path& temporary) {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    check(out.good(), "cannot write ", path.string(), " (", temporary.string(), ")");
    check(proto.SerializeToOstream(&out), "cannot write ", path.string(), " (", temporary.string(), ")");
    out.close();
    check(out.good(), "cannot write ", path.string(), " (", temporary.string(), ")");
  });
  OnnxExportSummary summary;
  summary.nodes = proto.graph().node_size();
  summary.initializers = proto.graph().initializer_size();
  summary.bytes = static_cast<int64_t>(proto.ByteSizeLong());
  return summary;
}

std::string onnx_model_bytes(GLPDepth& model, const OnnxExportOptions& options) {
  const onnx::ModelProto proto = build_model_proto(model, options);
  std::string bytes;
  check(proto.SerializeToString(&bytes), "ONNX export: cannot serialise the model");
  return bytes;
}

#endif  // GLPDEPTH_HAVE_ONNX

}  // namespace glpdepth
