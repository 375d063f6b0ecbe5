#include "facefuse/core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <string>

namespace facefuse {

Status init_logging(std::string_view level, bool json) {
  auto parsed = spdlog::level::from_str(std::string(level));
  // from_str maps unknown names to "off": only accept "off" when it was asked for.
  if (parsed == spdlog::level::off && level != "off") {
    return invalid_argument("unknown log level '" + std::string(level) +
                            "': use trace, debug, info, warn, error or off");
  }
  auto logger = std::make_shared<spdlog::logger>("facefuse", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  if (json) {
    logger->set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","msg":"%v"})");
  } else {
    logger->set_pattern("%^[%l]%$ %v");
  }
  logger->set_level(parsed);
  spdlog::set_default_logger(logger);
  return Status::ok();
}

}  // namespace facefuse
