#include "glpdepth/io/safetensors.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <fstream>

#include "glpdepth/util/atomic_file.h"
#include "glpdepth/util/error.h"

namespace glpdepth {

namespace {

// The header is JSON; the format's own reader refuses headers over 100 MB.
constexpr uint64_t kMaxHeader = 100 * 1000 * 1000;

const std::pair<const char*, c10::ScalarType> kDtypes[] = {
    {"F64", c10::ScalarType::Double}, {"F32", c10::ScalarType::Float},
    {"F16", c10::ScalarType::Half},   {"BF16", c10::ScalarType::BFloat16},
    {"I64", c10::ScalarType::Long},   {"I32", c10::ScalarType::Int},
    {"I16", c10::ScalarType::Short},  {"I8", c10::ScalarType::Char},
    {"U8", c10::ScalarType::Byte},    {"BOOL", c10::ScalarType::Bool},
};

c10::ScalarType parse_dtype(const std::string& name) {
  for (const auto& [text, type] : kDtypes) {
    if (name == text) return type;
  }
  throw Error(cat("unsupported safetensors dtype '", name, "'"));
}

const char* dtype_name(c10::ScalarType type) {
  for (const auto& [text, t] : kDtypes) {
    if (t == type) return text;
  }
  throw Error(cat("dtype ", c10::toString(type), " cannot be written to safetensors"));
}

}  // namespace

bool looks_like_safetensors(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  unsigned char head[9];
  in.read(reinterpret_cast<char*>(head), 9);
  if (in.gcount() != 9 || head[8] != '{') return false;
  uint64_t n = 0;
  for (int k = 7; k >= 0; --k) n = (n << 8) | head[k];
  return n >= 2 && n <= kMaxHeader;
}

StateDict read_safetensors(const std::filesystem::path& path,
                           std::map<std::string, std::string>* metadata) {
  try {
    std::ifstream in(path, std::ios::binary);
    check(static_cast<bool>(in), "cannot open");
    std::error_code ec;
    uint64_t file_size = std::filesystem::file_size(path, ec);
    check(!ec, "cannot get the size: ", ec.message());
    check(file_size >= 8, "too small for a safetensors file");
    unsigned char head[8];
    in.read(reinterpret_cast<char*>(head), 8);
    uint64_t header_size = 0;
    for (int k = 7; k >= 0; --k) header_size = (header_size << 8) | head[k];
    check(header_size <= kMaxHeader && header_size <= file_size - 8, "header size ", header_size,
          " does not fit the file (", file_size, " bytes): not a safetensors file or truncated");
    std::string header(header_size, '\0');
    in.read(header.data(), static_cast<std::streamsize>(header_size));
    check(static_cast<uint64_t>(in.gcount()) == header_size, "read failed");
    const uint64_t data_start = 8 + header_size;
    const uint64_t data_size = file_size - data_start;

    nlohmann::json json = nlohmann::json::parse(header, nullptr, /*allow_exceptions=*/false);
    check(json.is_object(), "header is not a JSON object");
    struct Item {
      std::string name;
      c10::ScalarType dtype;
      std::vector<int64_t> shape;
      uint64_t begin, end;
    };
    std::vector<Item> items;
    for (auto it = json.begin(); it != json.end(); ++it) {
      if (it.key() == "__metadata__") {
        check(it->is_object(), "__metadata__ is not an object");
        for (auto m = it->begin(); m != it->end(); ++m) {
          check(m->is_string(), "metadata value '", m.key(), "' is not a string");
          if (metadata) (*metadata)[m.key()] = m->get<std::string>();
        }
        continue;
      }
      const auto& desc = *it;
      check(desc.is_object() && desc.contains("dtype") && desc.contains("shape") &&
                desc.contains("data_offsets") && desc["dtype"].is_string() &&
                desc["shape"].is_array() && desc["data_offsets"].is_array() &&
                desc["data_offsets"].size() == 2,
            "bad description of tensor '", it.key(), "'");
      Item item;
      item.name = it.key();
      item.dtype = parse_dtype(desc["dtype"].get<std::string>());
      int64_t numel = 1;
      for (const auto& d : desc["shape"]) {
        check(d.is_number_unsigned(), "tensor '", item.name, "': bad shape");
        uint64_t v = d.get<uint64_t>();
        check(v <= uint64_t(INT64_MAX), "tensor '", item.name, "': shape overflow");
        item.shape.push_back(static_cast<int64_t>(v));
        check(!__builtin_mul_overflow(numel, static_cast<int64_t>(v), &numel), "tensor '",
              item.name, "': shape overflow");
      }
      check(item.shape.size() <= 64, "tensor '", item.name, "': too many dimensions");
      for (const auto& o : desc["data_offsets"]) {
        check(o.is_number_unsigned(), "tensor '", item.name, "': bad data_offsets");
      }
      item.begin = desc["data_offsets"][0].get<uint64_t>();
      item.end = desc["data_offsets"][1].get<uint64_t>();
      check(item.begin <= item.end && item.end <= data_size, "tensor '", item.name,
            "': data_offsets [", item.begin, ", ", item.end, "] outside the ", data_size,
            "-byte data section");
      int64_t nbytes;
      check(!__builtin_mul_overflow(numel, int64_t(c10::elementSize(item.dtype)), &nbytes) &&
                static_cast<uint64_t>(nbytes) == item.end - item.begin,
            "tensor '", item.name, "': ", item.end - item.begin,
            " bytes do not match its shape and dtype");
      items.push_back(std::move(item));
    }
    // The writer's order is the data order; JSON object order is not kept by parsers.
    std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
      return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    for (size_t k = 1; k < items.size(); ++k) {
      check(items[k].begin >= items[k - 1].end, "tensors '", items[k - 1].name, "' and '",
            items[k].name, "' overlap");
    }
    StateDict out;
    for (const Item& item : items) {
      torch::Tensor tensor = torch::empty(item.shape, torch::TensorOptions().dtype(item.dtype));
      uint64_t n = item.end - item.begin;
      in.clear();
      in.seekg(static_cast<std::streamoff>(data_start + item.begin));
      in.read(static_cast<char*>(tensor.data_ptr()), static_cast<std::streamsize>(n));
      check(static_cast<uint64_t>(in.gcount()) == n, "read failed for tensor '", item.name, "'");
      out.emplace_back(item.name, tensor);
    }
    return out;
  } catch (const std::exception& e) {
    std::string what = e.what();
    auto newline = what.find('\n');
    if (newline != std::string::npos) what.resize(newline);
    throw Error(cat("file ", path.string(), ": ", what));
  }
}

void write_safetensors(const std::filesystem::path& path, const StateDict& state,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<torch::Tensor> data;
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
    header["__metadata__"] = meta;
  }
  uint64_t offset = 0;
  for (const auto& [name, tensor] : state) {
    check(tensor.defined(), "file ", path.string(), ": tensor '", name, "' is undefined");
    check(name != "__metadata__" && !header.contains(name), "file ", path.string(),
          ": duplicate or reserved tensor name '", name, "'");
    torch::Tensor t = tensor.detach().to(torch::kCPU).contiguous();
    uint64_t nbytes = static_cast<uint64_t>(t.numel()) * t.element_size();
    nlohmann::ordered_json desc;
    try {
      desc["dtype"] = dtype_name(t.scalar_type());
    } catch (const Error& e) {
      throw Error(cat("file ", path.string(), ": tensor '", name, "': ", e.what()));
    }
    desc["shape"] = t.sizes().vec();
    desc["data_offsets"] = {offset, offset + nbytes};
    header[name] = desc;
    offset += nbytes;
    data.push_back(t);
  }
  std::string text = header.dump();
  // Pad with spaces so the data section starts 8-byte aligned, as the reference writer does.
  text.append((8 - text.size() % 8) % 8, ' ');
  write_file_atomic(path, [&](const std::filesystem::path& temporary) {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    check(static_cast<bool>(out), "cannot create ", temporary.string());
    uint64_t n = text.size();
    char size_bytes[8];
    for (int k = 0; k < 8; ++k) size_bytes[k] = static_cast<char>((n >> (8 * k)) & 0xFF);
    out.write(size_bytes, 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const torch::Tensor& t : data) {
      out.write(static_cast<const char*>(t.data_ptr()),
                static_cast<std::streamsize>(t.numel() * t.element_size()));
    }
    out.close();
    check(!out.fail(), "write to ", temporary.string(), " failed");
  });
}

}  // namespace glpdepth
