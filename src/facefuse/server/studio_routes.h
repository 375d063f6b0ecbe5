// The routes of the web studio (issue 15), written without any HTTP transport in them so that
// api_server.cpp registers each with one line whatever serves the sockets:
//   GET  /, /assets/<file>     the single-page app built from web/ (embedded, web_page.h), with the
//                              page's security headers (CSP without inline script, nosniff,
//                              frame-ancestors 'none')
//   GET  /api/v1/processors    every processor and the shared face options with their schemas
//                              (type, default, range or choices, help), from the registry, so the
//                              page never repeats a default or a range
//   POST /api/v1/preview       a job body → one processed frame as JPEG at reduced size; no job
//
// Threading: every method may be called from any number of threads at once.
#pragma once

#include <filesystem>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "facefuse/core/status.h"
#include "facefuse/pipeline/preview.h"

namespace facefuse::jobs {
class JobService;
}

namespace facefuse::server {

// A complete answer: the transport writes status, Content-Type, headers and body as they are.
struct StudioReply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

struct StudioConfig {
  std::filesystem::path temp_dir;  // preview inputs are copied here from storage (emptied at start)
  pipeline::PreviewSettings preview;
  size_t cached_inputs = 8;         // local copies of uploads kept for the next preview
};

class StudioRoutes {
 public:
  StudioRoutes(jobs::JobService& service, StudioConfig config);
  ~StudioRoutes();

  // GET / (index.html) and GET /assets/<file>; 404 for anything not embedded.
  static StudioReply web_asset(std::string_view path);

  // GET /api/v1/processors: {"face_options": [OPTION...], "processors": [{"name", "description",
  // "options": [OPTION...]}]}, OPTION = {"name", "type", "default", "help", "choices"?, "min"?,
  // "max"?, "missing_models"?: choices whose model file is not installed}.
  StudioReply processors() const;

  // POST /api/v1/preview: the job body of POST /api/v1/jobs plus an optional
  // "preview": {"frame_number": N, "original": false}; answers image/jpeg with X-Facefuse-*
  // headers (frame, faces found, faces processed, milliseconds, warm). Errors are the job's
  // (400 naming the field, 404 unknown upload, 422 no face in the source ...), and name the
  // user's files, never a path on the server.
  Result<StudioReply> preview(const std::string& tenant, const nlohmann::json& body);

 private:
  // A local copy of an upload (by storage key), reused across previews.
  Result<std::filesystem::path> local_input(const std::string& storage_key, const std::string& sha256);

  jobs::JobService& service_;
  StudioConfig config_;
  pipeline::PreviewRenderer renderer_;
  std::mutex inputs_mutex_;
  std::list<std::filesystem::path> inputs_;  // most recently used first
};

}  // namespace facefuse::server
