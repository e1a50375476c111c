#include "glpdepth/util/output_path.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>

#include "glpdepth/util/error.h"

namespace glpdepth {
namespace fs = std::filesystem;

namespace {

// The first of `candidate(1)`, `candidate(2)`, ... that `free` accepts.
fs::path first_free(const std::function<fs::path(int)>& candidate,
                    const std::function<bool(const fs::path&)>& free) {
  for (int k = 1; k < 100000; ++k)
    if (free(candidate(k))) return candidate(k);
  throw Error(cat(candidate(1).string(), ": too many earlier results beside it"));
}

bool holds_anything(const fs::path& dir) {
  std::error_code ec;
  return fs::exists(dir, ec) && (!fs::is_directory(dir, ec) || !fs::is_empty(dir, ec));
}

}  // namespace

void make_output_folder(const fs::path& dir, const std::string& flag) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir))
    throw Error(cat(flag, " ", dir.string(), ": cannot create the folder (",
                    ec ? ec.message() : std::string("a file is in the way"), ")"));
  // create_directories succeeds on an existing read-only folder: say so now, not at the first file.
  if (::access(dir.c_str(), W_OK) != 0)
    throw Error(cat(flag, " ", dir.string(), ": cannot write into the folder (",
                    std::strerror(errno), ")"));
}

void check_output_folder_possible(const fs::path& dir, const std::string& flag) {
  std::error_code ec;
  fs::path existing = fs::absolute(dir, ec);
  while (!existing.empty() && !fs::exists(existing, ec) && existing != existing.parent_path())
    existing = existing.parent_path();
  if (!fs::is_directory(existing, ec))
    throw Error(cat(flag, " ", dir.string(), ": cannot create the folder (", existing.string(),
                    " is a file)"));
  if (::access(existing.c_str(), W_OK) != 0)
    throw Error(cat(flag, " ", dir.string(), ": cannot write into ", existing.string(), " (",
                    std::strerror(errno), ")"));
}

ClaimedOutput claim_output_folder(const fs::path& dir, ExistingOutput existing,
                                  const std::string& flag) {
  ClaimedOutput out{dir, false};
  if (existing == ExistingOutput::kNewName) {
    // "out/" and "out" name the same folder; its _2 is "out_2".
    const fs::path base = dir.filename().empty() ? dir.parent_path() : dir;
    out.path = first_free(
        [&](int k) { return k == 1 ? base : fs::path(cat(base.string(), "_", k)); },
        [](const fs::path& p) { return !holds_anything(p); });
    out.renamed = out.path != base;
  }
  make_output_folder(out.path, flag);
  return out;
}

ClaimedOutput claim_output_file(const fs::path& file, ExistingOutput existing,
                                const std::string& flag) {
  ClaimedOutput out{file, false};
  std::error_code ec;
  if (fs::is_directory(file, ec))
    throw Error(cat(flag, " ", file.string(), ": is a folder; give a file name"));
  if (existing == ExistingOutput::kNewName) {
    const fs::path stem = file.parent_path() / file.stem();
    out.path = first_free(
        [&](int k) {
          return k == 1 ? file : fs::path(cat(stem.string(), "_", k, file.extension().string()));
        },
        [](const fs::path& p) {
          std::error_code e;
          return !fs::exists(p, e);
        });
    out.renamed = out.path != file;
  }
  if (!out.path.parent_path().empty()) make_output_folder(out.path.parent_path(), flag);
  return out;
}

}  // namespace glpdepth
