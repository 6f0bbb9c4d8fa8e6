#include "actor/transport/shm_segment.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "common/error.h"

namespace grpo::actor {
namespace {

std::string errno_text() { return std::strerror(errno); }

// Maps `bytes` of `fd` (none for an empty segment) and closes fd either way. MAP_POPULATE maps
// every page up front in one call instead of one page fault per 4 KiB.
void* map_and_close(int fd, size_t bytes, int protection, const std::string& name) {
  void* addr = bytes > 0 ? ::mmap(nullptr, bytes, protection, MAP_SHARED | MAP_POPULATE, fd, 0) : nullptr;
  const std::string why = addr == MAP_FAILED ? errno_text() : "";
  ::close(fd);
  if (addr == MAP_FAILED) throw Error("shared memory " + name + ": cannot map: " + why);
  return addr;
}

}  // namespace

ShmSegment ShmSegment::create(const std::string& name, size_t bytes) {
  const int fd = ::shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  if (fd < 0)
    throw Error("shared memory " + name + ": cannot create: " + errno_text() +
                " (is /dev/shm full or the name taken?)");
  ShmSegment s;
  s.name_ = name;
  s.owner_ = true;
  s.size_ = bytes;
  // ftruncate does not reserve tmpfs pages; touching them later may SIGBUS when /dev/shm is full,
  // so reserve them now and fail here with a message instead.
  if (bytes > 0 && ::posix_fallocate(fd, 0, static_cast<off_t>(bytes)) != 0) {
    ::close(fd);
    ::shm_unlink(name.c_str());
    throw Error("shared memory " + name + ": cannot reserve " + std::to_string(bytes) +
                " bytes (is /dev/shm large enough? use transport \"zmq\" instead)");
  }
  s.addr_ = map_and_close(fd, bytes, PROT_READ | PROT_WRITE, name);  // on failure `s` unlinks the name
  return s;
}

ShmSegment ShmSegment::open(const std::string& name) {
  const int fd = ::shm_open(name.c_str(), O_RDONLY, 0);
  if (fd < 0) throw Error("shared memory " + name + ": cannot open: " + errno_text());
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    throw Error("shared memory " + name + ": cannot stat: " + errno_text());
  }
  ShmSegment s;
  s.name_ = name;
  s.size_ = static_cast<size_t>(st.st_size);
  s.addr_ = map_and_close(fd, s.size_, PROT_READ, name);
  return s;
}

ShmSegment::ShmSegment(ShmSegment&& other) noexcept { *this = std::move(other); }

ShmSegment& ShmSegment::operator=(ShmSegment&& other) noexcept {
  if (this != &other) {
    release();
    name_ = std::move(other.name_);
    addr_ = std::exchange(other.addr_, nullptr);
    size_ = std::exchange(other.size_, 0);
    owner_ = std::exchange(other.owner_, false);
  }
  return *this;
}

ShmSegment::~ShmSegment() { release(); }

void ShmSegment::release() {
  if (addr_) ::munmap(addr_, size_);
  if (owner_) ::shm_unlink(name_.c_str());
  addr_ = nullptr;
  owner_ = false;
}

}  // namespace grpo::actor
