#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "common/atomic_file.h"
#include "common/error.h"

namespace fs = std::filesystem;

namespace {

fs::path fresh_dir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("grpo_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

size_t count_entries(const fs::path& dir) {
  return static_cast<size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator{}));
}

}  // namespace

TEST(AtomicFile, WritesAndReadsBack) {
  auto dir = fresh_dir("atomic_ok");
  std::string path = (dir / "a.bin").string();
  std::string payload("hello\0world", 11);
  grpo::write_file_atomic(path, payload);
  EXPECT_EQ(grpo::read_file(path), payload);
  EXPECT_EQ(count_entries(dir), 1u) << "no temporary file may be left behind";
}

TEST(AtomicFile, ProducerFailureLeavesOldFileAndNoTemp) {
  auto dir = fresh_dir("atomic_fail");
  std::string path = (dir / "a.txt").string();
  grpo::write_file_atomic(path, "old");
  EXPECT_THROW(grpo::write_file_atomic_stream(path,
                                              [](const grpo::ByteSink& sink) {
                                                sink("new", 3);
                                                throw std::runtime_error("producer died");
                                              }),
               std::runtime_error);
  EXPECT_EQ(grpo::read_file(path), "old");
  EXPECT_EQ(count_entries(dir), 1u);
}

TEST(AtomicFile, UnwritableLocationIsAnErrorNamingThePath) {
  auto dir = fresh_dir("atomic_ro");
  ::chmod(dir.c_str(), 0500);
  std::string path = (dir / "x.txt").string();
  if (::geteuid() == 0) {
    // root ignores directory permissions; use a missing parent folder instead.
    path = (dir / "missing" / "x.txt").string();
  }
  try {
    grpo::write_file_atomic(path, "data");
    FAIL() << "expected an error";
  } catch (const grpo::Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  ::chmod(dir.c_str(), 0700);
}

TEST(AtomicFile, ReadMissingFileNamesIt) {
  try {
    grpo::read_file("/nonexistent/grpo/file.json");
    FAIL();
  } catch (const grpo::Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/grpo/file.json"), std::string::npos);
  }
}

#include "support/small_disk.h"

TEST(AtomicFile, FullDiskKeepsTheOldFileAndNamesThePath) {
  grpo::testing::SmallDisk disk("atomic");
  if (!disk.mounted()) GTEST_SKIP() << "needs root to mount a 64 KiB tmpfs";
  std::string path = disk.path() + "/state.json";
  grpo::write_file_atomic(path, "old");
  try {
    grpo::write_file_atomic(path, std::string(1 << 20, 'x'));  // 1 MiB on a 64 KiB disk
    FAIL() << "expected ENOSPC";
  } catch (const grpo::Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  EXPECT_EQ(grpo::read_file(path), "old");
  EXPECT_EQ(count_entries(disk.path()), 1u) << "the temporary file must be removed";
}
