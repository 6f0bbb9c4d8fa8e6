#include "learner/checkpoint_dir.h"

#include <fcntl.h>
#include <ftw.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "common/checksum.h"
#include "common/error.h"

namespace grpo::learner {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
constexpr const char* kManifest = "COMPLETE";

uint32_t file_crc32(const std::string& path) {
  const std::string bytes = read_file(path);
  return crc32(bytes.data(), bytes.size());
}

// fsync on a folder makes the renames inside it durable.
void sync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

int remove_entry(const char* path, const struct stat*, int type, struct FTW*) {
  return type == FTW_DP ? ::rmdir(path) : ::unlink(path);
}

}  // namespace

void remove_tree(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(path, ec))) return;
  if (::nftw(path.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
    throw file_error(path, "", std::string("cannot remove: ") + std::strerror(errno));
}

void commit_checkpoint_dir(const std::string& tmp_dir, const std::string& final_dir) {
  json files = json::object();
  std::vector<std::string> names;
  for (const auto& e : fs::recursive_directory_iterator(tmp_dir))
    if (e.is_regular_file()) names.push_back(fs::relative(e.path(), tmp_dir).string());
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    const std::string path = tmp_dir + "/" + name;
    files[name] = {{"size", fs::file_size(path)}, {"crc32", file_crc32(path)}};
  }
  write_file_atomic(tmp_dir + "/" + kManifest,
                    json({{"format", "grpo-checkpoint-1"}, {"files", files}}).dump(1) + "\n");
  sync_dir(tmp_dir);
  remove_tree(final_dir);  // an incomplete folder of the same step from an interrupted run
  if (::rename(tmp_dir.c_str(), final_dir.c_str()) != 0)
    throw file_error(final_dir, "", std::string("cannot rename ") + tmp_dir + " into place: " + std::strerror(errno));
  sync_dir(fs::path(final_dir).parent_path().string());
}

std::string verify_checkpoint_dir(const std::string& dir) {
  const std::string manifest_path = dir + "/" + kManifest;
  if (!fs::exists(manifest_path)) return "no COMPLETE manifest (the write was cut short)";
  json manifest = json::parse(read_file(manifest_path), nullptr, false);
  if (!manifest.is_object() || !manifest.contains("files") || !manifest["files"].is_object())
    return "COMPLETE manifest is not valid JSON with a `files` object";
  for (const auto& [name, entry] : manifest["files"].items()) {
    const std::string path = dir + "/" + name;
    std::error_code ec;
    const auto size = fs::file_size(path, ec);
    if (ec) return name + ": missing";
    if (size != entry.value("size", uint64_t{0}))
      return name + ": " + std::to_string(size) + " bytes, manifest says " +
             std::to_string(entry.value("size", uint64_t{0}));
    if (file_crc32(path) != entry.value("crc32", uint32_t{0})) return name + ": CRC-32 differs from the manifest";
  }
  return "";
}

std::vector<CheckpointFolder> list_checkpoints(const std::string& checkpoints_dir, bool verify) {
  std::vector<CheckpointFolder> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(checkpoints_dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("step-", 0) != 0 || !e.is_directory()) continue;
    char* end = nullptr;
    const long step = std::strtol(name.c_str() + 5, &end, 10);
    if (*end != '\0' || step < 0) continue;
    out.push_back({step, e.path().string(), verify ? verify_checkpoint_dir(e.path().string()) : ""});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.step < b.step; });
  return out;
}

CheckpointFolder latest_complete_checkpoint(const std::string& checkpoints_dir,
                                            std::vector<CheckpointFolder>* skipped) {
  auto all = list_checkpoints(checkpoints_dir);
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    if (it->problem.empty()) return *it;
    if (skipped) skipped->push_back(*it);
  }
  return {};
}

void prune_checkpoints(const std::string& checkpoints_dir, long keep) {
  auto all = list_checkpoints(checkpoints_dir, /*verify=*/false);
  for (size_t i = 0; i + static_cast<size_t>(keep) < all.size(); ++i) remove_tree(all[i].path);
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(checkpoints_dir, ec))
    if (e.path().filename().string().rfind(".tmp-", 0) == 0) remove_tree(e.path().string());
}

}  // namespace grpo::learner
