#include "facefuse/storage/http_request.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>

namespace facefuse::storage {
namespace {

bool in_ipv4_block(std::uint32_t address, std::uint32_t block, int prefix_length) {
  const std::uint32_t mask = prefix_length == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix_length);
  return (address & mask) == (block & mask);
}

// `address` in host byte order.
bool is_public_ipv4(std::uint32_t address) {
  struct Block {
    std::uint32_t base;
    int prefix_length;
  };
  // IANA special-purpose IPv4 registry: none of these reach a public host.
  static constexpr Block kRefused[] = {
      {0x00000000, 8},   // 0.0.0.0/8 "this network", unspecified
      {0x0A000000, 8},   // 10.0.0.0/8 private
      {0x64400000, 10},  // 100.64.0.0/10 shared address space (carrier NAT)
      {0x7F000000, 8},   // 127.0.0.0/8 loopback
      {0xA9FE0000, 16},  // 169.254.0.0/16 link-local (cloud metadata endpoints live here)
      {0xAC100000, 12},  // 172.16.0.0/12 private
      {0xC0000000, 24},  // 192.0.0.0/24 IETF protocol assignments
      {0xC0000200, 24},  // 192.0.2.0/24 documentation
      {0xC0A80000, 16},  // 192.168.0.0/16 private
      {0xC6120000, 15},  // 198.18.0.0/15 benchmarking
      {0xC6336400, 24},  // 198.51.100.0/24 documentation
      {0xCB007100, 24},  // 203.0.113.0/24 documentation
      {0xE0000000, 4},   // 224.0.0.0/4 multicast
      {0xF0000000, 4},   // 240.0.0.0/4 reserved, and the broadcast address
  };
  for (const Block& b : kRefused) {
    if (in_ipv4_block(address, b.base, b.prefix_length)) return false;
  }
  return true;
}

std::uint32_t ipv4_at(const unsigned char* bytes) {
  return (std::uint32_t{bytes[0]} << 24) | (std::uint32_t{bytes[1]} << 16) | (std::uint32_t{bytes[2]} << 8) | bytes[3];
}

bool is_public_ipv6(const std::array<unsigned char, 16>& a) {
  const auto starts_with = [&](std::initializer_list<unsigned char> prefix) {
    std::size_t i = 0;
    for (unsigned char b : prefix) {
      if (a[i++] != b) return false;
    }
    return true;
  };
  bool first_ten_zero = true;
  for (int i = 0; i < 10; ++i) first_ten_zero = first_ten_zero && a[i] == 0;
  if (first_ten_zero && a[10] == 0xff && a[11] == 0xff) return is_public_ipv4(ipv4_at(&a[12]));  // ::ffff:a.b.c.d
  if (first_ten_zero && a[10] == 0 && a[11] == 0) return false;  // ::, ::1 and IPv4-compatible ::a.b.c.d
  if (starts_with({0x00, 0x64, 0xff, 0x9b})) return is_public_ipv4(ipv4_at(&a[12]));  // NAT64 64:ff9b::/96
  if (starts_with({0x20, 0x02})) return is_public_ipv4(ipv4_at(&a[2]));               // 6to4 2002::/16
  if ((a[0] & 0xfe) == 0xfc) return false;                                             // fc00::/7 unique local
  if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) return false;                             // fe80::/10 link-local
  if (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0) return false;                             // fec0::/10 site-local
  if (a[0] == 0xff) return false;                                                      // ff00::/8 multicast
  if (starts_with({0x20, 0x01, 0x0d, 0xb8})) return false;                             // 2001:db8::/32 documentation
  return true;
}

bool is_public_sockaddr(const sockaddr* address) {
  if (address->sa_family == AF_INET) {
    return is_public_ipv4(ntohl(reinterpret_cast<const sockaddr_in*>(address)->sin_addr.s_addr));
  }
  if (address->sa_family == AF_INET6) {
    std::array<unsigned char, 16> bytes;
    std::memcpy(bytes.data(), reinterpret_cast<const sockaddr_in6*>(address)->sin6_addr.s6_addr, 16);
    return is_public_ipv6(bytes);
  }
  return false;
}

std::string numeric_host(const sockaddr* address, socklen_t length) {
  char text[NI_MAXHOST] = {};
  if (getnameinfo(address, length, text, sizeof text, nullptr, 0, NI_NUMERICHOST) != 0) return {};
  return text;
}

void ensure_curl_initialised() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct CurlUrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};
struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct CurlListDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using CurlList = std::unique_ptr<curl_slist, CurlListDeleter>;

Result<std::string> url_part(CURLU* url, CURLUPart part, unsigned flags, const char* what, std::string_view text) {
  char* value = nullptr;
  if (curl_url_get(url, part, &value, flags) != CURLUE_OK || value == nullptr) {
    return invalid_argument("URL '" + std::string(text) + "' has no " + what + "; give an absolute http(s) URL");
  }
  std::string out(value);
  curl_free(value);
  return out;
}

bool append(CurlList& list, const std::string& entry) {
  curl_slist* grown = curl_slist_append(list.get(), entry.c_str());
  if (grown == nullptr) return false;
  list.release();
  list.reset(grown);
  return true;
}

struct Transfer {
  const HttpBodySink* on_body;
  CURL* curl;
  Status sink_status;
};

size_t write_body(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  long status = 0;
  curl_easy_getinfo(transfer->curl, CURLINFO_RESPONSE_CODE, &status);
  if (status < 200 || status >= 300) return size * count;  // not the content: discarded
  transfer->sink_status = (*transfer->on_body)(std::string_view(data, size * count));
  return transfer->sink_status.is_ok() ? size * count : 0;  // 0 makes libcurl abort the transfer
}

}  // namespace

bool is_public_address(std::string_view numeric_ip) {
  const std::string text(numeric_ip);
  in_addr v4{};
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) return is_public_ipv4(ntohl(v4.s_addr));
  std::array<unsigned char, 16> v6{};
  if (inet_pton(AF_INET6, text.c_str(), v6.data()) == 1) return is_public_ipv6(v6);
  return false;
}

Result<ResolvedUrl> resolve_url(std::string_view url, bool allow_private) {
  ensure_curl_initialised();
  std::unique_ptr<CURLU, CurlUrlDeleter> parsed(curl_url());
  if (!parsed) return internal_error("out of memory parsing a URL");
  const std::string text(url);
  if (curl_url_set(parsed.get(), CURLUPART_URL, text.c_str(), 0) != CURLUE_OK) {
    return invalid_argument("'" + text + "' is not a valid absolute URL; give e.g. https://example.com/photo.jpg");
  }
  ResolvedUrl resolved;
  resolved.url = text;
  FF_ASSIGN_OR_RETURN(resolved.scheme, url_part(parsed.get(), CURLUPART_SCHEME, 0, "scheme", url));
  if (resolved.scheme != "http" && resolved.scheme != "https") {
    return invalid_argument("URL scheme '" + resolved.scheme + "' is not allowed; only http and https URLs are fetched");
  }
  FF_ASSIGN_OR_RETURN(resolved.host, url_part(parsed.get(), CURLUPART_HOST, 0, "host", url));
  FF_ASSIGN_OR_RETURN(const std::string port, url_part(parsed.get(), CURLUPART_PORT, CURLU_DEFAULT_PORT, "port", url));
  resolved.port = std::stoi(port);

  std::string lookup_host = resolved.host;
  if (lookup_host.size() > 2 && lookup_host.front() == '[' && lookup_host.back() == ']') {
    lookup_host = lookup_host.substr(1, lookup_host.size() - 2);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = getaddrinfo(lookup_host.c_str(), port.c_str(), &hints, &found);
  if (rc != 0 || found == nullptr) {
    return unavailable("cannot resolve host '" + resolved.host + "' of URL '" + text + "': " + gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> owned_addrinfo(found, &freeaddrinfo);
  // Every address must pass: a name that also resolves to an internal address is refused, so the
  // choice of address (here or in a later lookup) cannot matter.
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    const std::string numeric = numeric_host(a->ai_addr, a->ai_addrlen);
    if (numeric.empty()) continue;
    if (!allow_private && !is_public_sockaddr(a->ai_addr)) {
      return invalid_argument("URL '" + text + "' refused: host '" + resolved.host + "' resolves to " + numeric +
                              ", a loopback, private, link-local or otherwise non-public address; give a public "
                              "URL (the server allows internal addresses only with --allow-private-urls)");
    }
    if (std::find(resolved.addresses.begin(), resolved.addresses.end(), numeric) == resolved.addresses.end()) {
      resolved.addresses.push_back(numeric);
    }
  }
  if (resolved.addresses.empty()) return unavailable("host '" + resolved.host + "' has no usable address");
  return resolved;
}

Result<HttpResponse> perform_http_request(const HttpRequest& request, const HttpBodySink& on_body) {
  FF_ASSIGN_OR_RETURN(const ResolvedUrl target, resolve_url(request.url, request.allow_private));
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) return internal_error("cannot create a libcurl handle");
  CURL* c = curl.get();

  // Pin the name to the checked address: libcurl then connects there without asking DNS again.
  CurlList resolve;
  // (An IPv6 literal needs no lookup and cannot be named in the list.)
  const bool ipv6_literal = target.host.front() == '[';
  std::string pinned = target.host + ":" + std::to_string(target.port) + ":";
  for (std::size_t i = 0; i < target.addresses.size(); ++i) {
    const std::string& a = target.addresses[i];
    pinned += (i > 0 ? "," : "") + (a.find(':') != std::string::npos ? "[" + a + "]" : a);
  }
  if (!ipv6_literal && !append(resolve, pinned)) {
    return internal_error("out of memory building a libcurl list");
  }
  CurlList headers;
  for (const std::string& h : request.headers) {
    if (!append(headers, h)) return internal_error("out of memory building a libcurl list");
  }

  Transfer transfer{&on_body, c, Status::ok()};
  curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_PROXY, "");  // no proxy from the environment: it would bypass the check
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_RESOLVE, resolve.get());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(request.connect_timeout.count()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));
  curl_easy_setopt(c, CURLOPT_USERAGENT, "facefuse");
  if (request.max_body_bytes > 0) {
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(request.max_body_bytes));
  }
  if (request.method != "GET" && request.method != "POST") {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  if (!request.body.empty() || request.method == "POST" || request.method == "PUT") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  }
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &write_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &transfer);

  const CURLcode code = curl_easy_perform(c);
  if (!transfer.sink_status.is_ok()) return transfer.sink_status;
  if (code == CURLE_FILESIZE_EXCEEDED) {
    return limit_exceeded("the response of '" + request.url + "' is larger than the limit of " +
                          std::to_string(request.max_body_bytes) + " bytes");
  }
  if (code != CURLE_OK) {
    return unavailable("request to '" + request.url + "' failed: " + curl_easy_strerror(code));
  }
  HttpResponse response;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
  char* redirect = nullptr;
  if (response.status >= 300 && response.status < 400 &&
      curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &redirect) == CURLE_OK && redirect != nullptr) {
    response.redirect_url = redirect;
  }
  char* content_type = nullptr;
  if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &content_type) == CURLE_OK && content_type != nullptr) {
    response.content_type = content_type;
  }
  return response;
}

}  // namespace facefuse::storage
