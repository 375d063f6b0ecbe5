#include "facefuse/storage/free_space.h"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace facefuse::storage {

namespace {
constexpr double kMiB = 1024.0 * 1024.0;
}  // namespace

Result<uint64_t> free_bytes(const std::filesystem::path& path) {
  struct statvfs st {};
  if (::statvfs(path.c_str(), &st) != 0) {
    return unavailable(fmt::format("cannot query the free space of the data directory: {}", std::strerror(errno)));
  }
  return static_cast<uint64_t>(st.f_bavail) * static_cast<uint64_t>(st.f_frsize);
}

Status check_free_space(const std::filesystem::path& path, uint64_t reserve_bytes) {
  if (reserve_bytes == 0) return Status::ok();
  auto free = free_bytes(path);
  if (!free) return insufficient_storage(free.status().message() + "; refusing writes until it can be checked");
  if (*free > reserve_bytes) return Status::ok();
  return insufficient_storage(fmt::format("the server's storage is full ({:.0f} MiB free, reserve {:.0f} MiB): delete "
                                          "finished jobs or unused uploads, then try again",
                                          static_cast<double>(*free) / kMiB, static_cast<double>(reserve_bytes) / kMiB));
}

Status ensure_ballast(const std::filesystem::path& file, uint64_t bytes, uint64_t keep_free_bytes) {
  std::error_code ec;
  if (std::filesystem::exists(file, ec)) return Status::ok();
  FF_ASSIGN_OR_RETURN(uint64_t free, free_bytes(file.parent_path()));
  if (free < bytes + keep_free_bytes) return Status::ok();  // not now: it would eat the reserve
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return unavailable(fmt::format("cannot create the disk ballast: {}", std::strerror(errno)));
  const int err = ::posix_fallocate(fd, 0, static_cast<off_t>(bytes));
  ::close(fd);
  if (err != 0) {
    std::filesystem::remove(file, ec);
    return unavailable(fmt::format("cannot allocate the disk ballast: {}", std::strerror(err)));
  }
  return Status::ok();
}

bool release_ballast(const std::filesystem::path& file) {
  std::error_code ec;
  return std::filesystem::remove(file, ec);
}

}  // namespace facefuse::storage
