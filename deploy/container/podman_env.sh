# Sourced by the deploy scripts and tests: the podman settings of deploy/container/containers.conf
# and the local base image (no registry is reachable from CI, so the Debian base is built here).
#   FACEFUSE_CACHE        download cache (default ~/.cache/facefuse); the base tarball lives in
#                         $FACEFUSE_CACHE/container/
#   FACEFUSE_BASE_IMAGE   name of the imported base image (default localhost/facefuse-base:bookworm)
# shellcheck shell=bash
facefuse_container_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$facefuse_container_dir/containers.conf}
FACEFUSE_BASE_IMAGE=${FACEFUSE_BASE_IMAGE:-localhost/facefuse-base:bookworm}

# ensure_base_image: imports the Debian 12 minbase root file system as $FACEFUSE_BASE_IMAGE once;
# the tarball (about 40 MB, ~80 s to make) is cached so a fresh podman store re-imports in seconds.
ensure_base_image() {
  podman image exists "$FACEFUSE_BASE_IMAGE" && return 0
  local cache=${FACEFUSE_CACHE:-$HOME/.cache/facefuse}/container
  local tarball=$cache/bookworm-minbase.tar
  mkdir -p "$cache"
  if [ ! -f "$tarball" ]; then
    echo "[container] making the Debian 12 base image with mmdebstrap (cached in $tarball)" >&2
    # The partial name still ends in .tar: mmdebstrap picks its output format from the extension.
    rm -f "$cache/bookworm-minbase.partial.tar"
    mmdebstrap --quiet --variant=minbase bookworm "$cache/bookworm-minbase.partial.tar" \
      /etc/apt/sources.list.d/debian.sources
    mv "$cache/bookworm-minbase.partial.tar" "$tarball"
  fi
  podman import --quiet \
    --change 'CMD ["/bin/bash"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "$tarball" "$FACEFUSE_BASE_IMAGE" >/dev/null
}
