// The checkpoint-folder protocol (rank 0 runs it): a checkpoint is written into a hidden temporary
// folder, flushed to disk file by file, renamed to checkpoint-STEP, and only then named by the run's
// `latest` file (replaced atomically). A crash or a full disk at any point leaves the earlier checkpoints
// whole and `latest` naming the newest complete one. The run's first `latest` is written just before its first
// checkpoint is renamed into place, so that no complete checkpoint is ever without one (a `latest` naming a
// folder that is not there yet means: no complete checkpoint).
#pragma once

#include <cstdint>
#include <string>

namespace zt::checkpoint {

// run_dir/.checkpoint-STEP.tmp: where every rank writes its part of checkpoint STEP.
std::string temporary_folder(const std::string& run_dir, int64_t step);
// Empties and creates `temporary` (rank 0, before the others write).
void begin_checkpoint(const std::string& temporary);
// Flushes `temporary`, renames it to run_dir/checkpoint-STEP (replacing one there) and points `latest` at
// it, then the `last-checkpoint` link. Returns the checkpoint's path.
std::string commit_checkpoint(const std::string& run_dir, const std::string& temporary, int64_t step);
// run_dir/last-checkpoint -> checkpoint_name, the relative link ms-swift and transformers users know (`latest`,
// a file, stays ztune's pointer: a link cannot be fsynced and some file systems have none). A failure is a
// warning.
void point_last_checkpoint_link(const std::string& run_dir, const std::string& checkpoint_name);
// Deletes a checkpoint folder, renamed aside first so that a crash while deleting never leaves a half
// checkpoint-STEP behind.
void remove_checkpoint(const std::string& checkpoint_dir);
// Removes what interrupted saves left in run_dir (.checkpoint-STEP.tmp, .checkpoint-STEP.deleting); returns
// how many. Only while this run holds the folder (RunLock).
int remove_leftovers(const std::string& run_dir);

// The newest complete checkpoint of a run folder: the one `latest` names when it is there, else the
// checkpoint-STEP of the highest STEP; "" when there is none.
std::string newest_checkpoint(const std::string& run_dir);
// The checkpoint folder --resume_from_checkpoint VALUE means: a checkpoint folder as it is; a run folder, its
// newest complete checkpoint; "true", the newest complete checkpoint of the newest run under `output_dir` (or of
// output_dir itself). An unfinished save (.checkpoint-STEP.tmp) and a folder with no checkpoint are errors.
std::string resolve_resume_folder(const std::string& value, const std::string& output_dir);

}  // namespace zt::checkpoint
