// libFuzzer target: the request path as the server sees it — percent-decoding, the route
// patterns of the API (server/router.h), the echo sanitiser and JSON serialisation of the error
// message (issue 10 items 1 and 2: invalid UTF-8 aborted the process; long paths overflowed the
// stack in std::regex). Invariants: ids captured are bounded route ids; every echoed message is
// valid UTF-8 within its cap and serialises.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "facefuse/server/client_text.h"
#include "facefuse/server/http_server.h"
#include "facefuse/server/router.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace facefuse::server;
  static const std::vector<RoutePattern> kRoutes = [] {
    std::vector<RoutePattern> routes;
    for (const char* p : {"/", "/healthz", "/api/v1/jobs", "/api/v1/jobs/([A-Za-z0-9_]+)",
                          "/api/v1/jobs/([A-Za-z0-9_]+)/cancel", "/api/v1/jobs/([A-Za-z0-9_]+)/events",
                          "/ws/job/([A-Za-z0-9_]+)/progress", "/media/(.*)"}) {
      routes.push_back(RoutePattern::parse(p).value());
    }
    return routes;
  }();
  std::string_view raw(reinterpret_cast<const char*>(data), size);
  std::string path = percent_decode_path(raw.substr(0, raw.find('?')));
  std::vector<std::string> captures;
  for (const auto& route : kRoutes) {
    if (!route.match(path, captures)) continue;
    bool tail = route.text().find("(.*)") != std::string::npos;
    for (std::size_t i = 0; i < captures.size(); ++i) {
      if (!(tail && i + 1 == captures.size()) && !is_route_id(captures[i])) std::abort();
    }
  }
  std::string echoed = client_text(path);
  if (echoed.size() > kMaxEchoBytes || !is_valid_utf8(echoed)) std::abort();
  (void)nlohmann::json{{"error", "not_found"}, {"message", echoed}}.dump();
  (void)json_nesting_exceeds(raw, 64);
  (void)parse_listen_address(raw);
  return 0;
}
