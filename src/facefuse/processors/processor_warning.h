// ProcessorWarning: a processor's warning (what limited the result, FrameProcessor::take_warnings)
// in a form the runs of one job can join. A video job in chunks runs each chunk with its own
// processors — perhaps on another worker, perhaps twice after a lost lease — and its merge joins
// the chunks' warnings into the job's: one entry per kind, counts summed, worst figures maximised,
// so a chunked job warns as the same job run whole does.
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace facefuse::processors {

struct ProcessorWarning {
  // Stable id of what is warned about, e.g. "source_small", "pose_mismatch": a job has one entry
  // per kind.
  std::string kind;
  // The sentence, saying what limits the result and what to change. "{name}" stands for the figure
  // `name` of `sums` or `maxima` (render_warning fills it in); any other text is shown as it is.
  std::string text;
  std::map<std::string, int64_t> sums = {};    // figures that add up over runs (faces counted)
  std::map<std::string, int64_t> maxima = {};  // figures whose job value is the largest run's (worst angle)
  // A figure of `sums` ("" for none): the warning is shown only when it is above 0. A run with
  // nothing to warn about still reports its counts (e.g. faces swapped), so the merged counts are
  // the job's, not only those of the runs that warned.
  std::string shown_if = {};
};

// The sentence with its figures filled in.
std::string render_warning(const ProcessorWarning& warning);
// The sentences of the warnings that are shown (shown_if), in order.
std::vector<std::string> render_warnings(const std::vector<ProcessorWarning>& warnings);

// One entry per kind, in the order kinds first appear: the first text, sums added, maxima maximised.
std::vector<ProcessorWarning> merge_warnings(const std::vector<ProcessorWarning>& warnings);

// JSON form (a segment's summary tag): {"kind", "text", "sums": {name: n}, "maxima": {name: n},
// "shown_if"}.
nlohmann::json warnings_to_json(const std::vector<ProcessorWarning>& warnings);
// Entries that are not of that form are skipped (a tag written by another build).
std::vector<ProcessorWarning> warnings_from_json(const nlohmann::json& json);

}  // namespace facefuse::processors
