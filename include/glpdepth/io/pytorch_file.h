// PyTorch checkpoint files (torch.save) read and written without Python: the zip format (the
// default since PyTorch 1.6) and the legacy one. Only the pickle subset PyTorch uses for tensors
// and state_dicts is understood; any other pickled global is refused by name, so loading an
// untrusted file never runs code.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace glpdepth {

// A pickled Python value: None, bool, int, float, str, bytes, list, tuple, dict or tensor.
// Dicts keep insertion order and may have any keys (optimizer states use ints).
class PyValue {
 public:
  enum class Kind { kNone, kBool, kInt, kFloat, kString, kBytes, kList, kTuple, kDict, kTensor };
  using Items = std::vector<PyValue>;
  using Entries = std::vector<std::pair<PyValue, PyValue>>;

  PyValue() = default;  // None
  PyValue(bool value) : kind_(Kind::kBool), int_(value) {}
  PyValue(int value) : kind_(Kind::kInt), int_(value) {}
  PyValue(long value) : kind_(Kind::kInt), int_(value) {}
  PyValue(long long value) : kind_(Kind::kInt), int_(value) {}
  PyValue(double value) : kind_(Kind::kFloat), float_(value) {}
  PyValue(const char* value) : kind_(Kind::kString), string_(value) {}
  PyValue(std::string value) : kind_(Kind::kString), string_(std::move(value)) {}
  PyValue(torch::Tensor value) : kind_(Kind::kTensor), tensor_(std::move(value)) {}

  static PyValue bytes(std::string value);
  static PyValue list(Items items = {});
  static PyValue tuple(Items items = {});
  static PyValue dict(Entries entries = {});

  Kind kind() const { return kind_; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_bool() const { return kind_ == Kind::kBool; }
  bool is_int() const { return kind_ == Kind::kInt; }
  bool is_float() const { return kind_ == Kind::kFloat; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_bytes() const { return kind_ == Kind::kBytes; }
  bool is_list() const { return kind_ == Kind::kList; }
  bool is_tuple() const { return kind_ == Kind::kTuple; }
  bool is_dict() const { return kind_ == Kind::kDict; }
  bool is_tensor() const { return kind_ == Kind::kTensor; }

  // Accessors throw Error when the kind differs (as_float also accepts an int).
  bool as_bool() const;
  int64_t as_int() const;
  double as_float() const;
  const std::string& as_string() const;  // str or bytes
  const torch::Tensor& as_tensor() const;
  const Items& items() const;  // list or tuple
  Items& items();
  const Entries& entries() const;  // dict
  Entries& entries();

  // Dict helpers: the value under a str (or int) key, nullptr when absent.
  const PyValue* find(std::string_view key) const;
  const PyValue* find(int64_t key) const;
  const PyValue& at(std::string_view key) const;  // throws Error naming the key
  // Replaces the value under `key` or appends the pair; returns *this for chaining.
  PyValue& set(PyValue key, PyValue value);
  PyValue& append(PyValue value);  // list or tuple

  static const char* kind_name(Kind kind);

 private:
  Kind kind_ = Kind::kNone;
  int64_t int_ = 0;
  double float_ = 0.0;
  std::string string_;
  torch::Tensor tensor_;
  Items items_;
  Entries entries_;
};

bool operator==(const PyValue& a, const PyValue& b);  // tensors: same dtype, shape and values
inline bool operator!=(const PyValue& a, const PyValue& b) { return !(a == b); }

// An ordered state_dict: names and tensors in file (registration) order.
using StateDict = std::vector<std::pair<std::string, torch::Tensor>>;

// The tensor stored under `name`, or an undefined tensor.
torch::Tensor find_tensor(const StateDict& state, std::string_view name);

// Reads a torch.save file (zip or legacy format). Tensors come back on the CPU with the stored
// dtype; views of one storage share memory as they did in Python. Throws Error naming the file
// for anything unreadable, truncated, corrupt or outside the supported pickle subset.
PyValue read_pytorch_file(const std::filesystem::path& path);

// Reads the tensors of a checkpoint: PyTorch (either format) or safetensors, told apart by
// content. For PyTorch files the tensor dict is the top-level dict or its "state_dict" or "model"
// entry. Keys are returned as stored (see strip_module_prefix in weights.h).
StateDict read_state_dict(const std::filesystem::path& path);

// The state_dict inside a loaded PyTorch value (see read_state_dict); `what` names it in errors.
StateDict state_dict_from_value(const PyValue& value, const std::string& what);

struct PyTorchWriteOptions {
  // Dicts are written as collections.OrderedDict (what nn.Module.state_dict() returns) when true,
  // as plain dicts otherwise. Either loads as a mapping in Python.
  bool ordered_dicts = false;
};

// Writes `value` in PyTorch's zip format (readable by torch.load from 1.6 on), atomically.
// Every tensor gets its own contiguous storage. Tensors may be float32/float16/bfloat16/float64/
// int64/int32/int16/int8/uint8/bool, on any device.
void write_pytorch_file(const std::filesystem::path& path, const PyValue& value,
                        const PyTorchWriteOptions& options = {});

// Writes a state_dict as an OrderedDict of tensors, each key prefixed with `prefix` (e.g.
// "module." for the layout of DataParallel checkpoints).
void write_state_dict(const std::filesystem::path& path, const StateDict& state,
                      const std::string& prefix = "");

}  // namespace glpdepth
