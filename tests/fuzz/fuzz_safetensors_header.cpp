// libFuzzer target for the torch-free safetensors header parser (model/safetensors_format.cpp).
// Any input must either parse or throw grpo::Error: no crash, no out-of-bounds read (ASan), no
// undefined behaviour (UBSan). An accepted header must survive a round trip through the writer's
// layout: re-serialised and re-parsed, it describes the same tensors and metadata.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "common/error.h"
#include "model/safetensors_format.h"

namespace st = grpo::safetensors;

namespace {

using Summary = std::map<std::string, std::tuple<st::DType, std::vector<uint64_t>, uint64_t>>;

Summary summarize(const st::Header& h) {
  Summary s;
  for (const auto& t : h.tensors) s[t.name] = {t.dtype, t.shape, t.nbytes()};
  return s;
}

[[noreturn]] void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz_safetensors_header: %s: %s\n", what, detail.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  st::Header h;
  try {
    h = st::parse_header(data, size, size, "fuzz.safetensors");
  } catch (const grpo::Error&) {
    return 0;  // rejected cleanly: what we want for malformed input
  }

  std::vector<st::TensorSpec> specs;
  for (const auto& t : h.tensors) specs.push_back({t.name, t.dtype, t.shape, t.nbytes()});
  st::Layout layout;
  try {
    layout = st::plan_layout(specs, h.metadata, "roundtrip.safetensors");
  } catch (const grpo::Error& e) {
    fail("an accepted header cannot be written back", e.what());
  }
  st::Header again;
  try {
    // Only the header is read, so the data section need not be in memory.
    again = st::parse_header(layout.header.data(), layout.header.size(), layout.header.size() + layout.data_size,
                             "roundtrip.safetensors");
  } catch (const grpo::Error& e) {
    fail("our own header does not parse", e.what());
  }
  if (again.metadata != h.metadata) fail("metadata changed in the round trip", "");
  if (summarize(again) != summarize(h)) fail("tensors changed in the round trip", "");
  if (again.data_start % 8 != 0) fail("written data section is not 8-byte aligned", "");
  return 0;
}
