// safetensors checkpoints as LibTorch tensors: memory-mapped reading (zero-copy where the data
// is aligned), atomic writing byte-identical to Python's safetensors 0.8, and Hugging Face
// model folders (a single model.safetensors, or shards listed by model.safetensors.index.json).
// Spec: shared/spec/deepseek-v3.md §8.
#pragma once

#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "model/safetensors_format.h"

namespace grpo::safetensors {

inline constexpr const char* kSingleFileName = "model.safetensors";
inline constexpr const char* kIndexFileName = "model.safetensors.index.json";

// The torch dtype that holds a safetensors dtype (F8_E4M3 -> kFloat8_e4m3fn, ...). Throws
// grpo::Error naming `file` and `tensor` for F4/F6_*, which torch has no dtype for.
torch::ScalarType to_torch(DType dtype, const std::string& file, const std::string& tensor);
// The safetensors dtype for a torch dtype; throws grpo::Error for dtypes safetensors lacks.
DType from_torch(torch::ScalarType dtype, const std::string& file, const std::string& tensor);

struct Mapping;  // a read-only view of a whole file (mmap); shared by the tensors it backs

// One .safetensors file, mapped into memory and validated when opened.
class File {
 public:
  // Throws grpo::Error naming the path when the file is missing or malformed (see parse_header).
  static File open(const std::string& path);

  const std::string& path() const { return path_; }
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
  const std::vector<TensorInfo>& tensors() const { return header_.tensors; }  // in file order
  const TensorInfo* find(const std::string& name) const;                      // nullptr when absent

  // The tensor as stored (same dtype and shape), on the CPU. When its bytes are aligned for the
  // dtype (always, for files written by us or by Python) the tensor points into the mapping and
  // keeps it alive: no copy, and the File may be destroyed first. The mapping is private
  // copy-on-write, so writing into the tensor never changes the file, but two tensor() calls
  // for the same name alias the same memory: clone() before modifying one in place.
  // Misaligned data is copied. Throws grpo::Error for an unknown name or a dtype torch lacks.
  torch::Tensor tensor(const std::string& name) const;

  // The mapped bytes of the whole file, so tests can check that tensors are zero-copy.
  const unsigned char* mapped_data() const;
  size_t mapped_size() const;

 private:
  std::string path_;
  std::shared_ptr<const Mapping> mapping_;
  Header header_;
  std::unordered_map<std::string, size_t> index_;  // name -> position in header_.tensors
};

// A Hugging Face model folder. Like transformers, it reads model.safetensors when present,
// else the shards that model.safetensors.index.json names; every tensor is looked up through
// the index's weight_map, so a weight and its scale may sit in different shards.
class Checkpoint {
 public:
  // Opens every shard and checks that each weight_map entry is in the shard it names. Throws
  // grpo::Error naming the folder/index file, the tensor and the shard otherwise.
  static Checkpoint open(const std::string& dir);

  const std::string& dir() const { return dir_; }
  std::vector<std::string> names() const;  // sorted
  bool contains(const std::string& name) const { return where_.count(name) != 0; }
  const TensorInfo& info(const std::string& name) const;
  torch::Tensor tensor(const std::string& name) const;  // as File::tensor
  // The "__metadata__" of the first shard (shards written by one save share it).
  const std::map<std::string, std::string>& metadata() const;
  const std::vector<File>& files() const { return files_; }

 private:
  size_t file_index(const std::string& name) const;

  std::string dir_;
  std::vector<File> files_;
  std::map<std::string, size_t> where_;  // tensor name -> index into files_
};

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// Writes one file atomically (temporary name, flush, rename). Tensors may live on any device
// and have any strides; they are written contiguous and little-endian, in Python's order, with
// the header padded to 8 bytes, so the bytes equal Python's save_file for the same input (with
// at most one metadata key: Python's order of several keys varies between runs).
void save_file(const std::string& path, const NamedTensors& tensors,
               const std::map<std::string, std::string>& metadata = {});

// Writes a Hugging Face model folder (created if needed). max_shard_bytes == 0, or everything
// fitting in one shard, gives a single model.safetensors; otherwise shards named
// model-00001-of-0000N.safetensors, filled greedily in the given order as transformers does (a
// tensor larger than the limit gets a shard of its own), plus model.safetensors.index.json.
// Adds {"format": "pt"} to the metadata when it has no "format" key, since transformers refuses
// files without it. Removes a stale single file / index / shards of an earlier layout, so the
// folder always reads back as what was written. Each file is atomic; the folder as a whole is
// not (write to a fresh folder and rename it for that).
void save_folder(const std::string& dir, const NamedTensors& tensors,
                 const std::map<std::string, std::string>& metadata = {}, size_t max_shard_bytes = 0);

}  // namespace grpo::safetensors
