// File-system steps whose failure is the environment's (zt::SystemError naming the path and what to
// do): folders made, files flushed to disk, renames, small files written atomically.
#pragma once

#include <cstddef>
#include <cstdio>
#include <functional>
#include <string>

namespace zt::fs_util {

// Creates `dir` and its parents; `what` says which flag or folder it is for the message.
void make_directories(const std::string& dir, const std::string& what);
// Flushes a file's or folder's contents to the device (a checkpoint is on disk before it is renamed
// into place). Folders on file systems that cannot sync them are accepted.
void fsync_path(const std::string& path);
// Renames `from` to `to`, replacing `to` when it is a file.
void rename_path(const std::string& from, const std::string& to);
// Writes `text` beside `path`, flushes it and renames it into place, then flushes the folder.
void write_file_atomically(const std::string& path, const std::string& text);
// Opens `path`.tmp, lets `fill(handle, temporary)` write it, flushes it to the device and renames it to `path`,
// so a crash never leaves a half-written file under the real name; on failure the temporary is removed.
void write_stream_atomically(const std::string& path,
                             const std::function<void(std::FILE* handle, const std::string& temporary)>& fill);
// fwrite that throws a SystemError naming `path` when not every byte is written.
void write_bytes(std::FILE* handle, const void* data, size_t size, const std::string& path);
// What to do after an errno from a write: the sentence ending a SystemError message (a full disk named as one).
std::string write_advice(int error);
// The errno to report for a failed write to `path` by a library that may not keep errno (HDF5): `error` when
// it says why, else ENOSPC when the file system has under 1 MiB free.
int write_errno(int error, const std::string& path);

}  // namespace zt::fs_util
