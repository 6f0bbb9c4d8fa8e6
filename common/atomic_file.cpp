#include "common/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "common/error.h"

namespace grpo {
namespace {

std::string temp_name_for(const std::string& path) {
  std::random_device rd;
  return path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(rd() & 0xffffff);
}

std::string errno_text() { return std::strerror(errno); }

// Flushes the directory entry so the rename itself survives a power loss.
void fsync_parent_dir(const std::string& path) {
  auto slash = path.find_last_of('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

}  // namespace

void write_file_atomic_stream(const std::string& path, const std::function<void(const ByteSink&)>& produce) {
  const std::string tmp = temp_name_for(path);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw file_error(path, "", "cannot create temporary file " + tmp + ": " + errno_text());
  auto fail = [&](const std::string& what) {
    std::string message = what + ": " + errno_text();
    ::close(fd);
    fd = -1;  // so the catch below does not close it twice
    ::unlink(tmp.c_str());
    return file_error(path, "", message);
  };
  ByteSink sink = [&](const void* data, size_t size) {
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
      ssize_t n = ::write(fd, p, size);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw fail("write failed");
      }
      p += n;
      size -= static_cast<size_t>(n);
    }
  };
  try {
    produce(sink);
  } catch (...) {
    if (fd >= 0) {
      ::close(fd);
      ::unlink(tmp.c_str());
    }
    throw;
  }
  if (::fsync(fd) != 0) throw fail("fsync failed");
  if (::close(fd) != 0) {
    fd = -1;
    ::unlink(tmp.c_str());
    throw file_error(path, "", "close failed: " + errno_text());
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string message = "rename from " + tmp + " failed: " + errno_text();
    ::unlink(tmp.c_str());
    throw file_error(path, "", message);
  }
  fsync_parent_dir(path);
}

void write_file_atomic(const std::string& path, std::string_view contents) {
  write_file_atomic_stream(path, [&](const ByteSink& sink) { sink(contents.data(), contents.size()); });
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw file_error(path, "", std::string("cannot open: ") + std::strerror(errno));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw file_error(path, "", "read failed");
  return buffer.str();
}

}  // namespace grpo
