// Writing files so that a reader never sees a half-written one: write to a temporary file in the
// same folder, flush it to disk, then rename over the target.
#pragma once
#include <filesystem>
#include <functional>
#include <string_view>

namespace glpdepth {

// Calls write(temporary_path) and renames the result to `path`. If write throws, the temporary
// file is removed and `path` keeps its previous content. Creates the parent folder if needed.
void write_file_atomic(const std::filesystem::path& path,
                       const std::function<void(const std::filesystem::path& temporary)>& write);

// Convenience: atomically replaces `path` with `bytes`.
void write_bytes_atomic(const std::filesystem::path& path, std::string_view bytes);

// Reads a whole file; throws Error naming the file if it cannot.
std::string read_file_bytes(const std::filesystem::path& path);

}  // namespace glpdepth
