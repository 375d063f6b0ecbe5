#!/usr/bin/env bash
# Builds the facefuse container image with podman (deploy/container/Containerfile).
#
#   deploy/container/build_image.sh --prebuilt BUILD_DIR [--tag TAG]   package CI's build (cmake --install)
#   deploy/container/build_image.sh --from-source [--tag TAG]          compile in the builder stage
#   deploy/container/build_image.sh --cuda ORT_GPU_LIB_DIR CUDA_LIB_DIR [--tag TAG]
#                                       the CUDA variant on top of localhost/facefuse:latest (UNVERIFIED)
#
# Default tag localhost/facefuse:VERSION-REVISION (also tagged localhost/facefuse:latest). Rebuilds
# reuse podman's layer cache: only the layers from the changed binary on are rebuilt. Prints the
# image id on stdout; timings and size on stderr. Exit 2 on bad arguments.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=podman_env.sh
. "$here/podman_env.sh"

mode="" build_dir="" tag=""
while [ $# -gt 0 ]; do
  case "$1" in
    --prebuilt) mode=prebuilt; build_dir=${2:?--prebuilt needs the build directory}; shift 2 ;;
    --from-source) mode=builder; shift ;;
    --cuda) mode=cuda; ort_gpu=${2:?--cuda needs the ORT GPU lib dir}; cuda_libs=${3:?--cuda needs the CUDA lib dir}; shift 3 ;;
    --tag) tag=${2:?--tag needs a value}; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "build_image.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
if [ -z "$mode" ]; then
  echo "build_image.sh: say --prebuilt BUILD_DIR, --from-source or --cuda (try --help)" >&2
  exit 2
fi
if [ "$mode" = prebuilt ] && [ ! -x "$build_dir/bin/facefuse" ]; then
  echo "build_image.sh: $build_dir/bin/facefuse not found: build first (make build) or pass the build directory" >&2
  exit 2
fi

version=$(sed -n 's/^project(facefuse VERSION \([0-9.]*\).*/\1/p' "$repo/CMakeLists.txt")
revision=$(git -C "$repo" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$repo" status --porcelain --untracked-files=no 2>/dev/null)" ]; then revision=$revision-dirty; fi
tag=${tag:-localhost/facefuse:$version-$revision}

start=$(date +%s)
ensure_base_image
args=(--format docker --layers --tag "$tag" --tag localhost/facefuse:latest
      --build-arg "BASE_IMAGE=$FACEFUSE_BASE_IMAGE" --build-arg "VERSION=$version" --build-arg "REVISION=$revision"
      --build-arg "CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)")
tmp=""
trap '[ -n "$tmp" ] && rm -rf "$tmp"' EXIT
case "$mode" in
  prebuilt)
    tmp=$(mktemp -d /tmp/facefuse-image-tree.XXXXXX)
    cmake --install "$build_dir" --prefix "$tmp/tree" >/dev/null
    args+=(--build-arg TREE=prebuilt --build-context "tree=$tmp/tree" --file "$here/Containerfile") ;;
  builder)
    # Node.js: the studio's build (Vite 8) needs Node.js 20 or newer and Debian 12's nodejs is 18,
    # so the builder takes the build host's node and npm (the ones `make build` uses here) as the
    # build context `node`; the host needs Node.js >= 20 for `make build` anyway. The files as they
    # are on disk, not dpkg's list of the nodejs package: an npm updated in place (npm install -g
    # npm) has files that list does not name, and a tree cut from it could not start npm.
    node_major=$(node --version 2>/dev/null | sed -n 's/^v\([0-9]*\)\..*/\1/p')
    npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm 2>/dev/null || echo /nonexistent)")")")
    if [ -z "$node_major" ] || [ "$node_major" -lt 20 ] || [ ! -f "$npm_dir/bin/npm-cli.js" ]; then
      echo "build_image.sh: --from-source needs Node.js 20 or newer and its npm on this host (found: node $(node --version 2>/dev/null || echo none), npm in ${npm_dir:-nowhere})" >&2
      exit 2
    fi
    tmp=$(mktemp -d /tmp/facefuse-image-node.XXXXXX)
    mkdir -p "$tmp/usr/bin" "$tmp/usr/lib/node_modules"
    cp "$(readlink -f "$(command -v node)")" "$tmp/usr/bin/node"
    cp -a "$npm_dir" "$tmp/usr/lib/node_modules/npm"
    ln -s ../lib/node_modules/npm/bin/npm-cli.js "$tmp/usr/bin/npm"
    ln -s ../lib/node_modules/npm/bin/npx-cli.js "$tmp/usr/bin/npx"
    args+=(--build-arg TREE=builder --build-context "node=$tmp" --file "$here/Containerfile")
    # The builder's scripts/setup fetches npm packages over HTTPS: behind a TLS-intercepting proxy
    # the host's node trusts the proxy's CA through NODE_EXTRA_CA_CERTS, and so must the build
    # (mounted for the RUN steps only, never stored in a layer).
    if [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f "$NODE_EXTRA_CA_CERTS" ]; then
      args+=(--volume "$NODE_EXTRA_CA_CERTS:/run/facefuse-build-ca.crt:ro")
    fi ;;
  cuda)
    tag=${tag%-cuda}-cuda
    args=(--format docker --layers --tag "$tag" --build-context "ort-gpu=$ort_gpu" --build-context "cuda=$cuda_libs"
          --file "$here/Containerfile.cuda") ;;
esac
podman build --quiet "${args[@]}" "$repo" >/dev/null
# Earlier builds of ours that lost their tags (each keeps a copy of its binary layer): gone. The
# intermediate stages carry no such label and stay, as the layer cache.
podman image prune --force --filter label=org.opencontainers.image.title=facefuse >/dev/null || true
id=$(podman image inspect --format '{{.Id}}' "$tag")
size=$(podman image inspect --format '{{.Size}}' "$tag")
printf '[container] %s (%s) built in %d s, %d MB\n' "$tag" "${id:0:12}" $(( $(date +%s) - start )) $(( size / 1000000 )) >&2
printf '%s\n' "$id"
