#include "glpdepth/io/pytorch_file.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <unordered_map>

#include "glpdepth/io/safetensors.h"
#include "glpdepth/util/atomic_file.h"
#include "glpdepth/util/error.h"
#include "io/pickle.h"
#include "io/zip.h"

namespace glpdepth {

namespace {

// torch.save's legacy format starts with pickle.dumps(0x1950a86a20f9469cfc6c, protocol=p):
// PROTO p, a FRAME for p >= 4, LONG1 of 10 bytes, STOP. Returns the length of that pickle, or 0.
constexpr size_t kHeadSize = 32;
size_t legacy_magic_size(const char* head, size_t n) {
  const unsigned char magic[] = {0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9,
                                 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e};
  if (n < 2 + sizeof(magic) || static_cast<unsigned char>(head[0]) != 0x80) return 0;
  size_t pos = 2;
  if (static_cast<unsigned char>(head[pos]) == 0x95) pos += 9;
  if (n < pos + sizeof(magic) || std::memcmp(head + pos, magic, sizeof(magic)) != 0) return 0;
  return pos + sizeof(magic);
}

std::string describe(const std::exception& e) {
  std::string what = e.what();
  // c10::Error appends a C++ backtrace; its first line is the message.
  auto newline = what.find('\n');
  if (newline != std::string::npos) what.resize(newline);
  return what;
}

PyValue read_zip(std::ifstream& in, uint64_t file_size) {
  detail::ZipReader zip(in, file_size);
  // The archive folder is whatever torch.save named it ("archive", the file's stem, ...).
  const detail::ZipEntry* pickle_entry = nullptr;
  for (const auto& entry : zip.entries()) {
    auto slash = entry.name.find('/');
    if (slash != std::string::npos && entry.name.substr(slash) == "/data.pkl") {
      check(pickle_entry == nullptr, "zip holds more than one data.pkl");
      pickle_entry = &entry;
    }
  }
  check(pickle_entry != nullptr, "zip file without <archive>/data.pkl: not a PyTorch file");
  std::string prefix = pickle_entry->name.substr(0, pickle_entry->name.find('/') + 1);
  if (const auto* order = zip.find(prefix + "byteorder")) {
    check(order->size < 64, "bad byteorder record");
    std::string value = zip.read(*order);
    check(value == "little", "byte order '", value, "' is not supported");
  }
  std::string pickled = zip.read(*pickle_entry);
  uint64_t loaded_bytes = 0;
  detail::StorageLoader load = [&](const detail::StorageId& id) {
    std::string name = prefix + "data/" + id.key;
    const detail::ZipEntry* entry = zip.find(name);
    check(entry != nullptr, "storage record '", name, "' is missing");
    int64_t nbytes;
    check(!__builtin_mul_overflow(id.numel, detail::element_size(id.dtype), &nbytes),
          "storage size overflow");
    check(static_cast<uint64_t>(nbytes) == entry->size, "storage record '", name, "' holds ",
          entry->size, " bytes, the pickle expects ", nbytes);
    loaded_bytes += entry->size;
    check(loaded_bytes <= file_size, "storages add up to more than the file size");
    torch::Tensor bytes = torch::empty({nbytes}, torch::kUInt8);
    zip.read_into(*entry, bytes.data_ptr());
    return bytes;
  };
  detail::MemorySource source(pickled);
  return detail::unpickle(source, load, detail::unpickle_budget(file_size));
}

PyValue read_legacy(std::ifstream& in, uint64_t file_size, size_t magic_size) {
  detail::FileSource source(in, magic_size, file_size);
  detail::StorageLoader no_storages = [](const detail::StorageId&) -> torch::Tensor {
    throw Error("unexpected storage in the file header");
  };
  PyValue protocol = detail::unpickle(source, no_storages, detail::unpickle_budget(file_size));
  check(protocol.is_int() && protocol.as_int() == 1001, "unsupported legacy protocol version");
  PyValue sys_info = detail::unpickle(source, no_storages, detail::unpickle_budget(file_size));
  check(sys_info.is_dict(), "bad legacy header");
  if (const PyValue* little = sys_info.find("little_endian")) {
    check(little->is_bool() && little->as_bool(), "big-endian files are not supported");
  }
  struct Pending {
    torch::Tensor bytes;
    int64_t numel;
    int64_t element_size;
  };
  std::unordered_map<std::string, Pending> storages;
  uint64_t allocated = 0;
  // Storages are allocated while unpickling and filled afterwards, in the order the key list
  // names them; their sizes must fit in what is left of the file.
  detail::StorageLoader load = [&](const detail::StorageId& id) {
    int64_t elem = detail::element_size(id.dtype);
    int64_t nbytes;
    check(!__builtin_mul_overflow(id.numel, elem, &nbytes), "storage size overflow");
    allocated += static_cast<uint64_t>(nbytes);
    check(allocated <= source.remaining(), "storages add up to more than the file holds");
    torch::Tensor bytes = torch::zeros({nbytes}, torch::kUInt8);
    storages.emplace(id.key, Pending{bytes, id.numel, elem});
    return bytes;
  };
  PyValue result = detail::unpickle(source, load, detail::unpickle_budget(file_size));
  PyValue keys = detail::unpickle(source, no_storages, detail::unpickle_budget(file_size));
  check(keys.is_list(), "legacy storage key list missing");
  for (const PyValue& key : keys.items()) {
    check(key.is_string(), "legacy storage key is not a string");
    auto found = storages.find(key.as_string());
    check(found != storages.end(), "storage '", key.as_string(), "' is not used by the pickle");
    Pending& pending = found->second;
    int64_t numel;
    source.read(&numel, 8);
    check(numel == pending.numel, "storage '", key.as_string(), "' holds ", numel,
          " elements, the pickle expects ", pending.numel);
    source.read(pending.bytes.data_ptr(), static_cast<uint64_t>(numel * pending.element_size));
  }
  return result;
}

}  // namespace

PyValue read_pytorch_file(const std::filesystem::path& path) {
  try {
    std::ifstream in(path, std::ios::binary);
    check(static_cast<bool>(in), "cannot open");
    std::error_code ec;
    uint64_t size = std::filesystem::file_size(path, ec);
    check(!ec, "cannot get the size: ", ec.message());
    char head[kHeadSize] = {0};
    in.read(head, kHeadSize);
    size_t got = static_cast<size_t>(in.gcount());
    if (got >= 4 && std::memcmp(head, "PK\x03\x04", 4) == 0) return read_zip(in, size);
    if (size_t magic_size = legacy_magic_size(head, got)) return read_legacy(in, size, magic_size);
    throw Error("not a PyTorch file (neither a zip archive nor the legacy magic number)");
  } catch (const std::exception& e) {
    throw Error(cat("file ", path.string(), ": ", describe(e)));
  }
}

StateDict state_dict_from_value(const PyValue& value, const std::string& what) {
  check(value.is_dict(), what, ": holds a ", PyValue::kind_name(value.kind()),
        ", not a dict of tensors");
  const PyValue* dict = &value;
  for (const char* wrapper : {"state_dict", "model"}) {
    const PyValue* inner = value.find(wrapper);
    if (inner && inner->is_dict()) {
      dict = inner;
      break;
    }
  }
  StateDict out;
  for (const auto& [key, item] : dict->entries()) {
    check(key.is_string(), what, ": state_dict key of type ", PyValue::kind_name(key.kind()));
    check(item.is_tensor(), what, ": entry '", key.as_string(), "' is a ",
          PyValue::kind_name(item.kind()), ", not a tensor");
    out.emplace_back(key.as_string(), item.as_tensor());
  }
  return out;
}

StateDict read_state_dict(const std::filesystem::path& path) {
  if (looks_like_safetensors(path)) return read_safetensors(path);
  return state_dict_from_value(read_pytorch_file(path), cat("file ", path.string()));
}

void write_pytorch_file(const std::filesystem::path& path, const PyValue& value,
                        const PyTorchWriteOptions& options) {
  try {
    std::vector<torch::Tensor> storages;
    std::string pickled =
        detail::pickle(value, options.ordered_dicts, [&](const torch::Tensor& tensor) {
          storages.push_back(tensor);
          return std::to_string(storages.size() - 1);
        });
    write_file_atomic(path, [&](const std::filesystem::path& temporary) {
      errno = 0;
      std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
      check(static_cast<bool>(out), "cannot create ", temporary.string(), ": ", errno_text());
      detail::ZipWriter zip(out);
      const std::string prefix = "archive/";
      zip.add(prefix + "data.pkl", pickled.data(), pickled.size());
      zip.add(prefix + "byteorder", "little", 6);
      for (size_t k = 0; k < storages.size(); ++k) {
        const torch::Tensor& t = storages[k];
        zip.add(prefix + "data/" + std::to_string(k), t.data_ptr(),
                static_cast<uint64_t>(t.numel()) * t.element_size());
      }
      zip.add(prefix + "version", "3\n", 2);
      zip.finish();
      errno = 0;
      out.close();
      check(!out.fail(), "write failed: ", errno_text());
    });
  } catch (const std::exception& e) {
    throw Error(cat("file ", path.string(), ": ", describe(e)));
  }
}

void write_state_dict(const std::filesystem::path& path, const StateDict& state,
                      const std::string& prefix) {
  PyValue::Entries entries;
  entries.reserve(state.size());
  for (const auto& [name, tensor] : state) entries.emplace_back(prefix + name, tensor);
  PyTorchWriteOptions options;
  options.ordered_dicts = true;
  write_pytorch_file(path, PyValue::dict(std::move(entries)), options);
}

}  // namespace glpdepth
