// The explicit list of processors (no static self-registration): name, description, option
// schema and a factory. Order in a job is the order the user gives.
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <span>
#include <string_view>

#include "facefuse/processors/processor.h"

namespace facefuse::processors {

struct ProcessorInfo {
  std::string_view name;
  std::string_view description;
  std::vector<OptionSpec> options;
  std::function<std::unique_ptr<FrameProcessor>()> create;
};

std::span<const ProcessorInfo> processor_registry();
// kInvalidArgument naming the valid processors when `name` is unknown.
Result<const ProcessorInfo*> find_processor(std::string_view name);

// Checks every key of `options` against the schemas of `processor_names` and the shared face
// options; fills in defaults. Unknown keys, wrong types, out-of-range numbers and values outside
// `choices` are kInvalidArgument with a message naming the option and what is allowed.
Result<nlohmann::json> validate_options(std::span<const std::string> processor_names, const nlohmann::json& options);

// The words of a string_list option's value: a JSON array of strings, or the text form ("box
// occlusion", "box,occlusion"); empty for anything else.
std::vector<std::string> option_words(const nlohmann::json& value);

// A padding option's value (a number, 1 to 4 numbers in an array or as text "10 20") as CSS
// shorthand expands it: top, right, bottom, left; kInvalidArgument naming `name` for a value that is
// not 1 to 4 integers in [min, max].
Result<std::array<int, 4>> padding_values(const nlohmann::json& value, const std::string& name, int min, int max);

// Options every job has regardless of processors (detector, selector, ...).
const std::vector<OptionSpec>& common_options();

}  // namespace facefuse::processors
