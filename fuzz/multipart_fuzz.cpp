// libFuzzer target: the streaming multipart/form-data parser (server/multipart.h). The first
// byte picks where the input is split into two feeds, so boundaries straddling reads are
// explored; the rest is the body for a fixed boundary. Invariant checked: a part's data never
// contains the delimiter, and parts are bounded in number.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "facefuse/server/multipart.h"

namespace {

constexpr std::string_view kBoundary = "fuzzBoundary";

class Check : public facefuse::server::MultipartHandler {
 public:
  facefuse::Status on_part_begin(const facefuse::server::MultipartPart&) override {
    ++parts;
    return facefuse::Status::ok();
  }
  facefuse::Status on_part_data(std::string_view bytes) override {
    data.append(bytes);
    return facefuse::Status::ok();
  }
  facefuse::Status on_part_end() override {
    if (data.find("\r\n--fuzzBoundary") != std::string::npos) std::abort();
    data.clear();
    return facefuse::Status::ok();
  }
  std::size_t parts = 0;
  std::string data;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::size_t split = body.empty() ? 0 : data[0] % (body.size() + 1);
  Check check;
  facefuse::server::MultipartParser parser(std::string(kBoundary), check);
  if (parser.feed(body.substr(0, split)).is_ok() && parser.feed(body.substr(split)).is_ok()) (void)parser.finish();
  if (check.parts > facefuse::server::MultipartLimits{}.max_parts) std::abort();
  (void)facefuse::server::multipart_boundary(body);
  return 0;
}
