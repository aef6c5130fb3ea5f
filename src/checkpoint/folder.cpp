#include "checkpoint/folder.h"

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <system_error>
#include <vector>

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
  const std::string latest = (fs::path(run_dir) / "latest").string();
  if (!fs::exists(latest)) fs_util::write_file_atomically(latest, final_dir.filename().string() + "\n");
  fs_util::rename_path(temporary, final_dir.string());
  fs_util::fsync_path(run_dir);
  fs_util::write_file_atomically(latest, final_dir.filename().string() + "\n");
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

int remove_leftovers(const std::string& run_dir) {
  std::error_code error;
  std::vector<fs::path> doomed;
  for (const auto& entry : fs::directory_iterator(run_dir, error)) {
    const std::string name = entry.path().filename().string();
    const bool temporary = name.rfind(".checkpoint-", 0) == 0 &&
                           (name.size() > 4 && (name.compare(name.size() - 4, 4, ".tmp") == 0 ||
                                                (name.size() > 9 && name.compare(name.size() - 9, 9, ".deleting") == 0)));
    if (temporary) doomed.push_back(entry.path());
  }
  for (const fs::path& path : doomed) remove_tree(path);
  return static_cast<int>(doomed.size());
}

namespace {

// STEP of a complete checkpoint folder's name "checkpoint-STEP", or -1.
int64_t checkpoint_step(const std::string& name) {
  const std::string prefix = "checkpoint-";
  if (name.rfind(prefix, 0) != 0 || name.size() == prefix.size()) return -1;
  int64_t step = 0;
  for (size_t i = prefix.size(); i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9' || step > (int64_t{1} << 50)) return -1;
    step = step * 10 + (name[i] - '0');
  }
  return step;
}

bool is_run_folder(const fs::path& dir) {
  std::error_code error;
  if (fs::exists(dir / "latest", error)) return true;
  for (const auto& entry : fs::directory_iterator(dir, error))
    if (entry.is_directory(error) && checkpoint_step(entry.path().filename().string()) >= 0) return true;
  return false;
}

}  // namespace

std::string newest_checkpoint(const std::string& run_dir) {
  std::error_code error;
  std::ifstream latest(fs::path(run_dir) / "latest");
  std::string name;
  if (latest && std::getline(latest, name) && checkpoint_step(name) >= 0 && fs::is_directory(fs::path(run_dir) / name, error))
    return (fs::path(run_dir) / name).string();
  int64_t best = -1;
  std::string found;
  for (const auto& entry : fs::directory_iterator(run_dir, error)) {
    const int64_t step = checkpoint_step(entry.path().filename().string());
    if (step > best && entry.is_directory(error)) best = step, found = entry.path().string();
  }
  return found;
}

std::string resolve_resume_folder(const std::string& value, const std::string& output_dir) {
  std::error_code error;
  fs::path dir(value);
  const std::string name = fs::path(value).lexically_normal().filename().string();
  if (name.rfind(".checkpoint-", 0) == 0 || (name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0)) {
    const std::string complete = newest_checkpoint(fs::path(value).lexically_normal().parent_path().string());
    ZT_THROW("--resume_from_checkpoint " << value << ": an unfinished checkpoint (a save that did not complete); resume "
                                         << (complete.empty() ? std::string("from a complete checkpoint-STEP folder")
                                                              : "from " + complete));
  }
  const std::string lowered = [&] {
    std::string text = value;
    for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
  }();
  if (lowered == "true") {  // transformers' meaning: the last checkpoint of this output folder
    dir = output_dir;
    if (!is_run_folder(dir)) {
      // Run folders are vN-YYYYMMDD-HHMMSS: the highest N is the newest.
      auto version = [](const fs::path& path) {
        const std::string text = path.filename().string();
        return text.size() > 1 && text[0] == 'v' ? std::atoll(text.c_str() + 1) : -1LL;
      };
      fs::path newest;
      for (const auto& entry : fs::directory_iterator(output_dir, error))
        if (entry.is_directory(error) && is_run_folder(entry.path()) &&
            (newest.empty() || version(entry.path()) > version(newest)))
          newest = entry.path();
      ZT_REQUIRE(!newest.empty(), "--resume_from_checkpoint true: no run with a checkpoint under " << output_dir);
      dir = newest;
    }
  }
  ZT_REQUIRE(fs::is_directory(dir, error), "--resume_from_checkpoint " << value << ": no such folder");
  if (!fs::exists(dir / "zero_manifest.json", error) && !fs::exists(dir / "trainer_state.json", error) &&
      is_run_folder(dir)) {
    const std::string newest = newest_checkpoint(dir.string());
    ZT_REQUIRE(!newest.empty(), "--resume_from_checkpoint " << value << ": a run folder with no complete checkpoint yet");
    return newest;
  }
  return dir.string();
}

}  // namespace zt::checkpoint
