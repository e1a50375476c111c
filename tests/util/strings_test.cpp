// The edit distance and the "did you mean" choice of the command line.
#include <gtest/gtest.h>

#include "glpdepth/util/strings.h"

namespace glpdepth {
namespace {

TEST(EditDistance, CountsInsertionsDeletionsSubstitutionsAndSwaps) {
  EXPECT_EQ(edit_distance("", ""), 0);
  EXPECT_EQ(edit_distance("abc", ""), 3);
  EXPECT_EQ(edit_distance("epoch", "epochs"), 1);   // insertion
  EXPECT_EQ(edit_distance("trian", "train"), 1);    // two neighbours swapped
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3); // the textbook case
  EXPECT_EQ(edit_distance("ca", "abc"), 3);          // OSA, not unrestricted Damerau (2)
}

TEST(ClosestMatch, SuggestsOnlyLikelyTypos) {
  const std::vector<std::string> commands = {"train", "test", "predict", "eval-pngs", "info"};
  EXPECT_EQ(closest_match("trian", commands), "train");
  EXPECT_EQ(closest_match("evalpngs", commands), "eval-pngs");
  EXPECT_EQ(closest_match("Predict", commands), "predict");
  EXPECT_EQ(closest_match("pred", commands), "predict");  // a unique prefix
  EXPECT_EQ(closest_match("fit", commands), "");
  EXPECT_EQ(closest_match("", commands), "");
  EXPECT_EQ(closest_match("--val-fractoin", {"--val_fraction", "--seed"}), "--val_fraction");
}

TEST(ToLower, OnlyAscii) { EXPECT_EQ(to_lower("DrivingStereo-2"), "drivingstereo-2"); }

}  // namespace
}  // namespace glpdepth
