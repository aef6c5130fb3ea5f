#include "checkpoint/folder.h"

#include <filesystem>
#include <system_error>

#include "core/check.h"
#include "core/fs.h"
#include "core/log.h"

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
  point_last_checkpoint_link(run_dir, final_dir.filename().string());
  return final_dir.string();
}

void point_last_checkpoint_link(const std::string& run_dir, const std::string& checkpoint_name) {
  // Relative, swapped in by rename so a reader never finds it missing; ms-swift skips a `last-checkpoint`
  // that is not a link, and so does this.
  const fs::path link = fs::path(run_dir) / "last-checkpoint", temporary = fs::path(run_dir) / "last-checkpoint.tmp";
  std::error_code error;
  if (fs::exists(fs::symlink_status(link, error)) && !fs::is_symlink(fs::symlink_status(link, error))) {
    ZT_LOG_WARN(link.string() << " exists and is not a link; it is left as it is (`latest` names the checkpoint)");
    return;
  }
  fs::remove(temporary, error);
  fs::create_symlink(checkpoint_name, temporary, error);
  if (!error) fs::rename(temporary, link, error);
  if (error) {
    ZT_LOG_WARN("could not point " << link.string() << " at " << checkpoint_name << " (" << error.message()
                                   << "); `latest` names the checkpoint");
    fs::remove(temporary, error);
  }
}

void remove_checkpoint(const std::string& checkpoint_dir) {
  const fs::path doomed = fs::path(checkpoint_dir).parent_path() / ("." + fs::path(checkpoint_dir).filename().string() + ".deleting");
  remove_tree(doomed);
  fs_util::rename_path(checkpoint_dir, doomed.string());
  remove_tree(doomed);
}

}  // namespace zt::checkpoint
