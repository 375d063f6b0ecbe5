// BlobStore on a local directory (file://DIR, default <data>/storage). A key is a file under the
// root; puts go to a unique temporary file in the same directory, then rename (atomic on POSIX).
#pragma once

#include "facefuse/storage/blob_store.h"

namespace facefuse::storage {

class FileBlobStore final : public BlobStore {
 public:
  // Creates `root` if needed.
  static Result<std::unique_ptr<FileBlobStore>> open(const std::filesystem::path& root);

  std::string uri() const override;
  Status put_file(std::string_view key, const std::filesystem::path& local) override;
  Status get_file(std::string_view key, const std::filesystem::path& local) override;
  Result<BlobInfo> stat(std::string_view key) override;
  Result<std::string> read_range(std::string_view key, int64_t offset, int64_t length) override;
  Status remove(std::string_view key) override;
  Status remove_prefix(std::string_view prefix) override;
  Result<std::vector<std::string>> list(std::string_view prefix) override;
  Result<std::vector<BlobEntry>> list_entries(std::string_view prefix) override;
  Status remove_keys(const std::vector<std::string>& keys) override;
  Status check_ready() override;

  // The file that holds `key` (validated). For serving files without a copy.
  Result<std::filesystem::path> path_of(std::string_view key) const;

 private:
  explicit FileBlobStore(std::filesystem::path root) : root_(std::move(root)) {}
  std::filesystem::path root_;
};

}  // namespace facefuse::storage
