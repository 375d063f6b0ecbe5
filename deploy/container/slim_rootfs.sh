#!/bin/sh
# Copies into DEST the smallest root file system that runs facefuse (Containerfile, stage `slim`):
# the shared-library closure (ldd) of the given libraries and programs with their symlink chains,
# /etc, CA certificates, iconv modules, the licences (/usr/share/doc/*/copyright), dpkg's status
# file (so image scanners still see package versions), and empty system directories.
# Usage: slim_rootfs.sh DEST LIBRARY_SONAME_OR_PROGRAM_PATH...
# Run inside the fully installed `rootfs` stage; the runtime stage re-checks the real binary (ldd).
set -eu
dest=$1
shift
lib_dir=/usr/lib/x86_64-linux-gnu
mkdir -p "$dest"
# Debian 12 is merged-/usr: /bin, /lib, /lib64, /sbin are symlinks into /usr; keep them so.
for link in /bin /lib /lib64 /sbin; do cp -a "$link" "$dest/"; done

copy() {  # copy PATH and every link of its symlink chain (alternatives included) with their parents
  path=$1
  while :; do
    # Through the physical directory: /lib64/x is /usr/lib64/x, and $dest/lib64 is a symlink already.
    physical=$(cd "$(dirname "$path")" && pwd -P)/$(basename "$path")
    cp -a --parents "$physical" "$dest"
    [ -L "$physical" ] || break
    target=$(readlink "$physical")
    case "$target" in
      /*) path=$target ;;
      *) path=$(dirname "$physical")/$target ;;
    esac
  done
}

list=$(mktemp)
for item in "$@"; do
  case "$item" in
    /*) path=$item ;;
    *) path=$lib_dir/$item ;;
  esac
  [ -e "$path" ] || { echo "slim_rootfs.sh: $path not found" >&2; exit 1; }
  echo "$path" >>"$list"
  ldd "$path" | awk '/=> \// { print $3 } /^[[:space:]]*\/lib64\// { print $1 }' >>"$list"
done
sort -u "$list" | while read -r path; do copy "$path"; done
rm -f "$list"

cp -a /etc "$dest/"
for dir in /usr/share/ca-certificates /usr/lib/ssl "$lib_dir/gconv" /usr/share/doc; do
  [ -e "$dir" ] && cp -a --parents "$dir" "$dest"
done
mkdir -p "$dest/var/lib/dpkg"
cp -a /var/lib/dpkg/status "$dest/var/lib/dpkg/"
cp -a --parents /var/lib/facefuse "$dest"
for dir in proc sys dev run tmp var/tmp root; do mkdir -p "$dest/$dir"; done
chmod 1777 "$dest/tmp" "$dest/var/tmp"
chmod 0700 "$dest/root"
ldconfig -r "$dest"
