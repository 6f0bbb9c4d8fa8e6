// Reading .safetensors files through mmap, and the dtype mapping to torch.
#include "model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>

#include "common/error.h"

namespace grpo::safetensors {

// Tensors are read as stored; a big-endian host would need byte swaps we do not do.
static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian");

struct Mapping {
  unsigned char* data = nullptr;
  size_t size = 0;
  Mapping() = default;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() {
    if (data) ::munmap(data, size);
  }
};

namespace {

struct TorchDType {
  DType dtype;
  torch::ScalarType scalar;
};

constexpr TorchDType kTorchDTypes[] = {
    {DType::BOOL, torch::kBool},
    {DType::U8, torch::kUInt8},
    {DType::I8, torch::kInt8},
    {DType::F8_E5M2, torch::kFloat8_e5m2},
    {DType::F8_E4M3, torch::kFloat8_e4m3fn},
    {DType::F8_E8M0, torch::kFloat8_e8m0fnu},
    {DType::F8_E4M3FNUZ, torch::kFloat8_e4m3fnuz},
    {DType::F8_E5M2FNUZ, torch::kFloat8_e5m2fnuz},
    {DType::I16, torch::kInt16},
    {DType::U16, torch::kUInt16},
    {DType::F16, torch::kFloat16},
    {DType::BF16, torch::kBFloat16},
    {DType::I32, torch::kInt32},
    {DType::U32, torch::kUInt32},
    {DType::F32, torch::kFloat32},
    {DType::C64, torch::kComplexFloat},
    {DType::F64, torch::kFloat64},
    {DType::I64, torch::kInt64},
    {DType::U64, torch::kUInt64},
};

std::string quote_name(const std::string& s) { return "\"" + s + "\""; }

}  // namespace

torch::ScalarType to_torch(DType dtype, const std::string& file, const std::string& tensor) {
  for (const auto& e : kTorchDTypes)
    if (e.dtype == dtype) return e.scalar;
  throw file_error(file, "tensor " + quote_name(tensor),
                   "dtype " + std::string(dtype_name(dtype)) + " has no torch equivalent; unpack it separately");
}

DType from_torch(torch::ScalarType scalar, const std::string& file, const std::string& tensor) {
  for (const auto& e : kTorchDTypes)
    if (e.scalar == scalar) return e.dtype;
  throw file_error(file, "tensor " + quote_name(tensor),
                   std::string("torch dtype ") + c10::toString(scalar) + " cannot be stored in safetensors");
}

File File::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw file_error(path, "", std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    throw file_error(path, "", std::string("cannot stat: ") + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw file_error(path, "", "not a regular file; expected a .safetensors file");
  }
  auto mapping = std::make_shared<Mapping>();
  mapping->size = static_cast<size_t>(st.st_size);
  if (mapping->size >= 8) {
    // Private copy-on-write: tensors may be written to in place without touching the file.
    void* addr = ::mmap(nullptr, mapping->size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (addr == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      throw file_error(path, "", std::string("cannot map into memory: ") + std::strerror(err));
    }
    mapping->data = static_cast<unsigned char*>(addr);
  }
  ::close(fd);  // the mapping stays valid without the descriptor

  File f;
  f.path_ = path;
  f.header_ = parse_header(mapping->data, mapping->size, mapping->size, path);
  f.mapping_ = std::move(mapping);
  for (size_t i = 0; i < f.header_.tensors.size(); ++i) f.index_[f.header_.tensors[i].name] = i;
  return f;
}

const TensorInfo* File::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &header_.tensors[it->second];
}

const unsigned char* File::mapped_data() const { return mapping_->data; }
size_t File::mapped_size() const { return mapping_->size; }

torch::Tensor File::tensor(const std::string& name) const {
  const TensorInfo* info = find(name);
  if (!info)
    throw file_error(path_, "tensor " + quote_name(name),
                     "not in this file (it holds " + std::to_string(header_.tensors.size()) + " tensors)");
  auto scalar = to_torch(info->dtype, path_, name);
  std::vector<int64_t> sizes;  // as stored
  for (uint64_t d : info->shape) {
    // A zero elsewhere in the shape lets parse_header accept any other dimension.
    if (d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      throw file_error(path_, "tensor " + quote_name(name), "dimension " + std::to_string(d) + " does not fit torch");
    sizes.push_back(static_cast<int64_t>(d));
  }
  auto options = torch::TensorOptions().dtype(scalar);
  if (info->nbytes() == 0) return torch::empty(sizes, options);

  unsigned char* bytes = mapping_->data + header_.data_start + info->data_offsets.first;
  size_t align = std::max<size_t>(1, dtype_bits(info->dtype) / 8);
  if (reinterpret_cast<uintptr_t>(bytes) % align == 0) {
    std::shared_ptr<const Mapping> keep = mapping_;
    return torch::from_blob(
        bytes, sizes, [keep](void*) mutable { keep.reset(); }, options);
  }
  torch::Tensor out = torch::empty(sizes, options);
  std::memcpy(out.data_ptr(), bytes, info->nbytes());
  return out;
}

}  // namespace grpo::safetensors
