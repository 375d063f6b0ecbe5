#include "facefuse/server/multipart.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "facefuse/server/client_text.h"

namespace facefuse::server {

namespace {

constexpr std::size_t kMaxBoundaryBytes = 70;  // RFC 2046 §5.1.1
constexpr std::size_t kMaxTransportPadding = 256;

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The value of parameter `name` in "type; a=1; b=\"x y\"" (case-insensitive name); quoted strings
// unescaped. `name*` (RFC 5987) forms are not read.
std::optional<std::string> header_parameter(std::string_view value, std::string_view name) {
  size_t pos = value.find(';');
  while (pos != std::string_view::npos && pos < value.size()) {
    std::string_view rest = trim(value.substr(pos + 1));
    size_t eq = rest.find('=');
    size_t semicolon = rest.find(';');
    if (eq == std::string_view::npos || (semicolon != std::string_view::npos && semicolon < eq)) {
      if (semicolon == std::string_view::npos) return std::nullopt;
      pos = value.size() - rest.size() + semicolon;
      continue;
    }
    std::string key = lowercase(trim(rest.substr(0, eq)));
    std::string_view after = rest.substr(eq + 1);
    size_t after_offset = value.size() - after.size();
    std::string parsed;
    size_t consumed = 0;
    if (!after.empty() && after.front() == '"') {
      size_t i = 1;
      for (; i < after.size() && after[i] != '"'; ++i) {
        if (after[i] == '\\' && i + 1 < after.size()) ++i;
        parsed += after[i];
      }
      consumed = std::min(i + 1, after.size());
    } else {
      size_t end = after.find(';');
      parsed = std::string(trim(after.substr(0, end)));
      consumed = end == std::string_view::npos ? after.size() : end;
    }
    if (key == name) return parsed;
    size_t next = value.find(';', after_offset + consumed);
    pos = next;
  }
  return std::nullopt;
}

}  // namespace

Result<std::string> multipart_boundary(std::string_view content_type) {
  std::string type = lowercase(trim(content_type.substr(0, content_type.find(';'))));
  if (type != "multipart/form-data") {
    return invalid_argument("upload with Content-Type multipart/form-data and the file in the field 'file'");
  }
  auto boundary = header_parameter(content_type, "boundary");
  if (!boundary || boundary->empty() || boundary->size() > kMaxBoundaryBytes) {
    return invalid_argument("the multipart Content-Type needs a boundary of 1 to 70 characters");
  }
  for (char c : *boundary) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7E) {
      return invalid_argument("the multipart boundary must be printable ASCII");
    }
  }
  return *boundary;
}

MultipartParser::MultipartParser(std::string boundary, MultipartHandler& handler, MultipartLimits limits)
    : delimiter_("\r\n--" + boundary), handler_(handler), limits_(limits) {
  // The first delimiter may open the body without the CRLF that precedes the others.
  pending_ = "\r\n";
}

Status MultipartParser::fail(Status status) {
  state_ = State::kFailed;
  error_ = status;
  return status;
}

Status MultipartParser::feed(std::string_view bytes) {
  if (state_ == State::kFailed) return error_;
  if (state_ == State::kDone) return Status::ok();
  pending_.append(bytes);
  bool progressed = true;
  while (progressed && state_ != State::kDone && state_ != State::kFailed) {
    progressed = false;
    Status s = step(progressed);
    if (!s.is_ok()) return state_ == State::kFailed ? s : fail(s);
  }
  if (state_ == State::kDone) pending_.clear();
  return Status::ok();
}

Status MultipartParser::step(bool& progressed) {
  std::string_view view = pending_;
  switch (state_) {
    case State::kPreamble: {
      size_t at = view.find(delimiter_);
      if (at == std::string_view::npos) {
        // The preamble is ignored; keep only what could be the start of a delimiter.
        if (pending_.size() >= delimiter_.size()) pending_.erase(0, pending_.size() - (delimiter_.size() - 1));
        return Status::ok();
      }
      pending_.erase(0, at + delimiter_.size());
      state_ = State::kAfterDelimiter;
      padding_ = 0;
      progressed = true;
      return Status::ok();
    }
    case State::kAfterDelimiter: {
      while (!pending_.empty() && (pending_.front() == ' ' || pending_.front() == '\t')) {
        pending_.erase(0, 1);
        if (++padding_ > kMaxTransportPadding) return invalid_argument("the multipart body is malformed");
      }
      if (pending_.size() < 2) return Status::ok();
      if (pending_.compare(0, 2, "--") == 0) {
        state_ = State::kDone;
        progressed = true;
        return Status::ok();
      }
      if (pending_.compare(0, 2, "\r\n") != 0) {
        return invalid_argument("the multipart body is malformed (nothing valid after a boundary)");
      }
      pending_.erase(0, 2);
      state_ = State::kHeaders;
      progressed = true;
      return Status::ok();
    }
    case State::kHeaders: {
      size_t end = 0;
      size_t skip = 0;
      if (view.substr(0, 2) == "\r\n") {
        end = 0;  // a part without header fields
        skip = 2;
      } else {
        end = view.find("\r\n\r\n");
        if (end == std::string_view::npos) {
          if (pending_.size() > limits_.max_part_header_bytes) {
            return invalid_argument(
                fmt::format("a multipart part's headers are over the limit of {} bytes", limits_.max_part_header_bytes));
          }
          return Status::ok();
        }
        skip = end + 4;
      }
      if (end > limits_.max_part_header_bytes) {
        return invalid_argument(
            fmt::format("a multipart part's headers are over the limit of {} bytes", limits_.max_part_header_bytes));
      }
      if (++parts_ > limits_.max_parts) {
        return invalid_argument(fmt::format("the multipart body has more than {} parts", limits_.max_parts));
      }
      MultipartPart part;
      std::string_view headers = view.substr(0, end);
      bool disposition = false;
      while (!headers.empty()) {
        size_t eol = headers.find("\r\n");
        std::string_view line = headers.substr(0, eol);
        headers = eol == std::string_view::npos ? std::string_view() : headers.substr(eol + 2);
        size_t colon = line.find(':');
        if (colon == std::string_view::npos) return invalid_argument("the multipart body has a malformed part header");
        std::string name = lowercase(trim(line.substr(0, colon)));
        std::string_view value = trim(line.substr(colon + 1));
        if (name == "content-disposition") {
          if (lowercase(trim(value.substr(0, value.find(';')))) != "form-data") {
            return invalid_argument("a multipart part is not form-data");
          }
          disposition = true;
          part.name = header_parameter(value, "name").value_or("");
          part.filename = header_parameter(value, "filename");
        } else if (name == "content-type") {
          part.content_type = std::string(value);
        }
      }
      if (!disposition) return invalid_argument("a multipart part has no Content-Disposition: form-data header");
      pending_.erase(0, skip);
      state_ = State::kData;
      progressed = true;
      return handler_.on_part_begin(part);
    }
    case State::kData: {
      size_t at = view.find(delimiter_);
      if (at == std::string_view::npos) {
        // Everything but a possible delimiter prefix at the end is part data.
        size_t keep = delimiter_.size() - 1;
        if (pending_.size() > keep) {
          size_t emit = pending_.size() - keep;
          Status s = handler_.on_part_data(view.substr(0, emit));
          pending_.erase(0, emit);
          return s;
        }
        return Status::ok();
      }
      if (at > 0) FF_RETURN_IF_ERROR(handler_.on_part_data(view.substr(0, at)));
      pending_.erase(0, at + delimiter_.size());
      state_ = State::kAfterDelimiter;
      padding_ = 0;
      progressed = true;
      return handler_.on_part_end();
    }
    case State::kDone:
    case State::kFailed:
      return Status::ok();
  }
  return Status::ok();
}

Status MultipartParser::finish() {
  if (state_ == State::kFailed) return error_;
  if (state_ != State::kDone) return fail(invalid_argument("the multipart body is malformed or was cut short"));
  return Status::ok();
}

}  // namespace facefuse::server
