// The API's job body: validated field by field with messages naming the field, normalised so
// equal requests give equal JSON (the cache fingerprint depends on it).
#include <gtest/gtest.h>

#include <cmath>

#include "facefuse/jobs/job_request.h"

namespace facefuse::jobs {
namespace {

using nlohmann::json;

Result<Upload> fake_upload(const std::string& id) {
  Upload u;
  u.id = id;
  u.storage_key = "uploads/" + id + "/input";
  u.sha256 = "sha-" + id;
  if (id == "up_face") {
    u.media = "image";
    u.info = {{"format", "png"}, {"width", 512}, {"height", 512}};
  } else if (id == "up_photo") {
    u.media = "image";
    u.info = {{"format", "jpg"}, {"width", 800}, {"height", 533}};
  } else if (id == "up_clip") {
    u.media = "video";
    u.info = {{"width", 640}, {"height", 480}, {"frame_count", 68}};
  } else {
    return not_found("upload '" + id + "' does not exist");
  }
  return u;
}

json body(const std::string& target = "up_photo") {
  return {{"source", {{"upload_id", "up_face"}}}, {"target", {{"upload_id", target}}}};
}

std::string error_of(const json& b) {
  auto r = normalise_job_request(b, fake_upload);
  EXPECT_FALSE(r.is_ok()) << b.dump();
  return r.is_ok() ? "" : r.status().message();
}

TEST(JobRequest, FillsDefaultsAndResolvesUploads) {
  auto r = normalise_job_request(body(), fake_upload);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  const json& n = *r;
  EXPECT_EQ(n["source"]["storage_key"], "uploads/up_face/input");
  EXPECT_EQ(n["target"]["sha256"], "sha-up_photo");
  EXPECT_EQ(n["output"]["format"], "jpg") << "an image target keeps its format";
  EXPECT_EQ(n["output"]["quality"], 95);
  EXPECT_EQ(n["processors"], json::array({"face_swapper"}));
  EXPECT_EQ(n["options"]["face_detector"], "blazeface") << "defaults are filled in";
  EXPECT_TRUE(n["webhook"].is_null());
}

TEST(JobRequest, EqualRequestsNormaliseEqually) {
  json explicit_defaults = body();
  explicit_defaults["options"] = {{"face_detector", "blazeface"}, {"processors", {"face_swapper"}}};
  explicit_defaults["output"] = {{"format", "jpeg"}, {"quality", 95}};
  EXPECT_EQ(*normalise_job_request(body(), fake_upload), *normalise_job_request(explicit_defaults, fake_upload));
}

TEST(JobRequest, PriorityIsZeroToNineDefaultZero) {
  EXPECT_EQ((*normalise_job_request(body(), fake_upload))["priority"], 0);
  json b = body();
  b["priority"] = 9;
  EXPECT_EQ((*normalise_job_request(b, fake_upload))["priority"], 9);
  for (json bad : {json(10), json(-1), json(2.5), json("high")}) {
    b["priority"] = bad;
    EXPECT_NE(error_of(b).find("priority"), std::string::npos) << bad.dump();
  }
}

TEST(JobRequest, ChunkSecondsDefaultsToTenAndIsRangeChecked) {
  EXPECT_EQ((*normalise_job_request(body("up_clip"), fake_upload))["output"]["chunk_seconds"], 10.0);
  json b = body("up_clip");
  b["output"] = {{"chunk_seconds", 2.5}};
  EXPECT_EQ((*normalise_job_request(b, fake_upload))["output"]["chunk_seconds"], 2.5);
  for (json bad : {json(0), json(0.05), json(3601), json("10")}) {
    b["output"]["chunk_seconds"] = bad;
    EXPECT_NE(error_of(b).find("output.chunk_seconds"), std::string::npos) << bad.dump();
  }
}

TEST(JobRequest, SeedAliasesMapToEngineOptions) {
  json b = body();
  b["options"] = {{"blend_ratio", 0.6}};
  b["source"]["reference_face_index"] = 2;
  auto r = normalise_job_request(b, fake_upload);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_DOUBLE_EQ((*r)["options"]["face_swapper_blend"].get<double>(), 0.6);
  EXPECT_EQ((*r)["options"]["reference_face_position"], 2);
  EXPECT_FALSE((*r)["options"].contains("blend_ratio"));
}

TEST(JobRequest, VideoTargetsTakeFrameRangesAndVideoFormats) {
  json b = body("up_clip");
  b["target"]["frame_range"] = {10, 40};
  b["output"] = {{"resolution", "320x240"}};
  auto r = normalise_job_request(b, fake_upload);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ((*r)["output"]["format"], "mp4");
  EXPECT_EQ((*r)["output"]["quality"], 80);
  EXPECT_DOUBLE_EQ((*r)["output"]["scale"].get<double>(), 0.5);
  EXPECT_EQ((*r)["target"]["frame_range"], json::array({10, 40}));
  pipeline::JobSpec spec = job_spec_for(*r, {"s.png", "t.mp4"}, "out.mp4", "tmp", {});
  EXPECT_EQ(spec.video.trim_frame_start, 10);
  EXPECT_EQ(spec.video.trim_frame_end, 40);
  EXPECT_DOUBLE_EQ(spec.video.scale, 0.5);
  EXPECT_EQ(output_file_name(*r), "output.mp4");
}

// Issue 15: FaceFusion's encoder, preset and audio volume reach the pipeline's VideoOutputOptions.
TEST(JobRequest, VideoOutputsTakeEncoderPresetAndAudioVolume) {
  json b = body("up_clip");
  b["output"] = {{"format", "mkv"}, {"video_encoder", "libx265"}, {"video_preset", "slow"}, {"audio_volume", 40}};
  auto r = normalise_job_request(b, fake_upload);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  const pipeline::JobSpec spec = job_spec_for(*r, {"s.png", "t.mp4"}, "out.mkv", "tmp", {});
  EXPECT_EQ(spec.video.encoder, "libx265");
  EXPECT_EQ(spec.video.preset, "slow");
  EXPECT_DOUBLE_EQ(spec.video.audio_volume, 40);

  // Defaults are not stored: a video request that sets none normalises as before these fields
  // existed (the same cache fingerprint), and so do explicit defaults.
  auto defaults = normalise_job_request(body("up_clip"), fake_upload);
  ASSERT_TRUE(defaults.is_ok());
  EXPECT_FALSE((*defaults)["output"].contains("video_encoder"));
  EXPECT_FALSE((*defaults)["output"].contains("audio_volume"));
  json explicit_defaults = body("up_clip");
  explicit_defaults["output"] = {{"video_encoder", "libx264"}, {"video_preset", "veryfast"}, {"audio_volume", 100}};
  EXPECT_EQ(*normalise_job_request(explicit_defaults, fake_upload), *defaults);
  const pipeline::JobSpec default_spec = job_spec_for(*defaults, {"s.png", "t.mp4"}, "out.mp4", "tmp", {});
  EXPECT_EQ(default_spec.video.encoder, "libx264");
  EXPECT_EQ(default_spec.video.preset, "veryfast");
  EXPECT_DOUBLE_EQ(default_spec.video.audio_volume, 100);
  json webm = body("up_clip");
  webm["output"] = {{"format", "webm"}};
  auto vp9 = normalise_job_request(webm, fake_upload);
  ASSERT_TRUE(vp9.is_ok()) << vp9.status().to_string();
  EXPECT_EQ(job_spec_for(*vp9, {"s.png", "t.mp4"}, "out.webm", "tmp", {}).video.encoder, "libvpx-vp9")
      << "webm holds VP9 only";
  // Image outputs have no encoding.
  auto image = normalise_job_request(body(), fake_upload);
  ASSERT_TRUE(image.is_ok());
  EXPECT_FALSE((*image)["output"].contains("video_encoder"));

  for (const auto& [output, field] : std::vector<std::pair<json, std::string>>{
           {{{"video_encoder", "h264"}}, "output.video_encoder"},
           {{{"video_encoder", nullptr}, {"video_preset", "placebo"}}, "output.video_preset"},
           {{{"audio_volume", 100.5}}, "output.audio_volume"},
           {{{"audio_volume", "50"}}, "output.audio_volume"},
           {{{"format", "webm"}, {"video_encoder", "libx265"}}, "output.video_encoder"},
           {{{"format", "png"}, {"audio_volume", 0}}, "output.audio_volume"}}) {
    json bad = body("up_clip");
    bad["output"] = output;
    EXPECT_NE(error_of(bad).find(field), std::string::npos) << output.dump() << ": " << error_of(bad);
  }
}

TEST(JobRequest, ResolutionAsHeightKeepsTheAspectRatio) {
  json b = body("up_clip");  // 640x480
  b["output"] = {{"resolution", "720p"}};
  auto r = normalise_job_request(b, fake_upload);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_DOUBLE_EQ((*r)["output"]["scale"].get<double>(), 1.5) << "480 → 720 lines";
  b["output"] = {{"resolution", "240p"}};
  EXPECT_DOUBLE_EQ((*normalise_job_request(b, fake_upload))["output"]["scale"].get<double>(), 0.5);
  b["output"] = {{"resolution", "1080p"}};
  EXPECT_DOUBLE_EQ((*normalise_job_request(b, fake_upload))["output"]["scale"].get<double>(), 2.25);
  for (json bad : {json("720"), json("p"), json("720P"), json("-720p"), json("8p"), json("9999p"), json("720px"),
                   json("x720p"), json(720), json("")}) {
    b["output"] = {{"resolution", bad}};
    EXPECT_NE(error_of(b).find("output.resolution"), std::string::npos) << bad.dump();
  }
  json image = body();
  image["output"] = {{"resolution", "720p"}};
  EXPECT_NE(error_of(image).find("output.resolution applies to video outputs only"), std::string::npos);
}

TEST(JobRequest, UnknownInputFieldsListTheReferenceForms) {
  json b = body();
  b["source"]["imageurl"] = "https://example.com/a.jpg";
  std::string message = error_of(b);
  for (const char* name : {"image_url", "key", "url", "upload_id"}) {
    EXPECT_NE(message.find(name), std::string::npos) << message;
  }
  b = body();
  b["source"].erase("upload_id");
  EXPECT_NE(error_of(b).find("source.key"), std::string::npos);
}

TEST(JobRequest, RefusesWithMessagesNamingTheField) {
  EXPECT_NE(error_of(json::array()).find("JSON object"), std::string::npos);
  EXPECT_NE(error_of({{"target", {{"upload_id", "up_photo"}}}}).find("'source'"), std::string::npos);
  json b = body();
  b["colour"] = "red";
  EXPECT_NE(error_of(b).find("'colour'"), std::string::npos);
  b = body();
  b["options"] = {{"processors", {"face_melter"}}};
  EXPECT_NE(error_of(b).find("face_melter"), std::string::npos);
  b = body();
  b["options"] = {{"face_swapper_blend", 3}};
  EXPECT_NE(error_of(b).find("face_swapper_blend"), std::string::npos);
  b = body();
  b["output"] = {{"format", "mp4"}};
  EXPECT_NE(error_of(b).find("target is an image"), std::string::npos);
  b = body();
  b["target"]["frame_range"] = {0, 5};
  EXPECT_NE(error_of(b).find("video targets only"), std::string::npos);
  b = body("up_clip");
  b["target"]["frame_range"] = {20, 10};
  EXPECT_NE(error_of(b).find("end must be after start"), std::string::npos);
  b = body("up_clip");
  b["output"] = {{"resolution", "640x100"}};
  EXPECT_NE(error_of(b).find("aspect ratio"), std::string::npos);
  b = body();
  b["source"]["upload_id"] = "up_clip";
  EXPECT_NE(error_of(b).find("source must be an image"), std::string::npos);
  b = body("up_missing");
  auto missing = normalise_job_request(b, fake_upload);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  b = body();
  b["webhook"] = {{"url", "ftp://example.com/hook"}};
  EXPECT_NE(error_of(b).find("http"), std::string::npos);
}

// Regression: 1e300 passed the "whole number" test and was converted to int64_t (undefined
// behaviour; UBSan: "1e+300 is outside the range of representable values").
TEST(JobRequest, QualityOutOfRangeOrNotFiniteIsRefusedWithoutConversion) {
  for (const json& quality : {json(1e300), json(-1e300), json(1e19), json(18446744073709551615ULL), json(101),
                              json(-1), json(std::nan("")), json(INFINITY), json(50.5), json("90")}) {
    json b = body();
    b["output"] = {{"quality", quality}};
    const std::string message = error_of(b);
    EXPECT_NE(message.find("output.quality"), std::string::npos) << quality.dump() << ": " << message;
  }
  json b = body();
  b["output"] = {{"quality", 70.0}};
  auto r = normalise_job_request(b, fake_upload);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ((*r)["output"]["quality"], 70) << "a whole float is an integer";
}

TEST(JobRequest, FramesBeyondTheVideoAreRefusedAtSubmit) {
  json b = body("up_clip");  // 68 frames
  b["output"] = {{"format", "png"}};
  b["target"]["frame_number"] = 68;
  std::string message = error_of(b);
  EXPECT_NE(message.find("target.frame_number"), std::string::npos) << message;
  EXPECT_NE(message.find("0 to 67"), std::string::npos) << message;
  b["target"]["frame_number"] = 67;
  EXPECT_TRUE(normalise_job_request(b, fake_upload).is_ok()) << "the last frame is fine";
  b = body("up_clip");
  b["target"]["frame_range"] = {10, 69};
  message = error_of(b);
  EXPECT_NE(message.find("target.frame_range"), std::string::npos) << message;
  EXPECT_EQ(message.find("--"), std::string::npos) << "no CLI flag in an API error: " << message;
  b["target"]["frame_range"] = {68, 80};
  EXPECT_NE(error_of(b).find("target.frame_range"), std::string::npos);
  b["target"]["frame_range"] = {10, 68};
  EXPECT_TRUE(normalise_job_request(b, fake_upload).is_ok()) << "end is one past the last frame";
}

TEST(JobRequest, ClientFacingErrorsNameFieldsAndHideServerPaths) {
  Status pipeline_error = invalid_argument(
      "--trim-frame-end 90 must be after --trim-frame-start 10 and at most 68 in /srv/ff/tmp/job_1/inputs/target");
  Status shown = client_facing_error(pipeline_error, {{"/srv/ff/tmp/job_1/inputs/target", "target 'clip.mp4'"}});
  EXPECT_EQ(shown.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(shown.message(),
            "target.frame_range[1] 90 must be after target.frame_range[0] 10 and at most 68 in target 'clip.mp4'");
  Status frame = client_facing_error(invalid_argument("--frame 99 is outside /data/tmp/job_2/inputs/target's frames 0..67"), {});
  EXPECT_EQ(frame.message(), "target.frame_number 99 is outside (a file on the server)'s frames 0..67");
  Status cannot_read = client_facing_error(unavailable("cannot read '/var/lib/facefuse/storage/uploads/up_1/input.jpg': "
                                                       "No such file; see POST /api/v1/upload"), {});
  EXPECT_EQ(cannot_read.code(), StatusCode::kUnavailable);
  EXPECT_EQ(cannot_read.message().find("/var/lib"), std::string::npos) << cannot_read.message();
  EXPECT_NE(cannot_read.message().find("/api/v1/upload"), std::string::npos) << "API routes are not server paths";
  EXPECT_NE(client_facing_error(invalid_argument("face_swapper_blend must be 0-1"), {}).message().find("face_swapper_blend"),
            std::string::npos);
}

}  // namespace
}  // namespace facefuse::jobs
