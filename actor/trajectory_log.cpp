#include "actor/trajectory_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/atomic_file.h"
#include "common/checksum.h"

namespace grpo::actor {
namespace {

constexpr uint32_t kMaxRecordBytes = 1u << 30;

void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint32_t get_u32(const unsigned char* p) {
  return p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

bool read_exact(int fd, uint64_t offset, void* buffer, size_t size) {
  auto* p = static_cast<char*>(buffer);
  while (size > 0) {
    ssize_t n = ::pread(fd, p, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    offset += static_cast<uint64_t>(n);
    size -= static_cast<size_t>(n);
  }
  return true;
}

Frames payload_to_frames(const std::string& payload) {
  Frames frames;
  size_t i = 0;
  while (i < payload.size()) {
    if (payload.size() - i < 4) throw DecodeError("frame length cut short");
    uint32_t len = get_u32(reinterpret_cast<const unsigned char*>(payload.data() + i));
    i += 4;
    if (len > payload.size() - i) throw DecodeError("frame longer than its record");
    frames.emplace_back(payload.substr(i, len));
    i += len;
  }
  return frames;
}

}  // namespace

TrajectoryLog::TrajectoryLog(const std::string& run_dir) : path_(run_dir + "/trajectories.wal") {
  std::error_code ec;
  std::filesystem::create_directories(run_dir, ec);
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw file_error(path_, "", std::string("cannot open the trajectory log: ") + std::strerror(errno));
  struct stat st {};
  ::fstat(fd_, &st);
  const auto file_size = static_cast<uint64_t>(st.st_size);
  // Scan records; stop at the first that is cut short or fails its CRC (a torn write).
  uint64_t offset = 0;
  std::string payload;
  while (offset + 8 <= file_size) {
    unsigned char head[8];
    if (!read_exact(fd_, offset, head, 8)) break;
    const uint32_t len = get_u32(head), crc = get_u32(head + 4);
    if (len > kMaxRecordBytes || offset + 8 + len > file_size) break;
    payload.resize(len);
    if (!read_exact(fd_, offset + 8, payload.data(), len) || crc32(payload.data(), len) != crc) break;
    offsets_.push_back(offset);
    offset += 8 + len;
  }
  end_ = offset;
  if (end_ < file_size) {
    truncated_bytes_ = file_size - end_;
    if (::ftruncate(fd_, static_cast<off_t>(end_)) != 0)
      throw file_error(path_, "", std::string("cannot truncate a torn record: ") + std::strerror(errno));
  }
}

TrajectoryLog::~TrajectoryLog() {
  if (fd_ >= 0) ::close(fd_);
}

void TrajectoryLog::append(const ScoredGroup& group) {
  std::string payload;
  for (const auto& frame : encode(group)) {
    put_u32(payload, static_cast<uint32_t>(frame.size()));
    payload += frame;
  }
  if (payload.size() > kMaxRecordBytes) throw file_error(path_, "", "record larger than 1 GiB");
  std::string record;
  put_u32(record, static_cast<uint32_t>(payload.size()));
  put_u32(record, crc32(payload.data(), payload.size()));
  record += payload;
  const char* p = record.data();
  size_t left = record.size();
  uint64_t offset = end_;
  auto rollback = [&](const char* what) {
    std::string message = std::string(what) + ": " + std::strerror(errno);
    (void)::ftruncate(fd_, static_cast<off_t>(end_));
    return file_error(path_, "", message + " (the group was not logged; free disk space and resume)");
  };
  while (left > 0) {
    ssize_t n = ::pwrite(fd_, p, left, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw rollback("append failed");
    p += n;
    left -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  if (::fdatasync(fd_) != 0) throw rollback("fdatasync failed");
  offsets_.push_back(end_);
  end_ = offset;
}

ScoredGroup TrajectoryLog::read(uint64_t index) const {
  const uint64_t offset = offsets_.at(index);
  unsigned char head[8];
  if (!read_exact(fd_, offset, head, 8)) throw file_error(path_, "record " + std::to_string(index), "cannot read");
  std::string payload(get_u32(head), '\0');
  if (!read_exact(fd_, offset + 8, payload.data(), payload.size()))
    throw file_error(path_, "record " + std::to_string(index), "cannot read");
  try {
    return std::get<ScoredGroup>(decode(payload_to_frames(payload)));
  } catch (const std::exception& e) {
    throw file_error(path_, "record " + std::to_string(index), std::string("not a scored group: ") + e.what());
  }
}

std::vector<ScoredGroup> TrajectoryLog::read_all() const {
  std::vector<ScoredGroup> out;
  for (uint64_t i = 0; i < offsets_.size(); ++i) out.push_back(read(i));
  return out;
}

}  // namespace grpo::actor
