// The streaming multipart/form-data parser: any split of the body gives the same parts, bounded
// part headers, cut-short bodies and bodies without a file.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "facefuse/server/multipart.h"

namespace facefuse::server {
namespace {

struct Part {
  std::string name;
  std::optional<std::string> filename;
  std::string data;
  bool ended = false;
};

class Collect : public MultipartHandler {
 public:
  Status on_part_begin(const MultipartPart& p) override {
    parts.push_back({p.name, p.filename, "", false});
    return Status::ok();
  }
  Status on_part_data(std::string_view bytes) override {
    parts.back().data.append(bytes);
    return Status::ok();
  }
  Status on_part_end() override {
    parts.back().ended = true;
    return Status::ok();
  }
  std::vector<Part> parts;
};

const std::string kBoundary = "----ffBoundary7MA4YWxkTrZu0gW";

std::string body_with(const std::vector<std::tuple<std::string, std::string, std::string>>& parts, bool close = true) {
  std::string body = "preamble to ignore\r\n";
  for (const auto& [name, filename, data] : parts) {
    body += "--" + kBoundary + "\r\n";
    body += "Content-Disposition: form-data; name=\"" + name + "\"";
    if (!filename.empty()) body += "; filename=\"" + filename + "\"";
    body += "\r\nContent-Type: application/octet-stream\r\n\r\n" + data + "\r\n";
  }
  if (close) body += "--" + kBoundary + "--\r\nepilogue";
  return body;
}

// Binary data that contains a near-boundary (CRLF + dashes + most of the boundary).
std::string tricky_data() {
  std::string data = "\r\n--" + kBoundary.substr(0, kBoundary.size() - 1) + "X";
  for (int i = 0; i < 300; ++i) data += static_cast<char>(i % 256);
  data += "\r\n-";
  return data;
}

TEST(Multipart, EverySplitOffsetGivesTheSameParts) {
  const std::string data = tricky_data();
  const std::string body = body_with({{"note", "", "hello"}, {"file", "face.jpg", data}});
  for (size_t split = 0; split <= body.size(); ++split) {
    Collect c;
    MultipartParser parser(kBoundary, c);
    ASSERT_TRUE(parser.feed(std::string_view(body).substr(0, split)).is_ok()) << split;
    ASSERT_TRUE(parser.feed(std::string_view(body).substr(split)).is_ok()) << split;
    ASSERT_TRUE(parser.finish().is_ok()) << split;
    ASSERT_EQ(c.parts.size(), 2u) << split;
    EXPECT_EQ(c.parts[0].name, "note");
    EXPECT_FALSE(c.parts[0].filename.has_value());
    EXPECT_EQ(c.parts[0].data, "hello");
    EXPECT_EQ(c.parts[1].name, "file");
    EXPECT_EQ(c.parts[1].filename.value_or(""), "face.jpg");
    EXPECT_EQ(c.parts[1].data, data) << split;
    EXPECT_TRUE(c.parts[1].ended);
  }
}

TEST(Multipart, ByteAtATimeGivesTheSameParts) {
  const std::string data = tricky_data();
  const std::string body = body_with({{"file", "a.png", data}});
  Collect c;
  MultipartParser parser(kBoundary, c);
  for (char ch : body) ASSERT_TRUE(parser.feed(std::string_view(&ch, 1)).is_ok());
  ASSERT_TRUE(parser.finish().is_ok());
  ASSERT_EQ(c.parts.size(), 1u);
  EXPECT_EQ(c.parts[0].data, data);
}

TEST(Multipart, MissingFinalBoundaryIsCutShort) {
  Collect c;
  MultipartParser parser(kBoundary, c);
  ASSERT_TRUE(parser.feed(body_with({{"file", "a.jpg", "12345"}}, /*close=*/false)).is_ok());
  Status s = parser.finish();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("cut short"), std::string::npos) << s.message();
}

TEST(Multipart, HugePartHeadersAreRefusedWithoutBufferingThem) {
  Collect c;
  MultipartParser parser(kBoundary, c, MultipartLimits{1024, 8});
  std::string body = "--" + kBoundary + "\r\nContent-Disposition: form-data; name=\"file\"\r\nX-Pad: ";
  Status s = parser.feed(body);
  ASSERT_TRUE(s.is_ok());
  std::string pad(512, 'a');
  for (int i = 0; i < 8 && s.is_ok(); ++i) s = parser.feed(pad);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("headers are over"), std::string::npos) << s.message();
  EXPECT_TRUE(c.parts.empty());
}

TEST(Multipart, TwoFilesComeOutAsTwoParts) {
  Collect c;
  MultipartParser parser(kBoundary, c);
  ASSERT_TRUE(parser.feed(body_with({{"file", "one.jpg", "AAAA"}, {"file", "two.jpg", "BBBB"}})).is_ok());
  ASSERT_TRUE(parser.finish().is_ok());
  ASSERT_EQ(c.parts.size(), 2u);
  EXPECT_EQ(c.parts[0].data, "AAAA");
  EXPECT_EQ(c.parts[1].filename.value_or(""), "two.jpg");
  EXPECT_EQ(c.parts[1].data, "BBBB");
}

TEST(Multipart, NoFileMeansNoFilePart) {
  Collect c;
  MultipartParser parser(kBoundary, c);
  ASSERT_TRUE(parser.feed(body_with({{"comment", "", "just text"}})).is_ok());
  ASSERT_TRUE(parser.finish().is_ok());
  ASSERT_EQ(c.parts.size(), 1u);
  EXPECT_FALSE(c.parts[0].filename.has_value());
}

TEST(Multipart, EmptyBodyAndGarbageAreErrors) {
  for (std::string body : {std::string(), std::string("no boundary here at all"),
                           "--" + kBoundary + "garbage after the boundary"}) {
    Collect c;
    MultipartParser parser(kBoundary, c);
    Status s = parser.feed(body);
    if (s.is_ok()) s = parser.finish();
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << body;
  }
}

TEST(Multipart, TooManyPartsAreRefused) {
  std::vector<std::tuple<std::string, std::string, std::string>> parts(40, {"x", "", "1"});
  Collect c;
  MultipartParser parser(kBoundary, c);
  EXPECT_EQ(parser.feed(body_with(parts)).code(), StatusCode::kInvalidArgument);
}

TEST(Multipart, BoundaryFromContentType) {
  EXPECT_EQ(multipart_boundary("multipart/form-data; boundary=abc").value(), "abc");
  EXPECT_EQ(multipart_boundary("Multipart/Form-Data; charset=utf-8; boundary=\"a b:c\"").value(), "a b:c");
  EXPECT_FALSE(multipart_boundary("multipart/form-data").is_ok());
  EXPECT_FALSE(multipart_boundary("application/json; boundary=abc").is_ok());
  EXPECT_FALSE(multipart_boundary("multipart/form-data; boundary=" + std::string(71, 'a')).is_ok());
}

}  // namespace
}  // namespace facefuse::server
