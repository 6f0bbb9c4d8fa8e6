// Hugging Face model folders: model.safetensors, or shards plus model.safetensors.index.json.
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "common/atomic_file.h"
#include "common/error.h"
#include "model/safetensors.h"

namespace grpo::safetensors {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string quote_name(const std::string& s) { return "\"" + s + "\""; }

// "model-00001-of-00003.safetensors", the name transformers gives shard i (1-based) of n.
std::string shard_name(size_t i, size_t n) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "model-%05zu-of-%05zu.safetensors", i, n);
  return buf;
}

bool is_shard_name(const std::string& name) {
  static const std::regex pattern(R"(model-\d{5,}-of-\d{5,}\.safetensors)");
  return std::regex_match(name, pattern);
}

// A weight_map entry must name a file inside the folder.
bool safe_relative(const std::string& shard) {
  fs::path p(shard);
  if (shard.empty() || p.is_absolute()) return false;
  for (const auto& part : p)
    if (part == "..") return false;
  return true;
}

}  // namespace

Checkpoint Checkpoint::open(const std::string& dir) {
  Checkpoint ckpt;
  ckpt.dir_ = dir;
  fs::path root(dir);
  fs::path single = root / kSingleFileName;
  fs::path index_path = root / kIndexFileName;
  std::error_code ec;
  if (!fs::is_directory(root, ec))
    throw file_error(dir, "",
                     "not a folder; expected a model folder with model.safetensors or " + std::string(kIndexFileName));

  // transformers prefers the single file when both exist; so do we.
  if (fs::exists(single, ec)) {
    ckpt.files_.push_back(File::open(single.string()));
    for (const auto& t : ckpt.files_[0].tensors()) ckpt.where_[t.name] = 0;
    return ckpt;
  }
  if (!fs::exists(index_path, ec))
    throw file_error(dir, "", "holds neither model.safetensors nor " + std::string(kIndexFileName));

  const std::string index_file = index_path.string();
  json index;
  try {
    index = json::parse(read_file(index_file));
  } catch (const json::exception& e) {
    throw file_error(index_file, "", std::string("not valid JSON (") + e.what() + ")");
  }
  if (!index.is_object()) throw file_error(index_file, "", "must be a JSON object with a \"weight_map\"");
  auto wm = index.find("weight_map");
  if (wm == index.end() || !wm->is_object())
    throw file_error(index_file, "weight_map", "missing or not an object mapping tensor names to shard files");

  std::map<std::string, size_t> shard_index;  // shard file name -> index into files_
  for (const auto& [name, shard_value] : wm->items()) {
    const std::string field = "weight_map." + name;
    if (!shard_value.is_string())
      throw file_error(index_file, field, "must be a shard file name (string), got " + shard_value.dump());
    const std::string shard = shard_value.get<std::string>();
    if (!safe_relative(shard))
      throw file_error(index_file, field, "shard " + quote_name(shard) + " must be a file name inside " + dir);
    auto [it, inserted] = shard_index.emplace(shard, ckpt.files_.size());
    if (inserted) {
      fs::path shard_path = root / shard;
      if (!fs::is_regular_file(shard_path, ec))
        throw file_error(index_file, field,
                         "shard " + quote_name(shard) + " does not exist in " + dir + "; the checkpoint is incomplete");
      ckpt.files_.push_back(File::open(shard_path.string()));
    }
    const File& file = ckpt.files_[it->second];
    if (!file.find(name))
      throw file_error(index_file, field,
                       "tensor " + quote_name(name) + " is not in shard " + quote_name(shard) + " (which holds " +
                           std::to_string(file.tensors().size()) + " tensors); the index and shards disagree");
    ckpt.where_[name] = it->second;
  }
  return ckpt;
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  out.reserve(where_.size());
  for (const auto& [name, i] : where_) out.push_back(name);
  return out;
}

size_t Checkpoint::file_index(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end())
    throw file_error(dir_, "tensor " + quote_name(name),
                     "not in this checkpoint (it holds " + std::to_string(where_.size()) + " tensors)");
  return it->second;
}

const TensorInfo& Checkpoint::info(const std::string& name) const { return *files_[file_index(name)].find(name); }

torch::Tensor Checkpoint::tensor(const std::string& name) const { return files_[file_index(name)].tensor(name); }

const std::map<std::string, std::string>& Checkpoint::metadata() const {
  static const std::map<std::string, std::string> kEmpty;
  return files_.empty() ? kEmpty : files_[0].metadata();
}

void save_folder(const std::string& dir, const NamedTensors& tensors,
                 const std::map<std::string, std::string>& metadata, size_t max_shard_bytes) {
  fs::path root(dir);
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) throw file_error(dir, "", "cannot create folder: " + ec.message());

  std::map<std::string, std::string> meta = metadata;
  meta.emplace("format", "pt");

  // Greedy split in the given order, exactly as huggingface_hub's split_torch_state_dict_into_shards:
  // a tensor over the limit gets a shard of its own right away while the open shard continues.
  std::vector<NamedTensors> shards;
  NamedTensors current;
  uint64_t current_bytes = 0;
  uint64_t total_size = 0;
  for (const auto& named : tensors) {
    uint64_t bytes = named.second.defined() ? named.second.nbytes() : 0;
    total_size += bytes;
    if (max_shard_bytes > 0 && bytes > max_shard_bytes) {
      shards.push_back({named});
      continue;
    }
    if (max_shard_bytes > 0 && current_bytes + bytes > max_shard_bytes && !current.empty()) {
      shards.push_back(std::move(current));
      current.clear();
      current_bytes = 0;
    }
    current.push_back(named);
    current_bytes += bytes;
  }
  if (!current.empty() || shards.empty()) shards.push_back(std::move(current));

  std::set<std::string> written;
  if (shards.size() == 1) {
    save_file((root / kSingleFileName).string(), shards[0], meta);
    written.insert(kSingleFileName);
  } else {
    json weight_map = json::object();
    for (size_t i = 0; i < shards.size(); ++i) {
      std::string name = shard_name(i + 1, shards.size());
      save_file((root / name).string(), shards[i], meta);
      written.insert(name);
      for (const auto& [tensor_name, t] : shards[i]) weight_map[tensor_name] = name;
    }
    json index = {{"metadata", {{"total_size", total_size}}}, {"weight_map", weight_map}};
    // transformers writes the index with indent=2, sorted keys and a final newline.
    write_file_atomic((root / kIndexFileName).string(), index.dump(2) + "\n");
    written.insert(kIndexFileName);
  }

  // Files of an earlier layout would shadow or mix with the new one (transformers reads a
  // leftover model.safetensors before the index), so they go.
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    std::string name = entry.path().filename().string();
    bool ours = name == kSingleFileName || name == kIndexFileName || is_shard_name(name);
    if (ours && !written.count(name)) fs::remove(entry.path(), ec);
  }
}

}  // namespace grpo::safetensors
