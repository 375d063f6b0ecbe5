// Joining the warnings of a job's runs (processors/processor_warning.h): the chunks of a video,
// each with its own processors, must warn as the whole job does — one entry per kind, counts
// summed, worst figures maximised, counts of runs without a warning included.
#include <gtest/gtest.h>

#include "facefuse/processors/processor_warning.h"

namespace facefuse::processors {
namespace {

ProcessorWarning pose(int64_t mismatches, int64_t swapped, int64_t worst) {
  return {"pose_mismatch",
          "{mismatches} of {swapped} faces turned up to {worst_yaw}° in a{b}.jpg",
          {{"mismatches", mismatches}, {"swapped", swapped}},
          {{"worst_yaw", worst}},
          "mismatches"};
}

TEST(ProcessorWarning, MergeKeepsOneEntryPerKindSummingCountsAndMaximisingWorstFigures) {
  const ProcessorWarning small{"source_small", "the source face in a.jpg is small (52 px)"};
  const auto merged = merge_warnings({small, pose(2, 10, 41), small, pose(0, 12, 0), small, pose(1, 5, 35)});
  ASSERT_EQ(merged.size(), 2u);
  EXPECT_EQ(render_warnings(merged), (std::vector<std::string>{"the source face in a.jpg is small (52 px)",
                                                               "3 of 27 faces turned up to 41° in a{b}.jpg"}));
}

TEST(ProcessorWarning, AWarningIsShownOnlyWhenItsFigureIsAboveZero) {
  EXPECT_TRUE(render_warnings({pose(0, 12, 0)}).empty()) << "no target mismatched";
  EXPECT_TRUE(render_warnings(merge_warnings({pose(0, 12, 0), pose(0, 3, 0)})).empty());
  EXPECT_EQ(render_warnings(merge_warnings({pose(0, 12, 0), pose(4, 4, 50)})),
            std::vector<std::string>{"4 of 16 faces turned up to 50° in a{b}.jpg"});
}

TEST(ProcessorWarning, JsonRoundTripKeepsFiguresAndSkipsForeignEntries) {
  nlohmann::json j = warnings_to_json({pose(2, 10, 41), {"source_turned", "turned 35°"}});
  j.push_back({{"kind", 3}});                                              // not a warning
  j.push_back({{"kind", "x"}, {"text", "y"}, {"sums", {{"n", "many"}}}});  // a figure that is not a count
  const auto back = warnings_from_json(j);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].sums, pose(2, 10, 41).sums);
  EXPECT_EQ(back[0].maxima, pose(2, 10, 41).maxima);
  EXPECT_EQ(back[0].shown_if, "mismatches");
  EXPECT_EQ(render_warning(back[1]), "turned 35°");
  EXPECT_TRUE(warnings_from_json(nlohmann::json("not an array")).empty());
}

}  // namespace
}  // namespace facefuse::processors
