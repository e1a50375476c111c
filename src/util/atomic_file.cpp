#include "glpdepth/util/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "glpdepth/util/error.h"

namespace glpdepth {
namespace fs = std::filesystem;

namespace {

void fsync_path(const fs::path& path, bool directory) {
  int fd = ::open(path.c_str(), directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  if (fd < 0) return;  // best effort: some filesystems do not allow opening folders
  ::fsync(fd);
  ::close(fd);
}

fs::path temporary_name(const fs::path& path) {
  static std::atomic<unsigned> counter{0};
  return path.parent_path() /
         cat(".", path.filename().string(), ".tmp.", ::getpid(), ".", counter++);
}

}  // namespace

void write_file_atomic(const fs::path& path,
                       const std::function<void(const fs::path& temporary)>& write) {
  fs::path parent = path.parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    fs::create_directories(parent, ec);
    check(!ec, "cannot create folder ", parent.string(), ": ", ec.message());
  }
  fs::path temporary = temporary_name(path);
  try {
    write(temporary);
    check(fs::exists(temporary), "writing ", path.string(), ": nothing was written");
    fsync_path(temporary, false);
    std::error_code ec;
    fs::rename(temporary, path, ec);
    check(!ec, "cannot rename ", temporary.string(), " to ", path.string(), ": ", ec.message());
    if (!parent.empty()) fsync_path(parent, true);
  } catch (...) {
    std::error_code ignored;
    fs::remove(temporary, ignored);
    throw;
  }
}

void write_bytes_atomic(const fs::path& path, std::string_view bytes) {
  write_file_atomic(path, [&](const fs::path& temporary) {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    check(out.good(), "cannot open ", temporary.string(), " for writing: ", std::strerror(errno));
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    check(out.good(), "write failed for ", path.string(), " (disk full?)");
  });
}

std::string read_file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  check(in.good(), "cannot open ", path.string(), ": ",
        fs::exists(path) ? "permission denied or not a file" : "no such file");
  std::string bytes;
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  check(size >= 0, "cannot read ", path.string(), ": not a regular file");
  bytes.resize(static_cast<size_t>(size));
  in.seekg(0, std::ios::beg);
  in.read(bytes.data(), size);
  check(in.good() || in.eof(), "read failed for ", path.string());
  return bytes;
}

}  // namespace glpdepth
