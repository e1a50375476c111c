#include "glpdepth/util/strings.h"

#include <algorithm>
#include <cctype>

namespace glpdepth {

std::string to_lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

int edit_distance(const std::string& a, const std::string& b) {
  // Optimal string alignment: three rows of the Damerau-Levenshtein table.
  const size_t n = b.size();
  std::vector<int> before(n + 1), previous(n + 1), row(n + 1);
  for (size_t j = 0; j <= n; ++j) previous[j] = static_cast<int>(j);
  for (size_t i = 1; i <= a.size(); ++i) {
    row[0] = static_cast<int>(i);
    for (size_t j = 1; j <= n; ++j) {
      const int cost = a[i - 1] == b[j - 1] ? 0 : 1;
      row[j] = std::min({previous[j] + 1, row[j - 1] + 1, previous[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        row[j] = std::min(row[j], before[j - 2] + 1);  // two neighbours swapped
    }
    before.swap(previous);
    previous.swap(row);
  }
  return previous[n];
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
