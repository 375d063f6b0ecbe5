// The page served at `/`: a minimal client of the API (upload two files, submit, watch progress
// over the WebSocket, show the result) until the web UI issue replaces it.
#pragma once

#include <string>

namespace facefuse::server {

const std::string& web_page_html();

}  // namespace facefuse::server
