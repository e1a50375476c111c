#include "openvino_network.h"

#include <torch/torch.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <tuple>
#include <vector>

#include "glpdepth/deploy/onnx_export.h"
#include "glpdepth/infer/backend.h"
#include "glpdepth/util/error.h"

#if GLPDEPTH_HAVE_OPENVINO
#include <openvino/openvino.hpp>
#endif

namespace glpdepth {

bool openvino_available() {
#if GLPDEPTH_HAVE_OPENVINO
  return onnx_export_available();
#else
  return false;
#endif
}

std::string openvino_version() {
#if GLPDEPTH_HAVE_OPENVINO
  return ov::get_openvino_version().buildNumber;
#else
  return "";
#endif
}

#if !GLPDEPTH_HAVE_OPENVINO

struct OpenVinoNetwork::State {};

OpenVinoNetwork::OpenVinoNetwork(GLPDepth&, const OpenVinoOptions&) {
  throw Error("backend openvino: this glpdepth was built without OpenVINO (make installs it in "
              ".venv-openvino with scripts/make-openvino-env.sh; configure again); use "
              "--backend libtorch");
}
OpenVinoNetwork::~OpenVinoNetwork() = default;
torch::Tensor OpenVinoNetwork::forward(const torch::Tensor&) { return {}; }
int OpenVinoNetwork::parallel_requests() const { return 1; }

#else

namespace {

using Shape = std::tuple<int64_t, int64_t, int64_t>;  // batch, height, width

ov::element::Type hint_for(Precision precision) {
  switch (precision) {
    case Precision::kFloat32: return ov::element::f32;
    case Precision::kBFloat16: return ov::element::bf16;
    default:
      throw UsageError(cat("backend openvino: precision ", to_string(precision),
                           " is not offered (fp32 or bf16)"));
  }
}

}  // namespace

struct OpenVinoNetwork::State {
  OpenVinoOptions options;
  int threads = 1;
  ov::Core core;
  std::shared_ptr<ov::Model> model;  // dynamic batch, height and width
  // Per input shape: the model compiled for it and its inference requests not in use. A
  // request holds the network's intermediate memory, so each is made once and reused (a new one
  // per call pays for that memory again, page faults included).
  struct Compiled {
    ov::CompiledModel model;
    std::vector<ov::InferRequest> idle;
  };
  std::mutex mutex;  // guards compiled
  std::map<Shape, Compiled> compiled;

  // Compiled once per shape: static shapes let OpenVINO plan memory and pick kernels for them.
  ov::InferRequest take_request(const Shape& shape) {
    std::lock_guard<std::mutex> lock(mutex);
    auto found = compiled.find(shape);
    if (found == compiled.end()) found = compiled.emplace(shape, Compiled{compile(shape), {}}).first;
    std::vector<ov::InferRequest>& idle = found->second.idle;
    if (idle.empty()) return found->second.model.create_infer_request();
    ov::InferRequest request = std::move(idle.back());
    idle.pop_back();
    return request;
  }

  void give_back(const Shape& shape, ov::InferRequest request) {
    std::lock_guard<std::mutex> lock(mutex);
    compiled.at(shape).idle.push_back(std::move(request));
  }

  ov::CompiledModel compile(const Shape& shape) {
    auto fixed = model->clone();
    const auto& [batch, height, width] = shape;
    fixed->reshape(ov::PartialShape{batch, 3, height, width});
    const bool throughput = options.hint == PerformanceHint::kThroughput;
    ov::AnyMap properties = {
        ov::hint::inference_precision(hint_for(options.precision)),
        ov::hint::performance_mode(throughput ? ov::hint::PerformanceMode::THROUGHPUT
                                              : ov::hint::PerformanceMode::LATENCY),
        ov::inference_num_threads(threads)};
    if (throughput) properties.emplace(ov::hint::num_requests(static_cast<uint32_t>(threads)));
    return core.compile_model(fixed, "CPU", properties);
  }
};

OpenVinoNetwork::OpenVinoNetwork(GLPDepth& model, const OpenVinoOptions& options)
    : state_(std::make_unique<State>()) {
  state_->options = options;
  state_->threads = std::max(1, options.threads > 0 ? options.threads : torch::get_num_threads());
  hint_for(options.precision);  // refused before the export's work
  const std::string onnx = onnx_model_bytes(model);
  try {
    state_->model = state_->core.read_model(onnx, ov::Tensor());
  } catch (const std::exception& e) {
    throw Error(cat("backend openvino: OpenVINO ", openvino_version(),
                    " cannot read the exported model: ", e.what()));
  }
}

OpenVinoNetwork::~OpenVinoNetwork() = default;

torch::Tensor OpenVinoNetwork::forward(const torch::Tensor& images) {
  check(images.dim() == 4 && images.size(1) == 3 && images.size(2) % 32 == 0 &&
            images.size(3) % 32 == 0,
        "backend openvino: expected images [B,3,H,W] with H and W multiples of 32, got ",
        images.sizes());
  torch::Tensor input = images.to(torch::kCPU, torch::kFloat32).contiguous();
  const int64_t batch = input.size(0), height = input.size(2), width = input.size(3);
  try {
    const Shape shape{batch, height, width};
    ov::InferRequest request = state_->take_request(shape);
    torch::Tensor depth = torch::empty({batch, 1, height, width}, torch::kFloat32);
    // Both tensors wrap LibTorch's memory: OpenVINO reads and writes in place, no copies.
    request.set_input_tensor(ov::Tensor(ov::element::f32,
                                        ov::Shape{size_t(batch), 3, size_t(height), size_t(width)},
                                        input.data_ptr<float>()));
    request.set_output_tensor(ov::Tensor(
        ov::element::f32, ov::Shape{size_t(batch), 1, size_t(height), size_t(width)},
        depth.data_ptr<float>()));
    request.infer();
    // Back to the pool still pointing at this call's tensors: the next call binds its own
    // before it runs.
    state_->give_back(shape, std::move(request));
    return depth;
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(cat("backend openvino: inference of ", batch, "x3x", height, "x", width,
                    " failed: ", e.what()));
  }
}

int OpenVinoNetwork::parallel_requests() const {
  return state_->options.hint == PerformanceHint::kThroughput ? state_->threads : 1;
}

#endif  // GLPDEPTH_HAVE_OPENVINO

}  // namespace glpdepth
