// Writing files so that a reader never sees a half-written one: write to a temporary file in the
// same folder, flush it to disk, then rename over the target.
#pragma once
#include <filesystem>
#include <functional>
#include <string_view>
#include <vector>

namespace glpdepth {

// Calls write(temporary_path) and renames the result to `path`. If write throws, the temporary
// file is removed and `path` keeps its previous content. Creates the parent folder if needed.
void write_file_atomic(const std::filesystem::path& path,
                       const std::function<void(const std::filesystem::path& temporary)>& write);

// A process killed mid-write leaves its temporary file (.<name>.tmp.<pid>.<n>) beside the
// target. Removes those directly inside `folder`, except the ones of this process, and returns
// what it removed. Call it only on a folder no other process is writing to (a run folder that
// this process owns).
std::vector<std::filesystem::path> remove_stale_temporaries(const std::filesystem::path& folder);

// strerror(errno), or "unknown reason" when errno is 0: for messages about a failed stream
// (the stream itself does not say whether the disk is full or the folder read-only).
std::string errno_text();

// Convenience: atomically replaces `path` with `bytes`.
void write_bytes_atomic(const std::filesystem::path& path, std::string_view bytes);

// Reads a whole file; throws Error naming the file if it cannot.
std::string read_file_bytes(const std::filesystem::path& path);

}  // namespace glpdepth
