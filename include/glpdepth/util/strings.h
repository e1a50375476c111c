// Small string helpers shared by the library and the CLI.
#pragma once
#include <string>
#include <vector>

namespace glpdepth {

// ASCII lower case.
std::string to_lower(std::string text);

// Edit distance: insertions, deletions, substitutions and swaps of two neighbours, each 1
// (optimal string alignment), so "trian" is 1 from "train".
int edit_distance(const std::string& a, const std::string& b);

// The candidate closest to `word` when it is close enough to be a likely typo (distance at most
// a third of the longer word, at least 1; or `word` a prefix of exactly one candidate); "" when
// none is. Case-insensitive; '-' and '_' count as the same character.
std::string closest_match(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace glpdepth
