#include "checkpoint/folder.h"

#include <filesystem>
#include <system_error>

#include "core/check.h"
#include "core/fs.h"

namespace zt::checkpoint {
namespace {

namespace fs = std::filesystem;

void remove_tree(const fs::path& path) {
  std::error_code error;
  fs::remove_all(path, error);
  if (error) ZT_SYSTEM_THROW(path.string() << ": cannot delete (" << error.message() << ")");
}

}  // namespace

std::string temporary_folder(const std::string& run_dir, int64_t step) {
  return (fs::path(run_dir) / (".checkpoint-" + std::to_string(step) + ".tmp")).string();
}

void begin_checkpoint(const std::string& temporary) {
  remove_tree(temporary);
  fs_util::make_directories(temporary, "checkpoint folder");
}

std::string commit_checkpoint(const std::string& run_dir, const std::string& temporary, int64_t step) {
  const fs::path final_dir = fs::path(run_dir) / ("checkpoint-" + std::to_string(step));
  for (const auto& entry : fs::directory_iterator(temporary)) fs_util::fsync_path(entry.path().string());
  fs_util::fsync_path(temporary);
  remove_tree(final_dir);
  fs_util::rename_path(temporary, final_dir.string());
  fs_util::fsync_path(run_dir);
  fs_util::write_file_atomically((fs::path(run_dir) / "latest").string(), final_dir.filename().string() + "\n");
  return final_dir.string();
}

void remove_checkpoint(const std::string& checkpoint_dir) {
  const fs::path doomed = fs::path(checkpoint_dir).parent_path() / ("." + fs::path(checkpoint_dir).filename().string() + ".deleting");
  remove_tree(doomed);
  fs_util::rename_path(checkpoint_dir, doomed.string());
  remove_tree(doomed);
}

}  // namespace zt::checkpoint
