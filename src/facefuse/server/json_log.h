// Structured logs for the service: every line one JSON object {"ts", "level", "msg", ...fields}.
// Service code logs a JSON object as the message (spdlog::info(json{{"msg", ...}, {"job_id", ...}}
// .dump())) and its fields are merged into the line; plain-text messages from the engine become
// {"msg": "<text>"}, escaped. Lines are never broken by quotes or newlines in messages.
#pragma once

#include <string_view>

#include "facefuse/core/status.h"

namespace facefuse::server {

// Installs the JSON formatter on a stderr logger as the default logger. level as in init_logging.
Status init_json_logging(std::string_view level);

}  // namespace facefuse::server
