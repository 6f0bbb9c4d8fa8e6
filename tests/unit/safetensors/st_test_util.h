// Helpers shared by the safetensors unit tests: scratch folders and hand-built files.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace grpo::safetensors::testing {

namespace fs = std::filesystem;

// A new empty folder (mkdtemp). Not std::filesystem::remove_all: libtorch.so exports its own copy
// of it, which the dynamic linker may pick and which can crash (see tests/unit/model).
inline fs::path fresh_dir(const std::string& name) {
  std::string tmpl = (fs::temp_directory_path() / ("grpo_test_st_" + name + "_XXXXXX")).string();
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + tmpl);
  return tmpl;
}

inline void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// 8-byte little-endian length `n` + `header` + `data`: a file as written, or broken on purpose.
inline std::string raw_file(const std::string& header, const std::string& data, uint64_t n) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}
inline std::string raw_file(const std::string& header, const std::string& data) {
  return raw_file(header, data, header.size());
}

}  // namespace grpo::safetensors::testing
