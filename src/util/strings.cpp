#include "glpdepth/util/strings.h"

#include <algorithm>
#include <cctype>

namespace glpdepth {

std::string to_lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

int edit_distance(const std::string& a, const std::string& b) {
  std::vector<int> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = static_cast<int>(j);
  for (size_t i = 1; i <= a.size(); ++i) {
    int diagonal = row[0];
    row[0] = static_cast<int>(i);
    for (size_t j = 1; j <= b.size(); ++j) {
      const int above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

namespace {
std::string folded(const std::string& text) {
  std::string out = to_lower(text);
  std::replace(out.begin(), out.end(), '-', '_');
  return out;
}
}  // namespace

std::string closest_match(const std::string& word, const std::vector<std::string>& candidates) {
  const std::string key = folded(word);
  if (key.empty()) return "";
  std::string best, prefixed;
  int best_distance = 1 << 30, prefix_count = 0;
  for (const std::string& candidate : candidates) {
    const std::string other = folded(candidate);
    const int distance = edit_distance(key, other);
    if (distance < best_distance) {
      best_distance = distance;
      best = candidate;
    }
    if (other.rfind(key, 0) == 0) {
      ++prefix_count;
      prefixed = candidate;
    }
  }
  const int longer = static_cast<int>(std::max(key.size(), folded(best).size()));
  if (!best.empty() && best_distance <= std::max(1, longer / 3)) return best;
  if (prefix_count == 1) return prefixed;
  return "";
}

}  // namespace glpdepth
