// safetensors files: an 8-byte little-endian header length, a JSON header naming each tensor's
// dtype, shape and byte range, then the raw little-endian data.
#pragma once
#include <filesystem>
#include <map>
#include <string>

#include "glpdepth/io/pytorch_file.h"

namespace glpdepth {

// Tensors come back in file-data order (the order the writer used). Throws Error naming the
// file for a malformed header, overlapping or out-of-range data, or unknown dtypes.
StateDict read_safetensors(const std::filesystem::path& path,
                           std::map<std::string, std::string>* metadata = nullptr);

// Writes atomically; tensors may be on any device and need not be contiguous.
void write_safetensors(const std::filesystem::path& path, const StateDict& state,
                       const std::map<std::string, std::string>& metadata = {});

// True when the file starts like a safetensors file (a plausible header length, then '{').
bool looks_like_safetensors(const std::filesystem::path& path);

}  // namespace glpdepth
