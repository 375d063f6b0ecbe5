#include "facefuse/processors/processor_warning.h"

#include <algorithm>

namespace facefuse::processors {

std::string render_warning(const ProcessorWarning& warning) {
  std::string text = warning.text;
  for (const auto* figures : {&warning.sums, &warning.maxima}) {
    for (const auto& [name, value] : *figures) {
      const std::string placeholder = "{" + name + "}", number = std::to_string(value);
      for (size_t at = text.find(placeholder); at != std::string::npos;
           at = text.find(placeholder, at + number.size())) {
        text.replace(at, placeholder.size(), number);
      }
    }
  }
  return text;
}

std::vector<std::string> render_warnings(const std::vector<ProcessorWarning>& warnings) {
  std::vector<std::string> out;
  out.reserve(warnings.size());
  for (const auto& w : warnings) {
    if (!w.shown_if.empty()) {
      auto figure = w.sums.find(w.shown_if);
      if (figure == w.sums.end() || figure->second <= 0) continue;
    }
    out.push_back(render_warning(w));
  }
  return out;
}

std::vector<ProcessorWarning> merge_warnings(const std::vector<ProcessorWarning>& warnings) {
  std::vector<ProcessorWarning> out;
  for (const auto& w : warnings) {
    auto same = std::find_if(out.begin(), out.end(), [&](const ProcessorWarning& o) { return o.kind == w.kind; });
    if (same == out.end()) {
      out.push_back(w);
      continue;
    }
    for (const auto& [name, value] : w.sums) same->sums[name] += value;
    for (const auto& [name, value] : w.maxima) {
      auto [it, inserted] = same->maxima.emplace(name, value);
      if (!inserted) it->second = std::max(it->second, value);
    }
  }
  return out;
}

nlohmann::json warnings_to_json(const std::vector<ProcessorWarning>& warnings) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& w : warnings) {
    out.push_back(
        {{"kind", w.kind}, {"text", w.text}, {"sums", w.sums}, {"maxima", w.maxima}, {"shown_if", w.shown_if}});
  }
  return out;
}

std::vector<ProcessorWarning> warnings_from_json(const nlohmann::json& json) {
  std::vector<ProcessorWarning> out;
  if (!json.is_array()) return out;
  auto figures = [](const nlohmann::json& j, std::map<std::string, int64_t>& to) {
    if (!j.is_object()) return false;
    for (const auto& [name, value] : j.items()) {
      if (!value.is_number_integer()) return false;
      to[name] = value.get<int64_t>();
    }
    return true;
  };
  for (const auto& j : json) {
    if (!j.is_object() || !j.contains("kind") || !j["kind"].is_string() || !j.contains("text") ||
        !j["text"].is_string()) {
      continue;
    }
    const auto shown_if = j.find("shown_if");
    ProcessorWarning w{j["kind"].get<std::string>(),
                       j["text"].get<std::string>(),
                       {},
                       {},
                       shown_if != j.end() && shown_if->is_string() ? shown_if->get<std::string>() : std::string()};
    if (!figures(j.value("sums", nlohmann::json::object()), w.sums) ||
        !figures(j.value("maxima", nlohmann::json::object()), w.maxima)) {
      continue;
    }
    out.push_back(std::move(w));
  }
  return out;
}

}  // namespace facefuse::processors
