// The one exception type of the library: it carries what is wrong and names the file or flag.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace glpdepth {

// Library errors: bad input, unreadable files, inconsistent configuration. The CLI prints
// "error: <what()>" and exits 1.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Command-line misuse (unknown flag, bad value). The CLI exits 2.
class UsageError : public Error {
 public:
  explicit UsageError(const std::string& what) : Error(what) {}
};

// Concatenates anything streamable: cat("file ", path, ": ", n, " bytes").
template <typename... Parts>
std::string cat(Parts&&... parts) {
  std::ostringstream out;
  (out << ... << std::forward<Parts>(parts));
  return out.str();
}

// Throws Error(cat(parts...)) unless condition holds.
template <typename... Parts>
void check(bool condition, Parts&&... parts) {
  if (!condition) throw Error(cat(std::forward<Parts>(parts)...));
}

// An error about `file` seen from further up ("input image X"): `context: what` unless `what`
// already names the file, so that a reader's "file X: corrupt JPEG" is not told twice.
inline Error error_about_file(const std::string& context, const std::string& file,
                              const std::string& what) {
  if (!file.empty() && what.find(file) != std::string::npos) return Error(what);
  return Error(context + ": " + what);
}

}  // namespace glpdepth
