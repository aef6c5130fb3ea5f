#include "core/fs.h"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/check.h"

namespace zt::fs_util {

std::string write_advice(int error) {
  switch (error) {
    case ENOSPC: return "the disk is full: free space on that file system or write elsewhere";
    case EDQUOT: return "the disk quota is used up: free space on that file system or write elsewhere";
    case EACCES:
    case EPERM: return "make the folder writable for this user or choose another";
    case EROFS: return "the file system is read-only; choose another folder";
    case ENOENT: return "check that the folder exists";
    default: return "check the file system";
  }
}

int write_errno(int error, const std::string& path) {
  if (error == ENOSPC || error == EDQUOT || error == EACCES || error == EPERM || error == EROFS) return error;
  struct statvfs space;
  const std::string folder = std::filesystem::path(path).parent_path().string();
  if (::statvfs(folder.empty() ? "." : folder.c_str(), &space) == 0 &&
      static_cast<double>(space.f_bavail) * static_cast<double>(space.f_frsize) < 1024.0 * 1024.0)
    return ENOSPC;
  return error;
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

void write_bytes(std::FILE* handle, const void* data, size_t size, const std::string& path) {
  if (size > 0 && std::fwrite(data, 1, size, handle) != size)
    ZT_SYSTEM_THROW(path << ": write failed (" << std::strerror(errno) << "); " << write_advice(errno));
}

void write_stream_atomically(const std::string& path,
                             const std::function<void(std::FILE* handle, const std::string& temporary)>& fill) {
  const std::string temporary = path + ".tmp";
  std::FILE* handle = std::fopen(temporary.c_str(), "wb");
  if (handle == nullptr)
    ZT_SYSTEM_THROW(temporary << ": cannot create (" << std::strerror(errno) << "); " << write_advice(errno));
  try {
    fill(handle, temporary);
  } catch (...) {
    std::fclose(handle);
    std::remove(temporary.c_str());
    throw;
  }
  const bool flushed = std::fflush(handle) == 0 && fsync(fileno(handle)) == 0;
  const int error = errno;
  const bool closed = std::fclose(handle) == 0;
  if (!flushed || !closed)
    ZT_SYSTEM_THROW(temporary << ": write failed (" << std::strerror(flushed ? errno : error) << "); "
                              << write_advice(flushed ? errno : error));
  rename_path(temporary, path);
}

void write_file_atomically(const std::string& path, const std::string& text) {
  write_stream_atomically(path, [&](std::FILE* handle, const std::string& temporary) {
    write_bytes(handle, text.data(), text.size(), temporary);
  });
  fsync_path(std::filesystem::path(path).parent_path().empty() ? "." : std::filesystem::path(path).parent_path().string());
}

}  // namespace zt::fs_util
