// Fuzzes the job body of POST /api/v1/jobs (jobs/job_request.h): the bytes are parsed as JSON the
// way the server parses a body, and every document goes through normalise_job_request with two
// known uploads, "up_image" (a 640×480 JPEG) and "up_video" (a 640×480, 25 fps, 100-frame MP4);
// any other id is not found, as for another tenant's upload.
//
// Properties: no crash, UB or escaped exception; an accepted request serialises, is accepted again
// unchanged when submitted with its upload ids (normalisation is idempotent: the result cache
// fingerprints it), and job_spec_for, output_file_name read it without throwing.
// fuzz-link: facefuse::jobs
#include <cstddef>
#include <cstdint>

#include <nlohmann/json.hpp>

#include "facefuse/jobs/job_request.h"
#include "fuzz_support.h"

namespace {

using nlohmann::json;
using facefuse::Result;
using facefuse::jobs::Upload;

Result<Upload> lookup(const std::string& id) {
  Upload u;
  u.id = id;
  u.tenant = "fuzz";
  u.sha256 = std::string(64, 'a');
  if (id == "up_image") {
    u.media = "image";
    u.storage_key = "uploads/up_image.jpg";
    u.info = {{"format", "jpg"}, {"width", 640}, {"height", 480}};
    return u;
  }
  if (id == "up_video") {
    u.media = "video";
    u.storage_key = "uploads/up_video.video";
    u.info = {{"width", 640}, {"height", 480}, {"frame_count", 100}, {"fps", 25.0}, {"duration_sec", 4.0}};
    return u;
  }
  return facefuse::not_found("no upload '" + id + "'");
}

// The client's view of a stored request: what a resubmission of the same job would send.
json resubmission(const json& stored) {
  json body = {{"source", {{"upload_id", stored["source"]["upload_id"]}}},
               {"target", {{"upload_id", stored["target"]["upload_id"]}}}};
  for (const char* field : {"frame_range", "frame_number"}) {
    if (!stored["target"][field].is_null()) body["target"][field] = stored["target"][field];
  }
  body["output"] = {{"format", stored["output"]["format"]}, {"quality", stored["output"]["quality"]},
                    {"fps", stored["output"]["fps"]}, {"chunk_frames", stored["output"]["chunk_frames"]}};
  body["options"] = stored["options"];
  body["options"]["processors"] = stored["processors"];
  if (!stored["webhook"].is_null()) body["webhook"] = stored["webhook"];
  return body;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  json body = json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return 0;
  auto normalised = facefuse::jobs::normalise_job_request(body, lookup);
  if (!normalised) {
    FF_FUZZ_CHECK(!normalised.status().message().empty(), "a refused request says why");
    return 0;
  }
  const json& request = *normalised;
  (void)request.dump();

  facefuse::jobs::JobInputs inputs{"/tmp/source.jpg", "/tmp/target"};
  facefuse::jobs::ExecutionSettings settings;
  auto spec = facefuse::jobs::job_spec_for(request, inputs, "/tmp/out", "/tmp", settings);
  FF_FUZZ_CHECK(!spec.processors.empty(), "an accepted job runs at least one processor");
  FF_FUZZ_CHECK(spec.output_quality >= 0 && spec.output_quality <= 100, "quality is 0-100");
  (void)facefuse::jobs::output_file_name(request);

  // Resolution is not echoed back (the stored form keeps only the scale), so compare without it.
  if (request["output"]["scale"] == 1.0) {
    auto again = facefuse::jobs::normalise_job_request(resubmission(request), lookup);
    FF_FUZZ_CHECK(again.is_ok(), "an accepted request, sent back as stored, is accepted");
    FF_FUZZ_CHECK(*again == request, "normalisation is idempotent");
  }
  return 0;
}
