# facefuse — entry points. Every target installs what it needs first (scripts/setup is
# idempotent and caches downloads under ~/.cache/facefuse).
BUILD ?= build
JOBS ?= $(shell nproc)
CACHE ?= $(or $(FACEFUSE_CACHE),$(HOME)/.cache/facefuse)
PHOTOS = $(CACHE)/testdata/photos
FACEFUSE = $(BUILD)/bin/facefuse

.PHONY: setup build build-asan build-fuzz build-tsan install serve demo test test-release test-fast test-asan test-tsan \
        fuzz examples bench bench-quality bench-service bench-conns bench-live bench-distributed bench-model-load clean

setup:
	scripts/setup

build: setup
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD) -j $(JOBS)

# A relocatable tree for every user: bin/facefuse, lib/facefuse/libonnxruntime.so.1 (RUNPATH
# $ORIGIN/../lib/facefuse), share/facefuse/models (docs/service.md "Installing").
PREFIX ?= /usr/local
install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

# The service on embedded defaults (SQLite + files under ~/.local/share/facefuse/service): open
# http://127.0.0.1:8080/ to upload a face and a target and watch the job. Loopback only, so no API
# keys (--no-auth); LISTEN=0.0.0.0:8080 needs keys: drop --no-auth via SERVE_FLAGS=.
LISTEN ?= 127.0.0.1:8080
SERVE_FLAGS ?= --no-auth
serve: build
	$(FACEFUSE) serve --listen $(LISTEN) $(SERVE_FLAGS)

# The main job: swap a real face photo into another real photo and print where the result is.
demo: build
	mkdir -p $(BUILD)/demo
	$(FACEFUSE) run -s $(PHOTOS)/astronaut.png -t $(CACHE)/testdata/dlib_faces/Tom_Cruise_avp_2014_4.jpg -o $(BUILD)/demo/swap.jpg
	@echo "Open $(BUILD)/demo/swap.jpg to see the result."

# Everything CI runs (.ci/run), in this order: the release suite, the fuzzers (clang ASan+UBSan
# build, build-asan/), the ASan+UBSan subset (same build) and the TSan subset (build-tsan/); each
# configuration is built once. docs/testing.md says what each sanitizer subset covers and its time.
test: test-release fuzz test-asan test-tsan

# All tests (unit, integration, end-to-end CLI and service) on real photos, release build.
test-release: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 900

# Everything but the tests labelled slow.
test-fast: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -LE slow

# Sanitizer builds (clang-14, CMakePresets.json). One ASan+UBSan build serves both the test run
# and the libFuzzer targets; each builds only what its test subset needs. Sanitizer reports of every
# process (also servers started by the e2e tests) are written under build-sanitizer-logs/<preset>/
# and fail the stage after ctest has run.
build-asan: setup
	cmake --preset asan
	cmake --build --preset asan -j $(JOBS)

# Only the libraries and the fuzz_* executables of the asan configuration (no test programs).
build-fuzz: setup
	cmake --preset asan
	cmake --build --preset fuzz -j $(JOBS)

build-tsan: setup
	cmake --preset tsan
	cmake --build --preset tsan -j $(JOBS)

# The sanitizer suites run subsets (CMakePresets.json test presets; docs/testing.md says which and
# why): never the tests labelled slow (long video jobs, restarts, 20-job loads), which under
# ASan/TSan cost most of the time and exercise the same code as the rest.
test-asan: build-asan
	scripts/run_sanitized_tests asan -j $(JOBS)

test-tsan: build-tsan
	scripts/run_sanitized_tests tsan -j $(JOBS)

# Every fuzz/<stem>_fuzz.cpp for FACEFUSE_FUZZ_SECONDS (30 s) each, seeds first. Longer:
# cmake --preset asan -DFACEFUSE_FUZZ_SECONDS=600 && make fuzz
fuzz: build-fuzz
	ctest --preset fuzz -j $(JOBS)

# Contact sheet of source / target / result for several real pairs, written into the build tree.
examples: build
	scripts/make_examples $(FACEFUSE) $(CACHE)/testdata $(BUILD)/examples

bench: build
	scripts/make_test_videos
	$(BUILD)/bench/facefuse_bench_stages $(CACHE)/testdata
	$(BUILD)/bench/facefuse_bench_video $(CACHE)/testdata --split

# Swap quality of the classical swapper (identity, pose, expression, sharpness, seam, ghost jaw) on
# real photo pairs, the pre-issue-17 geometry as the baseline in the same run; the aggregate table
# replaces the bench-quality block of docs/benchmarks.md. PAIRS=N runs only the first N pairs.
PAIRS ?= 1000
bench-quality: build
	$(BUILD)/bench/facefuse_bench_quality $(CACHE)/testdata --pairs $(PAIRS) --markdown docs/benchmarks.md

# wrk (flat out) and facefuse_bench_http (fixed 1 000 req/s) on /healthz and GET /api/v1/jobs/{id},
# submit → first progress event, against a `facefuse serve` started on a free loopback port with a
# temporary data directory.
bench-service: build
	bench/service_bench.sh $(FACEFUSE)

# Step 6 of bench-service alone: /healthz at 1 000 req/s with nothing held, with 10 000 idle
# connections + a 1 000-connection slowloris, and with 10 000 idle + 2 000 WebSockets; medians of
# HOLD_RUNS (5) runs against a `facefuse serve --workers 0` (docs/benchmarks.md, "Connection load").
bench-conns: build
	HOLD_ONLY=1 bench/service_bench.sh $(FACEFUSE)

# Live mode (GET /api/v1/live) at 640x480: fps and latency of the swap against frames without a
# face on the same socket protocol, in the same run (docs/benchmarks.md). Against another binary:
# bench/live_bench.py NEW TESTDATA --runs 5 --compare OLD (runs alternate, medians).
bench-live: build
	bench/live_bench.py $(FACEFUSE) $(CACHE)/testdata

# Job store latency: claim_task with 10 000 pending tasks and create_job, PostgreSQL (private server)
# against SQLite in the same run, then the previous claim against the one-statement claim in 5
# alternating runs; then end to end: submit p50/p99 at 200 req/s through one API node and jobs per
# minute with 1, 2 and 3 `facefuse worker` processes, PostgreSQL against SQLite (bench/cluster_bench.py;
# docs/benchmarks.md, docs/distributed.md).
bench-distributed: build
	$(BUILD)/bench/facefuse_bench_store --pending 10000 --claims 2000 --compare-runs 5 --compare-claims 500
	bench/cluster_bench.py $(FACEFUSE) $(CACHE)/testdata --runs 3

# Model loading paid once per worker: a 720p image job as the first task of a fresh `facefuse worker`
# (cold) vs a later task of one worker (warm), medians of N runs in one invocation.
bench-model-load: build
	bench/model_load_bench.py $(FACEFUSE) $(CACHE)/testdata --runs 5

clean:
	rm -rf $(BUILD) build-asan build-tsan build-sanitizer-logs
