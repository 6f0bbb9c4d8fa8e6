// A tiny tmpfs mounted for one test, to make "disk full" (ENOSPC) real rather than simulated.
// Needs root (CI and the dev machines run as root); elsewhere the test skips and says why.
#pragma once

#include <sys/mount.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace grpo::testing {

class SmallDisk {
 public:
  explicit SmallDisk(const std::string& name, const char* size = "size=64k") {
    path_ = (std::filesystem::temp_directory_path() / ("grpo_small_disk_" + name + "_" + std::to_string(::getpid())))
                .string();
    std::filesystem::create_directories(path_);
    mounted_ = ::geteuid() == 0 && ::mount("tmpfs", path_.c_str(), "tmpfs", 0, size) == 0;
  }
  ~SmallDisk() {
    if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  bool mounted() const { return mounted_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  bool mounted_ = false;
};

}  // namespace grpo::testing
