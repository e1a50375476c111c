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

void fsync_folder(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;  // best effort: some filesystems do not allow opening folders
  ::fsync(fd);
  ::close(fd);
}

// A failed fsync (EIO, or ENOSPC on filesystems that allocate late) means the data may never
// reach the disk: the file must not replace the previous one.
void fsync_file(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  check(fd >= 0, "cannot reopen ", path.string(), ": ", errno_text());
  const int rc = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  check(rc == 0 || error == EINVAL, "cannot flush ", path.string(), " to disk: ",
        std::strerror(error));
}

constexpr std::string_view kTemporaryMark = ".tmp.";

fs::path temporary_name(const fs::path& path) {
  static std::atomic<unsigned> counter{0};
  return path.parent_path() /
         cat(".", path.filename().string(), kTemporaryMark, ::getpid(), ".", counter++);
}

bool all_digits(std::string_view text) {
  return !text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos;
}

// The pid in a name made by temporary_name, or -1 for any other name.
long temporary_owner(const std::string& name) {
  const size_t last_dot = name.rfind('.');
  if (name.size() < 2 || name[0] != '.' || last_dot == std::string::npos || last_dot == 0) return -1;
  const size_t pid_dot = name.rfind('.', last_dot - 1);
  if (pid_dot == std::string::npos || pid_dot < kTemporaryMark.size()) return -1;
  const std::string_view view(name);
  const std::string_view pid = view.substr(pid_dot + 1, last_dot - pid_dot - 1);
  if (!all_digits(pid) || !all_digits(view.substr(last_dot + 1))) return -1;
  const size_t mark = pid_dot + 1 - kTemporaryMark.size();
  if (view.substr(mark, kTemporaryMark.size()) != kTemporaryMark || mark < 2) return -1;
  return std::stol(std::string(pid));
}

}  // namespace

std::string errno_text() {
  return errno ? std::strerror(errno) : "unknown reason";
}

std::vector<fs::path> remove_stale_temporaries(const fs::path& folder) {
  std::vector<fs::path> removed;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    const long owner = temporary_owner(entry.path().filename().string());
    if (owner < 0 || owner == ::getpid() || !entry.is_regular_file(ec)) continue;
    if (fs::remove(entry.path(), ec)) removed.push_back(entry.path());
  }
  return removed;
}

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
    fsync_file(temporary);
    std::error_code ec;
    fs::rename(temporary, path, ec);
    check(!ec, "cannot rename ", temporary.string(), " to ", path.string(), ": ", ec.message());
    if (!parent.empty()) fsync_folder(parent);
  } catch (...) {
    std::error_code ignored;
    fs::remove(temporary, ignored);
    throw;
  }
}

void write_bytes_atomic(const fs::path& path, std::string_view bytes) {
  write_file_atomic(path, [&](const fs::path& temporary) {
    errno = 0;
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    check(out.good(), "cannot open ", temporary.string(), " for writing: ", errno_text());
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    check(out.good(), "write failed for ", path.string(), ": ", errno_text());
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
