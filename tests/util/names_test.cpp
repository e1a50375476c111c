// One table of names per enum: parse_name finds aliases, refuses unknown names listing the known
// ones, and name_of gives the main (first) name.
#include <gtest/gtest.h>

#include "glpdepth/util/names.h"

namespace glpdepth {
namespace {

enum class Colour { kRed, kGreen, kBlue };

const NameTable<Colour>& colours() {
  static const NameTable<Colour> table = {{"red", Colour::kRed}, {"green", Colour::kGreen}, {"verde", Colour::kGreen}};
  return table;
}

TEST(Names, ParseFindsAliasesAndNameOfGivesTheMainName) {
  EXPECT_EQ(parse_name(colours(), "verde", "colour"), Colour::kGreen);
  EXPECT_EQ(name_of(colours(), Colour::kGreen), "green");
  EXPECT_EQ(name_of(colours(), Colour::kBlue), "?");
  try {
    parse_name(colours(), "blue", "colour");
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_STREQ(e.what(), "unknown colour 'blue' (red, green, verde)");
  }
}

}  // namespace
}  // namespace glpdepth
