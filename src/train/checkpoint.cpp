#include "glpdepth/train/checkpoint.h"

#include <torch/serialize.h>
#include <torch/torch.h>

#include <sstream>
#include <type_traits>

#include "glpdepth/io/pytorch_file.h"
#include "glpdepth/io/weights.h"
#include "glpdepth/model/loading.h"
#include "glpdepth/model/serialization.h"
#include "glpdepth/util/error.h"

namespace glpdepth {

namespace {

torch::Tensor bytes_tensor(const std::vector<uint8_t>& bytes) {
  auto tensor = torch::empty({static_cast<int64_t>(bytes.size())}, torch::kUInt8);
  if (!bytes.empty()) std::memcpy(tensor.data_ptr<uint8_t>(), bytes.data(), bytes.size());
  return tensor;
}

std::vector<uint8_t> tensor_bytes(const torch::Tensor& tensor) {
  auto contiguous = tensor.to(torch::kUInt8).contiguous();
  const uint8_t* data = contiguous.data_ptr<uint8_t>();
  return std::vector<uint8_t>(data, data + contiguous.numel());
}

PyValue number_dict(const std::map<std::string, double>& numbers) {
  PyValue dict = PyValue::dict();
  for (const auto& [key, number] : numbers) dict.set(key, number);
  return dict;
}

PyValue state_dict_value(const StateDict& state) {
  PyValue::Entries entries;
  entries.reserve(state.size());
  for (const auto& [name, tensor] : state) entries.emplace_back(PyValue(name), PyValue(tensor));
  return PyValue::dict(std::move(entries));
}

CheckpointData read_metadata(const PyValue& value, const std::string& what) {
  check(is_glpdepth_checkpoint(value), what, ": not a glpdepth training checkpoint (no \"",
        kCheckpointFormatKey, "\" entry; plain weight files are weights, not runs to resume)");
  CheckpointData data;
  data.model_options = read_checkpoint_header(value, what);
  const PyValue& progress = value.at("progress");
  auto& p = data.progress;
  p.epoch = progress.at("epoch").as_int();
  p.batch_in_epoch = progress.at("batch_in_epoch").as_int();
  p.global_step = progress.at("global_step").as_int();
  p.skipped_steps = progress.at("skipped_steps").as_int();
  p.consecutive_skipped = progress.at("consecutive_skipped").as_int();
  p.best_value = progress.at("best_value").as_float();
  p.best_epoch = progress.at("best_epoch").as_int();
  p.train_loss_sum = progress.at("train_loss_sum").as_float();
  p.train_loss_count = progress.at("train_loss_count").as_int();
  // Checkpoints before the log window was kept have none: the row then starts afresh.
  auto number = [&](const char* key, auto& out) {
    if (const PyValue* v = progress.find(key)) {
      if constexpr (std::is_same_v<std::decay_t<decltype(out)>, double>) out = v->as_float();
      else out = v->as_int();
    }
  };
  number("window_loss_sum", p.window.loss);
  number("window_norm_sum", p.window.norm);
  number("window_losses", p.window.losses);
  number("window_norms", p.window.norms);
  number("window_images", p.window.images);
  number("window_scaler_skipped", p.window.scaler_skipped);
  for (const auto& [key, number] : value.at("schedule").entries())
    data.schedule[key.as_string()] = number.as_float();
  if (const PyValue* scaler = value.find("loss_scaler"))
    for (const auto& [key, number] : scaler->entries())
      data.loss_scaler[key.as_string()] = number.as_float();
  const PyValue& rng = value.at("rng");
  data.rng.torch_cpu = tensor_bytes(rng.at("torch_cpu").as_tensor());
  for (const auto& device : rng.at("torch_cuda").items())
    data.rng.torch_cuda.push_back(tensor_bytes(device.as_tensor()));
  data.rng.seed = static_cast<uint64_t>(rng.at("seed").as_int());
  data.rng.seed_count = static_cast<uint64_t>(rng.at("seed_count").as_int());
  data.config_json = value.at("config").as_string();
  data.optimizer_bytes = value.at("optimizer").as_string();
  return data;
}

}  // namespace

void save_checkpoint(const std::filesystem::path& path, GLPDepth& model,
                     torch::optim::Optimizer* optimizer, const CheckpointData& data) {
  std::string optimizer_bytes;
  if (optimizer) {
    torch::serialize::OutputArchive archive;
    optimizer->save(archive);
    std::ostringstream stream;
    archive.save_to(stream);
    optimizer_bytes = stream.str();
  }
  const auto& p = data.progress;
  PyValue cuda_states = PyValue::list();
  for (const auto& state : data.rng.torch_cuda) cuda_states.append(bytes_tensor(state));

  PyValue value = PyValue::dict();
  value.set(kCheckpointFormatKey, kCheckpointFormatVersion)
      .set("model_options", model_header_value(model->options()))
      .set("model", state_dict_value(module_state_dict(*model)))
      .set("optimizer", PyValue::bytes(optimizer_bytes))
      .set("schedule", number_dict(data.schedule))
      .set("loss_scaler", number_dict(data.loss_scaler))
      .set("progress", PyValue::dict()
                           .set("epoch", p.epoch)
                           .set("batch_in_epoch", p.batch_in_epoch)
                           .set("global_step", p.global_step)
                           .set("skipped_steps", p.skipped_steps)
                           .set("consecutive_skipped", p.consecutive_skipped)
                           .set("best_value", p.best_value)
                           .set("best_epoch", p.best_epoch)
                           .set("train_loss_sum", p.train_loss_sum)
                           .set("train_loss_count", p.train_loss_count)
                           .set("window_loss_sum", p.window.loss)
                           .set("window_norm_sum", p.window.norm)
                           .set("window_losses", p.window.losses)
                           .set("window_norms", p.window.norms)
                           .set("window_images", p.window.images)
                           .set("window_scaler_skipped", p.window.scaler_skipped))
      .set("rng", PyValue::dict()
                      .set("torch_cpu", bytes_tensor(data.rng.torch_cpu))
                      .set("torch_cuda", cuda_states)
                      .set("seed", static_cast<int64_t>(data.rng.seed))
                      .set("seed_count", static_cast<int64_t>(data.rng.seed_count)))
      .set("config", data.config_json);
  PyTorchWriteOptions options;
  options.ordered_dicts = true;
  write_pytorch_file(path, value, options);
}

CheckpointData peek_checkpoint(const std::filesystem::path& path) {
  return read_metadata(read_pytorch_file(path), path.string());
}

CheckpointData load_checkpoint(const std::filesystem::path& path, GLPDepth& model,
                               torch::optim::Optimizer* optimizer) {
  const std::string what = path.string();
  PyValue value = read_pytorch_file(path);
  CheckpointData data = read_metadata(value, what);
  check(data.model_options.encoder == model->options().encoder, what, ": holds MiT-",
        data.model_options.encoder, " weights, the run uses MiT-", model->options().encoder);
  load_weights(*model, state_dict_from_value(value.at("model"), what), LoadMode::kStrict, what);
  if (optimizer) {
    check(!data.optimizer_bytes.empty(), what, ": holds no optimiser state");
    torch::serialize::InputArchive archive;
    std::istringstream stream(data.optimizer_bytes);
    try {
      // Optimiser state goes to the device of the parameters it belongs to.
      auto parameters = model->parameters();
      archive.load_from(stream, parameters.empty() ? torch::Device(torch::kCPU)
                                                   : parameters.front().device());
      optimizer->load(archive);
    } catch (const c10::Error& e) {
      throw Error(cat(what, ": optimiser state does not fit this run (other optimiser?): ",
                      e.what_without_backtrace()));
    }
  }
  return data;
}

}  // namespace glpdepth
