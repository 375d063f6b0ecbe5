// The web studio served at `/`: index.html and the content-hashed assets that Vite builds from
// web/ at build time (cmake/embed_web_assets.cmake generates web_assets_data.cpp in the build
// tree). Nothing is read from disk or fetched at run time.
//
// Threading: everything here is immutable after static initialisation; call from any thread.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace facefuse::server {

struct WebAsset {
  std::string_view path;          // URL path: "/index.html", "/assets/index-3f2a1c.js", ...
  std::string_view content_type;  // with charset for text
  std::string_view body;
};

// Every embedded file (generated).
std::span<const WebAsset> web_assets();

// The asset for a URL path; "/" is /index.html. nullptr when there is none.
const WebAsset* find_web_asset(std::string_view path);

// Headers of every page and asset answer: a Content-Security-Policy that allows no inline script
// and no framing, nosniff, no referrer. Outputs may be presigned object-store links on another
// origin (https:), so images and media may come from https: as well as from the server.
const std::vector<std::pair<std::string, std::string>>& web_security_headers();

}  // namespace facefuse::server
