#include "facefuse/server/live_swap.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <optional>
#include <span>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <spdlog/spdlog.h>

#include "facefuse/core/error_codes.h"
#include "facefuse/face/glasses.h"
#include "facefuse/jobs/job_request.h"
#include "facefuse/jobs/job_service.h"
#include "facefuse/jobs/job_store.h"
#include "facefuse/media/image_io.h"
#include "facefuse/pipeline/job_engine.h"
#include "facefuse/pipeline/video_job.h"
#include "facefuse/processors/processor_warning.h"
#include "facefuse/server/client_text.h"

namespace facefuse::server {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// WebSocket close codes 4000–4999 are the application's: 4000 + the HTTP status of the error.
int close_code_for(const Status& status) { return 4000 + http_status_for(status.code()); }

// Smallest face looked for in camera frames, pixels: 1/8 of a 480-line frame (the video jobs'
// rule), one BlazeFace pass on 640×480 where the source's 40 px costs three.
constexpr int kFrameMinFaceSize = 60;

std::span<const uint8_t> as_bytes(std::string_view s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

// Width and height from a JPEG's frame header without decoding it (so a decompression bomb is
// refused before any pixel is allocated). nullopt when `jpeg` is not a JPEG.
std::optional<cv::Size> jpeg_size(std::string_view jpeg) {
  if (media::sniff_image_format(as_bytes(jpeg)) != media::ImageFormat::kJpeg) return std::nullopt;
  auto size = media::read_image_size(as_bytes(jpeg), media::ImageFormat::kJpeg);
  return size ? std::optional<cv::Size>(*size) : std::nullopt;
}

// Live frames have no track: what the video pipeline decides per track over its recent detections
// (Face::track_detail_energy, how sharp the face is; Face::glasses_weight, whether it wears
// glasses; Face::profile_fade, whether it is seen in profile) is measured on each frame here and
// smoothed over the session's frames. One frame's measure is noisy (the live test's soft camera
// frames with rimless glasses: a bridge score over the single-photo threshold on some frames
// only): deciding per frame made the glasses flicker in and out and the softening of a sharp
// source follow the camera noise, and a face in profile was swapped (torn) on every frame.
struct RecentFace {
  cv::Point2f centre;  // of the face's box, frame px
  float detail_energy = 0;   // smoothed face::inner_face_energy
  float glasses_bridge = 0;  // smoothed face::glasses_bridge_score
  float profile_fade = 0;    // 0 = swapped fully … 1 = left as it is (seen in profile)
  float yaw = 0;             // smoothed processors::estimate_yaw
};

// Weight of a frame's own measures in the smoothed ones (an exponential mean over about the last 5
// frames), steadier than one frame's as the video's mean over its last 3 detections is.
constexpr float kLiveSmoothing = 0.2f;
// How far the profile fade moves toward a frame's own verdict per frame: a head turning into
// profile fades out over 4 frames, as a video's fades over the 5 frames between two detections.
constexpr float kLiveProfileStep = 0.25f;

// Sets track_detail_energy, glasses_weight and profile_fade on each face of `faces` (a frame's
// selected faces) and returns the measures to carry to the next frame. A face continues the
// previous frame's nearest face when their centres are less than half a face apart; otherwise its
// measures start afresh.
std::vector<RecentFace> measure_like_a_track(const cv::Mat& frame, std::vector<face::Face>& faces,
                                             const std::vector<RecentFace>& previous) {
  // The session's exponential mean of one measure, moved toward this frame's value.
  auto smoothed = [](float mean, float value) { return mean + kLiveSmoothing * (value - mean); };
  std::vector<RecentFace> out;
  for (auto& f : faces) {
    if (!f.has_landmarks68()) continue;
    const pipeline::TrackSighting seen = pipeline::sighting_of(frame, f, 0);
    RecentFace now{cv::Point2f(f.box.x + f.box.width / 2, f.box.y + f.box.height / 2), seen.detail_energy,
                   seen.glasses_bridge, seen.in_profile ? 1.0f : 0.0f, seen.yaw};
    const float half_face = 0.5f * std::max(f.box.width, f.box.height);
    const RecentFace* nearest = nullptr;
    for (const auto& p : previous) {
      const double d = cv::norm(p.centre - now.centre);
      if (d < half_face && (!nearest || d < cv::norm(nearest->centre - now.centre))) nearest = &p;
    }
    if (nearest) {
      // An energy of 0 is a face that could not be measured: it neither pulls the mean toward 0 nor
      // starts it there.
      if (nearest->detail_energy > 0.0f) {
        now.detail_energy =
            now.detail_energy > 0.0f ? smoothed(nearest->detail_energy, now.detail_energy) : nearest->detail_energy;
      }
      now.glasses_bridge = smoothed(nearest->glasses_bridge, now.glasses_bridge);
      now.yaw = smoothed(nearest->yaw, now.yaw);
      now.profile_fade = nearest->profile_fade +
                         std::clamp(now.profile_fade - nearest->profile_fade, -kLiveProfileStep, kLiveProfileStep);
    }
    if (now.detail_energy > 0.0f) f.track_detail_energy = now.detail_energy;
    f.glasses_weight = face::glasses_keep_weight(now.glasses_bridge);
    f.track_yaw = now.yaw;
    f.profile_fade = now.profile_fade;
    out.push_back(now);
  }
  return out;
}

}  // namespace

// Open sockets per key and per address, shared with every session's slot.
struct LiveSwapService::Counts {
  std::mutex mutex;
  int total = 0;
  std::unordered_map<std::string, int> per_key;
  std::unordered_map<std::string, int> per_address;
};

struct LiveSwapService::Session {
  enum class Phase { kConfig, kOpening, kReady, kClosed };

  std::shared_ptr<Counts> counts;
  std::string tenant, key_id, address;
  ~Session() { release_slot(); }

  // Gives the session's place in the counts back, once. An error gives it back before the close
  // goes out, so a client that reads the close can reconnect at once; otherwise it goes when the
  // socket's handlers (and a worker busy with the session) let go of it.
  void release_slot() {
    if (slot_released.exchange(true)) return;
    std::lock_guard lock(counts->mutex);
    --counts->total;
    if (--counts->per_key[key_id] <= 0) counts->per_key.erase(key_id);
    if (--counts->per_address[address] <= 0) counts->per_address.erase(address);
  }
  std::atomic<bool> slot_released{false};

  std::mutex mutex;  // guards everything below
  std::weak_ptr<EventSink> sink;  // weak: the socket owns the session through its message handler
  Phase phase = Phase::kConfig;
  json config;                  // the client's first message
  bool busy = false;            // in the service's queue or being worked on
  std::optional<std::string> pending;  // the newest frame not yet taken (a newer one replaces it)
  Clock::time_point pending_at;
  int64_t pending_index = 0;
  int64_t received = 0, processed = 0, dropped = 0;
  // Set once the engine is open; used by one worker at a time (busy).
  std::shared_ptr<pipeline::JobEngine> engine;
  bool reference_set = false;
  std::vector<RecentFace> recent_faces;  // the last processed frame's swapped faces
  // The last processed frame's faces (all found) and the boxes their points were found from: the
  // next frame's detections follow them (FaceAnalyser::settle), so a still face keeps still points.
  std::vector<face::Face> seen_faces;
  std::vector<std::optional<cv::Rect2f>> seen_from;

  bool send_json(const json& message) {
    auto s = sink.lock();
    return s && s->send(message.dump(-1, ' ', false, json::error_handler_t::replace), 0);
  }
};

LiveSwapService::LiveSwapService(jobs::JobService& service, LiveConfig config)
    : service_(service), config_(std::move(config)), counts_(std::make_shared<Counts>()) {}

LiveSwapService::~LiveSwapService() { stop(); }

Status LiveSwapService::start() {
  int n = config_.threads > 0 ? config_.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 0; i < n; ++i) {
    // ONNX Runtime's session set-up needs more than a small stack (see studio_routes.cpp).
    FF_ASSIGN_OR_RETURN(StackThread t, StackThread::start("ff-live", kThreadStackBytes, [this] { run(); }));
    threads_.push_back(std::move(t));
  }
  return Status::ok();
}

void LiveSwapService::stop() {
  std::deque<std::shared_ptr<Session>> dropped;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    dropped.swap(queue_);
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
  for (auto& s : dropped) {
    std::lock_guard lock(s->mutex);
    s->phase = Session::Phase::kClosed;
    s->release_slot();
    if (auto sink = s->sink.lock()) sink->close(1001, R"({"error":"unavailable","message":"the server is stopping"})");
  }
}

int LiveSwapService::open_sessions() const {
  std::lock_guard lock(counts_->mutex);
  return counts_->total;
}

Result<std::shared_ptr<LiveSwapService::Session>> LiveSwapService::admit(const std::string& tenant,
                                                                         const std::string& key_id,
                                                                         const std::string& address) {
  {
    std::lock_guard lock(counts_->mutex);
    if (counts_->total >= config_.max_sessions) {
      return unavailable(fmt::format("this server holds its limit of {} live sessions: retry later", config_.max_sessions));
    }
    auto key_it = counts_->per_key.find(key_id);
    if (key_it != counts_->per_key.end() && key_it->second >= config_.max_sessions_per_key) {
      return quota_exceeded(fmt::format("this API key has {} live sessions open, the limit: close one first",
                                        config_.max_sessions_per_key));
    }
    auto address_it = counts_->per_address.find(address);
    if (address_it != counts_->per_address.end() && address_it->second >= config_.max_sessions_per_address) {
      return quota_exceeded(fmt::format("this address has {} live sessions open, the limit: close one first",
                                        config_.max_sessions_per_address));
    }
    ++counts_->total;
    ++counts_->per_key[key_id];
    ++counts_->per_address[address];
  }
  auto session = std::make_shared<Session>();
  session->counts = counts_;
  session->tenant = tenant;
  session->key_id = key_id;
  session->address = address;
  return session;
}

void LiveSwapService::attach(const std::shared_ptr<Session>& session, std::shared_ptr<EventSink> sink) {
  std::lock_guard lock(session->mutex);
  session->sink = std::move(sink);
}

void LiveSwapService::schedule(const std::shared_ptr<Session>& session) {
  if (session->busy) return;  // the worker that has it looks for more work when done
  session->busy = true;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    queue_.push_back(session);
  }
  cv_.notify_one();
}

void LiveSwapService::fail(const std::shared_ptr<Session>& session, const Status& status) {
  // Called with session->mutex held.
  if (session->phase == Session::Phase::kClosed) return;
  session->phase = Session::Phase::kClosed;
  session->pending.reset();
  const char* code = status_code_name(status.code());
  std::string message = client_text(status.message(), 1024);
  session->send_json({{"type", "error"}, {"error", code}, {"message", message}});
  // The close reason carries the same JSON, shortened to the 123 bytes a close frame allows.
  json reason = {{"error", code}, {"message", message}};
  std::string text = reason.dump(-1, ' ', false, json::error_handler_t::replace);
  while (text.size() > 123 && message.size() > 8) {
    message.resize(message.size() - std::min<size_t>(message.size() - 8, text.size() - 123 + 3));
    while (!message.empty() && (static_cast<unsigned char>(message.back()) & 0xC0) == 0x80) message.pop_back();
    reason["message"] = message + "...";
    text = reason.dump(-1, ' ', false, json::error_handler_t::replace);
  }
  session->release_slot();
  if (auto sink = session->sink.lock()) sink->close(close_code_for(status), text);
}

void LiveSwapService::on_message(const std::shared_ptr<Session>& session, std::string message, bool binary) {
  std::lock_guard lock(session->mutex);
  switch (session->phase) {
    case Session::Phase::kClosed:
      return;  // an error ended the session: the close is on its way
    case Session::Phase::kConfig: {
      if (binary) {
        return fail(session, invalid_argument("send the JSON config first: {\"source\": {\"upload_id\": \"...\"}, "
                                              "\"options\": {...}}, then binary JPEG frames"));
      }
      json config = json::parse(message, nullptr, false);
      if (config.is_discarded() || !config.is_object()) {
        return fail(session, invalid_argument("the first message must be a JSON object: {\"source\": {\"upload_id\": "
                                              "\"...\"}, \"options\": {...}}"));
      }
      session->config = std::move(config);
      session->phase = Session::Phase::kOpening;
      return schedule(session);
    }
    case Session::Phase::kOpening:
    case Session::Phase::kReady: {
      if (!binary) {
        return fail(session, invalid_argument("after the config, send only binary JPEG frames (one per message)"));
      }
      if (message.size() > config_.max_frame_bytes) {
        return fail(session, limit_exceeded(fmt::format("a frame of {} bytes is over the limit of {} bytes",
                                                        message.size(), config_.max_frame_bytes)));
      }
      auto size = jpeg_size(message);
      if (!size) return fail(session, unsupported("a frame is not a JPEG image: send canvas.toBlob('image/jpeg') bytes"));
      if (static_cast<int64_t>(size->width) * size->height > config_.max_frame_pixels) {
        return fail(session, limit_exceeded(fmt::format("a {}x{} frame is over the limit of {} pixels", size->width,
                                                        size->height, config_.max_frame_pixels)));
      }
      ++session->received;
      if (session->pending) ++session->dropped;  // a newer frame replaces the one still waiting
      session->pending = std::move(message);
      session->pending_at = Clock::now();
      session->pending_index = session->received;
      if (session->phase == Session::Phase::kReady) schedule(session);
      return;
    }
  }
}

void LiveSwapService::run() {
  while (true) {
    std::shared_ptr<Session> session;
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      session = std::move(queue_.front());
      queue_.pop_front();
    }
    work(session);
  }
}

void LiveSwapService::work(const std::shared_ptr<Session>& session) {
  Session::Phase phase;
  {
    std::lock_guard lock(session->mutex);
    phase = session->phase;
  }
  if (phase == Session::Phase::kOpening) open_engine(session);
  else if (phase == Session::Phase::kReady) process_frame(session);
  std::lock_guard lock(session->mutex);
  session->busy = false;
  auto sink = session->sink.lock();
  if (session->phase == Session::Phase::kReady && session->pending && sink && sink->is_open()) schedule(session);
  if (!sink || !sink->is_open()) session->engine.reset();  // the socket is gone: free the engine now
}

void LiveSwapService::open_engine(const std::shared_ptr<Session>& session) {
  const auto t0 = Clock::now();
  json config;
  {
    std::lock_guard lock(session->mutex);
    config = session->config;
  }
  auto failed = [&](const Status& s) {
    std::lock_guard lock(session->mutex);
    fail(session, s);
  };
  for (const auto& [key, value] : config.items()) {
    if (key != "source" && key != "options") {
      return failed(invalid_argument(fmt::format("unknown field {} in the live config: use source and options",
                                                 client_text(key, 64))));
    }
  }
  if (!config.contains("source")) {
    return failed(invalid_argument("the live config needs source: {\"upload_id\": \"...\"} (upload the face photo first)"));
  }
  // A job request whose target is the source photo itself: the one validation of sources and
  // options that jobs use (unknown fields, ranges, processors), with the same messages.
  json body = {{"source", config["source"]}, {"options", config.value("options", json::object())}};
  std::map<std::string, jobs::Upload> uploads;
  auto lookup = [&](const std::string& id) -> Result<jobs::Upload> {
    FF_ASSIGN_OR_RETURN(jobs::Upload upload, service_.store().get_upload(session->tenant, id));
    uploads[id] = upload;
    return upload;
  };
  if (config["source"].is_object() && config["source"].contains("upload_id")) body["target"] = {{"upload_id", config["source"]["upload_id"]}};
  auto request = jobs::normalise_job_request(body, lookup);
  if (!request) return failed(request.status());
  const jobs::Upload& source = uploads.at((*request)["source"]["upload_id"].get<std::string>());
  if (source.media != "image") {
    return failed(invalid_argument(fmt::format("the source '{}' is a {}: live mode needs a photo of the face",
                                               source.filename, source.media)));
  }
  std::error_code ec;
  fs::create_directories(config_.temp_dir, ec);
  auto id = jobs::new_id("live_");
  if (!id) return failed(id.status());
  const fs::path local = config_.temp_dir / (*id + ".img");
  Status got = service_.blobs().get_file(source.storage_key, local);
  if (!got.is_ok()) {
    fs::remove(local, ec);
    return failed(got);
  }
  pipeline::JobSpec spec = jobs::job_spec_for(*request, {local, local}, config_.temp_dir / "unused.jpg",
                                              config_.temp_dir, service_.config().execution);
  // The source is read as an image job reads it (faces down to 40 px: with a coarser detector
  // BlazeFace's single pass took a dog in dlib's dogs.jpg for a source face); camera frames are
  // close-ups, looked for down to kFrameMinFaceSize with the engine's second detector.
  spec.frame_min_face_size = kFrameMinFaceSize;
  // One ORT thread per inference: frames run in parallel on the ff-live pool instead. ORT's
  // intra-op pool spin-waits (`pause`) between and after runs: profiled on this 2-core machine it
  // was 36 % of the live threads' CPU, against 17 % of actual inference (docs/benchmarks.md).
  spec.session.intra_op_threads = 1;
  auto engine = pipeline::JobEngine::open(spec);
  fs::remove(local, ec);  // read by open(): the engine keeps the analysed source, not the file
  if (!engine) {
    return failed(jobs::client_facing_error(engine.status(),
                                            {{local.string(), fmt::format("'{}'", source.filename)}}));
  }
  // What limits the result from the source photo alone (small, blurred, turned or tilted face):
  // the same sentences an image job gives, naming the upload as the client named it. Nothing has
  // been processed yet, so these are the source's warnings only.
  json warnings = json::array();
  for (std::string w : processors::render_warnings((*engine)->take_processor_warnings())) {
    const std::string local_name = local.filename().string();
    for (size_t at = w.find(local_name); at != std::string::npos; at = w.find(local_name, at + source.filename.size())) {
      w.replace(at, local_name.size(), source.filename);
    }
    warnings.push_back(std::move(w));
  }
  std::lock_guard lock(session->mutex);
  if (session->phase != Session::Phase::kOpening) return;
  session->engine = std::shared_ptr<pipeline::JobEngine>(std::move(engine).value());
  session->phase = Session::Phase::kReady;
  auto counts = session->engine->source_face_counts();
  session->send_json({{"type", "ready"},
                      {"source_faces", counts.empty() ? json(nullptr) : json(counts.front())},
                      {"warnings", std::move(warnings)},
                      {"open_ms", ms_since(t0)},
                      {"max_frame_bytes", config_.max_frame_bytes},
                      {"max_frame_pixels", config_.max_frame_pixels}});
}

void LiveSwapService::process_frame(const std::shared_ptr<Session>& session) {
  std::string jpeg;
  int64_t index = 0;
  double queue_ms = 0;
  std::shared_ptr<pipeline::JobEngine> engine;
  bool reference_set = false;
  std::vector<RecentFace> recent_faces;
  std::vector<face::Face> seen_faces;
  std::vector<std::optional<cv::Rect2f>> seen_from;
  {
    std::lock_guard lock(session->mutex);
    if (!session->pending) return;
    jpeg = std::move(*session->pending);
    session->pending.reset();
    index = session->pending_index;
    queue_ms = ms_since(session->pending_at);
    engine = session->engine;
    reference_set = session->reference_set;
    recent_faces = session->recent_faces;
    seen_faces = session->seen_faces;
    seen_from = session->seen_from;
  }
  // Where a frame's server time goes, ms (sent with the frame: the bench and the page read them).
  struct Stages {
    double decode = 0, analyse = 0, process = 0, encode = 0;
  } stages;
  struct Output {
    std::string jpeg;  // the frame sent back
    int found = 0, swapped = 0;
  };
  const auto t0 = Clock::now();
  auto processed = [&]() -> Result<Output> {
    auto t = Clock::now();
    // The uploads' decoder: checks the header, completeness and the DICOM guard before cv::imdecode.
    auto decoded = media::decode_image(as_bytes(jpeg), "a frame", {config_.max_frame_pixels});
    if (!decoded) return invalid_media(fmt::format("the JPEG is damaged: {}", decoded.status().message()));
    cv::Mat frame = std::move(decoded).value();
    stages.decode = ms_since(t);
    t = Clock::now();
    FF_ASSIGN_OR_RETURN(auto faces, engine->analyser().analyse(frame));
    std::vector<std::optional<cv::Rect2f>> found_from;
    FF_RETURN_IF_ERROR(engine->analyser().settle(frame, faces, seen_faces, seen_from, found_from));
    seen_faces = faces;
    seen_from = std::move(found_from);
    Output out;
    out.found = static_cast<int>(faces.size());
    if (engine->needs_reference() && !reference_set && !faces.empty()) {
      // Reference mode: the face at reference_face_position in the first frame with a face.
      FF_RETURN_IF_ERROR(engine->analyser().embed(frame, faces));
      FF_RETURN_IF_ERROR(engine->set_reference_faces(frame, faces));
      reference_set = true;
    }
    FF_ASSIGN_OR_RETURN(auto selected, engine->select(frame, std::move(faces)));
    out.swapped = static_cast<int>(selected.size());
    stages.analyse = ms_since(t);
    if (selected.empty()) {
      // Nothing to change: the frame goes back as it came, without a re-encode.
      out.jpeg = std::move(jpeg);
      return out;
    }
    t = Clock::now();
    recent_faces = measure_like_a_track(frame, selected, recent_faces);
    processors::FrameContext context{std::move(frame), std::move(selected), index};
    FF_RETURN_IF_ERROR(engine->process(context));
    stages.process = ms_since(t);
    t = Clock::now();
    std::vector<unsigned char> bytes;
    const std::vector<int> params = {cv::IMWRITE_JPEG_QUALITY, std::clamp(config_.jpeg_quality, 0, 100)};
    try {
      if (!cv::imencode(".jpg", context.frame, bytes, params)) return internal_error("a frame could not be encoded");
    } catch (const cv::Exception& e) {
      return internal_error(fmt::format("a frame could not be encoded: {}", e.what()));
    }
    out.jpeg.assign(bytes.begin(), bytes.end());
    stages.encode = ms_since(t);
    return out;
  }();
  const double server_ms = ms_since(t0);
  std::lock_guard lock(session->mutex);
  if (!processed) return fail(session, processed.status());
  session->reference_set = reference_set;
  session->recent_faces = std::move(recent_faces);
  session->seen_faces = std::move(seen_faces);
  session->seen_from = std::move(seen_from);
  ++session->processed;
  auto sink = session->sink.lock();
  if (!sink) return;
  session->send_json({{"type", "frame"},
                      {"frame", index},
                      {"server_ms", server_ms},
                      {"queue_ms", queue_ms},
                      {"decode_ms", stages.decode},
                      {"analyse_ms", stages.analyse},
                      {"process_ms", stages.process},
                      {"encode_ms", stages.encode},
                      {"faces", processed->found},
                      {"swapped", processed->swapped},
                      {"received", session->received},
                      {"processed", session->processed},
                      {"dropped", session->dropped}});
  sink->send_binary(std::move(processed->jpeg));
}

}  // namespace facefuse::server
