#include "glpdepth/util/error.h"

#include <gtest/gtest.h>

namespace glpdepth {
namespace {

TEST(ErrorAboutFile, AddsTheContextUnlessTheMessageNamesTheFileAlready) {
  EXPECT_STREQ(error_about_file("input image /a/b.jpg", "/a/b.jpg",
                                "file /a/b.jpg: corrupt JPEG (Bogus marker length)")
                   .what(),
               "file /a/b.jpg: corrupt JPEG (Bogus marker length)");
  EXPECT_STREQ(error_about_file("input image /a/b.jpg", "/a/b.jpg", "out of memory").what(),
               "input image /a/b.jpg: out of memory");
  // Another file of the same base name is not this file.
  EXPECT_STREQ(error_about_file("image b.jpg", "/a/b.jpg", "file /x/b.jpg: short").what(),
               "image b.jpg: file /x/b.jpg: short");
  EXPECT_STREQ(error_about_file("image", "", "anything").what(), "image: anything");
}

}  // namespace
}  // namespace glpdepth
