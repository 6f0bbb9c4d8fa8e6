// The safetensors container format without LibTorch: dtype names, header parsing with full
// validation, and header serialisation byte-identical to the Python library (safetensors 0.8).
// Spec: shared/spec/deepseek-v3.md §8. Kept free of torch so the fuzzer can compile it alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace grpo::safetensors {

// In the declaration order of safetensors' Rust `Dtype` enum (increasing alignment). The
// writer sorts by this order, descending, so our files are byte-identical to Python's.
enum class DType : uint8_t {
  BOOL,
  F4,
  F6_E2M3,
  F6_E3M2,
  U8,
  I8,
  F8_E5M2,
  F8_E4M3,
  F8_E8M0,
  F8_E4M3FNUZ,
  F8_E5M2FNUZ,
  I16,
  U16,
  F16,
  BF16,
  I32,
  U32,
  F32,
  C64,
  F64,
  I64,
  U64,
};

// "F32", "BF16", ... as written in the header.
std::string_view dtype_name(DType dtype);
// Parses a header dtype string (case-sensitive, as Python); nullopt when unknown.
std::optional<DType> dtype_from_name(std::string_view name);
// Element size in bits (4 for F4, 6 for F6_*), as safetensors counts sizes.
size_t dtype_bits(DType dtype);
// A comma-separated list of every dtype name, for error messages.
std::string all_dtype_names();

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<uint64_t> shape;                   // row-major, rank 0 for scalars
  std::pair<uint64_t, uint64_t> data_offsets{};  // [begin, end) relative to the data section

  uint64_t numel() const;  // 1 for a scalar; fits u64 once parse_header accepted it
  uint64_t nbytes() const { return data_offsets.second - data_offsets.first; }
};

// A validated header. `tensors` is sorted by data offset (the file order).
struct Header {
  uint64_t header_size = 0;                     // N: the JSON length, padding included
  uint64_t data_start = 0;                      // 8 + N: file offset of the data section
  std::map<std::string, std::string> metadata;  // "__metadata__", empty if absent
  std::vector<TensorInfo> tensors;
};

// Python's limit on N (safetensors MAX_HEADER_SIZE).
inline constexpr uint64_t kMaxHeaderSize = 100'000'000;

// Parses and validates the first bytes of a file of `file_size` bytes. `bytes` holds at least
// min(file_size, 8 + N) bytes (the whole file is fine). Throws grpo::Error naming `file`, the
// tensor and the problem for anything Python's safetensors rejects, plus duplicate tensor
// names (Python silently keeps the last) and NUL bytes in the header. Never reads past
// `bytes + size`.
Header parse_header(const void* bytes, size_t size, uint64_t file_size, const std::string& file);

// What the writer needs to know about one tensor.
struct TensorSpec {
  std::string name;
  DType dtype = DType::F32;
  std::vector<uint64_t> shape;
  uint64_t nbytes = 0;
};

// The layout a writer produces: `order` indexes into the specs in file order (descending dtype,
// then name, as Python sorts), `header` is the 8-byte length plus the space-padded JSON, and
// `offsets[i]` is spec i's [begin, end). Metadata is omitted when empty; keys are written in
// sorted order (Python writes a HashMap, so its order varies from run to run when there are
// two or more keys). Throws grpo::Error (naming `file`) for duplicate names, the reserved name
// "__metadata__", invalid UTF-8 or a size that disagrees with shape × dtype.
struct Layout {
  std::vector<size_t> order;
  std::string header;
  std::vector<std::pair<uint64_t, uint64_t>> offsets;
  uint64_t data_size = 0;
};
Layout plan_layout(const std::vector<TensorSpec>& specs, const std::map<std::string, std::string>& metadata,
                   const std::string& file);

}  // namespace grpo::safetensors
