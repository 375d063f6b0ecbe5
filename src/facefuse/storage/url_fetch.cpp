#include "facefuse/storage/url_fetch.h"

#include <cstdio>
#include <memory>

#include "facefuse/storage/crypto.h"
#include "facefuse/storage/http_request.h"

namespace facefuse::storage {
namespace {

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

// A temporary file beside the destination, removed unless committed.
class PartialFile {
 public:
  explicit PartialFile(std::filesystem::path path) : path_(std::move(path)) {}
  ~PartialFile() {
    file_.reset();
    if (!committed_) {
      std::error_code ignored;
      std::filesystem::remove(path_, ignored);
    }
  }
  Status open() {
    file_.reset(std::fopen(path_.c_str(), "wb"));
    if (!file_) return failed_precondition("cannot create '" + path_.string() + "'; does its directory exist and is it writable?");
    return Status::ok();
  }
  // Empties the file for the body of another hop.
  Status restart() {
    file_.reset();
    bytes_ = 0;
    return open();
  }
  Status write(std::string_view chunk, std::uint64_t max_bytes, const std::string& url) {
    if (bytes_ + chunk.size() > max_bytes) {
      return limit_exceeded("'" + url + "' is larger than the limit of " + std::to_string(max_bytes) + " bytes");
    }
    if (std::fwrite(chunk.data(), 1, chunk.size(), file_.get()) != chunk.size()) {
      return unavailable("cannot write '" + path_.string() + "' (disk full?)");
    }
    bytes_ += chunk.size();
    return Status::ok();
  }
  Status commit(const std::filesystem::path& destination) {
    if (std::fclose(file_.release()) != 0) return unavailable("cannot finish writing '" + path_.string() + "' (disk full?)");
    std::error_code ec;
    std::filesystem::rename(path_, destination, ec);
    if (ec) return unavailable("cannot move the download to '" + destination.string() + "': " + ec.message());
    committed_ = true;
    return Status::ok();
  }
  std::uint64_t bytes() const { return bytes_; }

 private:
  std::filesystem::path path_;
  std::unique_ptr<std::FILE, FileCloser> file_;
  std::uint64_t bytes_ = 0;
  bool committed_ = false;
};

Status status_for_http_error(long status, const std::string& url) {
  const std::string message = "fetching '" + url + "' failed with HTTP " + std::to_string(status);
  if (status == 404 || status == 410) return not_found(message + "; check the URL");
  if (status >= 500) return unavailable(message + " (server error; try again later)");
  return invalid_argument(message + "; the URL must be publicly downloadable without credentials");
}

}  // namespace

Result<FetchedUrl> fetch_url_to_file(const std::string& url, const std::filesystem::path& destination,
                                     const UrlFetchOptions& options) {
  FF_ASSIGN_OR_RETURN(const std::string suffix, random_bytes(8));
  PartialFile partial(destination.string() + ".part-" + hex_encode(suffix));
  FF_RETURN_IF_ERROR(partial.open());

  std::string current = url;
  for (int hop = 0;; ++hop) {
    HttpRequest request;
    request.url = current;
    request.allow_private = options.allow_private;
    request.connect_timeout = options.connect_timeout;
    request.timeout = options.timeout;
    request.max_body_bytes = options.max_bytes;
    FF_ASSIGN_OR_RETURN(const HttpResponse response,
                        perform_http_request(request, [&](std::string_view chunk) {
                          return partial.write(chunk, options.max_bytes, url);
                        }));
    if (response.status >= 200 && response.status < 300) {
      FF_RETURN_IF_ERROR(partial.commit(destination));
      return FetchedUrl{partial.bytes(), current, response.content_type};
    }
    if (response.status >= 300 && response.status < 400 && !response.redirect_url.empty()) {
      if (hop >= options.max_redirects) {
        return invalid_argument("'" + url + "' redirects more than " + std::to_string(options.max_redirects) +
                                " times; give the final URL");
      }
      current = response.redirect_url;  // checked again by the next request
      FF_RETURN_IF_ERROR(partial.restart());
      continue;
    }
    return status_for_http_error(response.status, current);
  }
}

}  // namespace facefuse::storage
