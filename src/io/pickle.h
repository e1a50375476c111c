// The pickle subset PyTorch uses (private to glpdepth_io). Errors are thrown as glpdepth::Error
// without the file name; the callers add it.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <fstream>
#include <functional>
#include <string>

#include "glpdepth/io/pytorch_file.h"

namespace glpdepth::detail {

// Sequential bytes with a known end, so that every length read from the input can be checked
// against what is left before anything is allocated.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads exactly n bytes or throws Error("truncated ...").
  virtual void read(void* destination, uint64_t n) = 0;
  virtual uint64_t remaining() const = 0;
  uint8_t read_u8();
};

class MemorySource : public ByteSource {
 public:
  explicit MemorySource(const std::string& bytes) : bytes_(bytes) {}
  void read(void* destination, uint64_t n) override;
  uint64_t remaining() const override { return bytes_.size() - position_; }

 private:
  const std::string& bytes_;
  uint64_t position_ = 0;
};

class FileSource : public ByteSource {
 public:
  FileSource(std::ifstream& in, uint64_t position, uint64_t end);
  void read(void* destination, uint64_t n) override;
  uint64_t remaining() const override { return end_ - position_; }
  uint64_t position() const { return position_; }

 private:
  std::ifstream& in_;
  uint64_t position_;
  uint64_t end_;
};

// A storage named by a persistent id ('storage', <dtype>Storage, key, location, numel[, view]).
struct StorageId {
  std::string key;
  std::string location;
  c10::ScalarType dtype = c10::ScalarType::Float;
  int64_t numel = 0;
};

// Returns the storage's bytes as a 1-D uint8 CPU tensor (the same tensor for the same key, so
// that views share memory). Its content may be filled in after unpickling.
using StorageLoader = std::function<torch::Tensor(const StorageId& id)>;

// Unpickles one object (protocols 0-5 opcodes that PyTorch and Python emit for these values).
// The objects it builds, and the values they expand into (shared references become copies), may
// take about `memory_budget` bytes at most: beyond that it is an Error, not an attempt.
PyValue unpickle(ByteSource& in, const StorageLoader& load_storage, uint64_t memory_budget);

// Within issue 27's rule for a file of `file_size` bytes (16x its size, 1 MiB aside): half of it.
uint64_t unpickle_budget(uint64_t file_size);

// Element size of the storage dtypes we handle; throws Error for others.
int64_t element_size(c10::ScalarType dtype);
// "FloatStorage" for Float etc.; throws Error for unsupported dtypes.
std::string storage_class_name(c10::ScalarType dtype);

// Pickles `value` (protocol 2) the way torch.save does. Each tensor is handed to `add_storage`
// (as a contiguous CPU tensor), which returns the storage key to reference.
std::string pickle(const PyValue& value, bool ordered_dicts,
                   const std::function<std::string(const torch::Tensor&)>& add_storage);

}  // namespace glpdepth::detail
