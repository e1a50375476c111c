// The message of the exception `f` throws, "no error" when it throws none: tests assert on what
// a user would read.
#pragma once
#include <exception>
#include <functional>
#include <string>

namespace glpdepth::testing {

inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace glpdepth::testing
