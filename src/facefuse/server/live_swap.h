// Live mode of the web studio (issue 15): a browser camera streams JPEG frames over a WebSocket
// (GET /api/v1/live) and gets each frame back with the chosen source face swapped in.
//
// Protocol (docs/service.md "Live mode"): the client's first message is a JSON config, text —
// {"source": {"upload_id": "up_..."}, "options": {...}} with the fields of a job request's
// `source` and `options` (processors, face selector, blend, ...). The server opens the engine once
// per socket (source read and analysed once; ONNX sessions from the process's SessionCache, warm
// after the first socket) and answers {"type": "ready", ...}. Then the client sends binary JPEG
// frames; for each frame processed the server sends a text {"type": "frame", ...} with its figures
// (server_ms: decode + swap + encode, split into decode_ms / analyse_ms / process_ms / encode_ms;
// queue_ms: waiting for a worker; received/processed/dropped counts) followed by the swapped frame
// as a binary JPEG — the client's own bytes when no face was swapped (no re-encode). Errors end the socket: a text
// {"type": "error", "error", "message"} then a close with code 4000 + the HTTP status of the error
// (4400 bad config or message, 4413 frame over a limit, 4415 not a JPEG, 4422 no face in the
// source or a damaged frame, 4404 unknown upload) and the same JSON, shortened to fit, as the close reason.
//
// Frame dropping: per socket at most one frame is being processed and one waits; a frame that
// arrives while one waits replaces it (counted in `dropped`). Nothing queues without bound, and a
// socket that sends nothing holds no thread: frames are processed on this service's own small pool
// of workers (the transport's I/O threads only hand them over).
//
// Threading: admit(), attach() and on_message() from any thread (on_message from the socket's I/O
// thread, one call at a time per socket); start()/stop() from the owner.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "facefuse/core/stack_thread.h"
#include "facefuse/core/status.h"
#include "facefuse/server/http_server.h"

namespace facefuse::jobs {
class JobService;
}

namespace facefuse::server {

struct LiveConfig {
  // Open live sockets in total, per API key and per client address (each can keep a core busy).
  int max_sessions = 8;
  int max_sessions_per_key = 2;
  int max_sessions_per_address = 4;
  std::size_t max_frame_bytes = 2u << 20;  // one JPEG frame, bytes
  int64_t max_frame_pixels = 1920 * 1080;  // one frame, width × height
  int threads = 0;                         // frames processed at once over all sockets; 0 = hardware threads
  int jpeg_quality = 80;                   // of the frames sent back, 0–100
  std::filesystem::path temp_dir;          // source copies while an engine opens (removed at once)
};

class LiveSwapService {
 public:
  LiveSwapService(jobs::JobService& service, LiveConfig config);
  ~LiveSwapService();
  LiveSwapService(const LiveSwapService&) = delete;
  LiveSwapService& operator=(const LiveSwapService&) = delete;

  // Starts the `threads` workers (ff-live). Call once, before the first admit().
  Status start();
  // Stops taking work and joins the workers: a frame or an engine opening already in progress
  // finishes (its answer is still sent), nothing queued is started. Sessions that were waiting in
  // the queue (a socket's config or frame not yet taken) are closed with 1001 (going away); other
  // open sockets are not touched here — the transport closes them when the server stops, and a
  // frame they send meanwhile is accepted but never processed. Idempotent; the destructor calls it.
  void stop();

  struct Session;
  // A session slot for a socket about to open: kQuotaExceeded (HTTP 429) over the per-key or
  // per-address cap, kUnavailable (503) over the total. The slot is released when the last
  // reference to the session is gone (socket closed and no frame in processing).
  Result<std::shared_ptr<Session>> admit(const std::string& tenant, const std::string& key_id,
                                         const std::string& address);
  // The socket is open: messages can be answered.
  void attach(const std::shared_ptr<Session>& session, std::shared_ptr<EventSink> sink);
  // One message from the client (I/O thread; never blocks).
  void on_message(const std::shared_ptr<Session>& session, std::string message, bool binary);

  // Largest WebSocket message the transport should read for a live socket: a frame at the limit
  // plus slack, so a frame just over it gets our JSON error rather than the transport's bare 1009.
  std::size_t max_message_bytes() const { return config_.max_frame_bytes + (64u << 10); }
  const LiveConfig& config() const { return config_; }
  int open_sessions() const;

 private:
  struct Counts;
  void run();
  void work(const std::shared_ptr<Session>& session);
  void open_engine(const std::shared_ptr<Session>& session);
  void process_frame(const std::shared_ptr<Session>& session);
  void schedule(const std::shared_ptr<Session>& session);  // caller holds session->mutex
  void fail(const std::shared_ptr<Session>& session, const Status& status);

  jobs::JobService& service_;
  LiveConfig config_;
  std::shared_ptr<Counts> counts_;
  std::mutex mutex_;  // guards queue_ and stopping_
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Session>> queue_;  // sessions with work (each at most once)
  bool stopping_ = false;
  std::vector<StackThread> threads_;
};

}  // namespace facefuse::server
