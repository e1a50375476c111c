// Closed sets of choices are enums with one table of names each (aliases after the main name):
// parsing, naming and the flags' lists of choices all read that table.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "glpdepth/util/error.h"

namespace glpdepth {

template <typename E>
using NameTable = std::vector<std::pair<std::string, E>>;

// The value named `text`; UsageError "unknown <what> 'x' (a, b, c)" otherwise.
template <typename E>
E parse_name(const NameTable<E>& table, const std::string& text, const std::string& what) {
  std::string known;
  for (const auto& [name, value] : table) {
    if (name == text) return value;
    known += (known.empty() ? "" : ", ") + name;
  }
  throw UsageError(cat("unknown ", what, " '", text, "' (", known, ")"));
}

// The first (main) name of `value`; "?" for a value the table lacks.
template <typename E>
std::string name_of(const NameTable<E>& table, E value) {
  for (const auto& [name, v] : table)
    if (v == value) return name;
  return "?";
}

}  // namespace glpdepth
