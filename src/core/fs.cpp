#include "core/fs.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/check.h"

namespace zt::fs_util {

std::string write_advice(int error) {
  switch (error) {
    case ENOSPC:
    case EDQUOT: return "free space on that file system or write elsewhere";
    case EACCES:
    case EPERM: return "make the folder writable for this user or choose another";
    case EROFS: return "the file system is read-only; choose another folder";
    case ENOENT: return "check that the folder exists";
    default: return "check the file system";
  }
}

void make_directories(const std::string& dir, const std::string& what) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error)
    ZT_SYSTEM_THROW(dir << ": cannot create the " << what << " (" << error.message() << "); "
                        << write_advice(error.value()));
}

void fsync_path(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) ZT_SYSTEM_THROW(path << ": cannot open to flush it to disk (" << std::strerror(errno) << ")");
  const int result = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  // Some file systems cannot sync a folder (EINVAL); the files in it were synced one by one.
  if (result != 0 && !(error == EINVAL && std::filesystem::is_directory(path)))
    ZT_SYSTEM_THROW(path << ": flushing to disk failed (" << std::strerror(error) << "); " << write_advice(error));
}

void rename_path(const std::string& from, const std::string& to) {
  std::error_code error;
  std::filesystem::rename(from, to, error);
  if (error)
    ZT_SYSTEM_THROW(to << ": cannot rename " << from << " to it (" << error.message() << "); "
                       << write_advice(error.value()));
}

void write_file_atomically(const std::string& path, const std::string& text) {
  const std::string temporary = path + ".tmp";
  std::FILE* handle = std::fopen(temporary.c_str(), "wb");
  if (handle == nullptr)
    ZT_SYSTEM_THROW(temporary << ": cannot create (" << std::strerror(errno) << "); " << write_advice(errno));
  const bool written = std::fwrite(text.data(), 1, text.size(), handle) == text.size() && std::fflush(handle) == 0;
  const int error = errno;
  const bool closed = std::fclose(handle) == 0;
  if (!written || !closed)
    ZT_SYSTEM_THROW(temporary << ": write failed (" << std::strerror(written ? errno : error) << "); "
                              << write_advice(written ? errno : error));
  fsync_path(temporary);
  rename_path(temporary, path);
  fsync_path(std::filesystem::path(path).parent_path().empty() ? "." : std::filesystem::path(path).parent_path().string());
}

}  // namespace zt::fs_util
