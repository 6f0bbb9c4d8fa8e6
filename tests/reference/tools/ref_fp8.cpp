// grpo_ref subcommands for tests/reference/test_fp8_codec.py: run our FP8 codec and quantizers
// on raw little-endian binary files so Python can compare them with torch.float8_e4m3fn.
//   fp8-encode IN.f32 OUT.u8                 float32 -> e4m3 codes
//   fp8-decode IN.u8 OUT.f32                 e4m3 codes -> float32
//   fp8-quant-weight ROWS COLS IN.f32 Q.u8 S.f32   128x128 tiles, scale_inv [ceil(R/128), ceil(C/128)]
//   fp8-quant-act ROWS K IN.f32 Q.u8 S.f32         1x128 tiles, scale [ROWS, ceil(K/128)]
#include <cstring>
#include <string>
#include <vector>

#include "common/atomic_file.h"
#include "common/error.h"
#include "kernels/fp8_e4m3.h"
#include "kernels/fp8_quant.h"
#include "ref_tool.h"

namespace grpo::ref {
namespace {

template <class T>
std::vector<T> read_array(const std::string& path, size_t expect_count = static_cast<size_t>(-1)) {
  const std::string bytes = read_file(path);
  if (bytes.size() % sizeof(T) != 0)
    throw file_error(path, "",
                     "size " + std::to_string(bytes.size()) + " is not a multiple of " + std::to_string(sizeof(T)) +
                         " bytes; expected raw little-endian elements");
  std::vector<T> out(bytes.size() / sizeof(T));
  std::memcpy(out.data(), bytes.data(), bytes.size());
  if (expect_count != static_cast<size_t>(-1) && out.size() != expect_count)
    throw file_error(path, "",
                     "holds " + std::to_string(out.size()) + " elements, expected " + std::to_string(expect_count) +
                         " (rows x cols)");
  return out;
}

template <class T>
void write_array(const std::string& path, const std::vector<T>& v) {
  write_file_atomic(path, std::string_view(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T)));
}

void need_args(const std::vector<std::string>& args, size_t n, const char* usage) {
  if (args.size() != n) throw Error(std::string("usage: grpo_ref ") + usage);
}

int fp8_encode(const std::vector<std::string>& args) {
  need_args(args, 2, "fp8-encode IN.f32 OUT.u8");
  const auto x = read_array<float>(args[0]);
  std::vector<uint8_t> q(x.size());
  kernels::fp8_e4m3_encode(x.data(), q.data(), static_cast<int64_t>(x.size()));
  write_array(args[1], q);
  return 0;
}

int fp8_decode(const std::vector<std::string>& args) {
  need_args(args, 2, "fp8-decode IN.u8 OUT.f32");
  const auto q = read_array<uint8_t>(args[0]);
  std::vector<float> x(q.size());
  kernels::fp8_e4m3_decode(q.data(), x.data(), static_cast<int64_t>(q.size()));
  write_array(args[1], x);
  return 0;
}

int fp8_quant(const std::vector<std::string>& args, bool weight) {
  need_args(args, 5,
            weight ? "fp8-quant-weight ROWS COLS IN.f32 Q.u8 S.f32" : "fp8-quant-act ROWS K IN.f32 Q.u8 S.f32");
  const int64_t rows = std::stoll(args[0]), cols = std::stoll(args[1]);
  const auto x = read_array<float>(args[2], static_cast<size_t>(rows * cols));
  std::vector<uint8_t> q(x.size());
  const int64_t scale_rows = weight ? kernels::fp8_num_blocks(rows) : rows;
  std::vector<float> s(scale_rows * kernels::fp8_num_blocks(cols));
  if (weight)
    kernels::fp8_quantize_weight_128x128(x.data(), rows, cols, q.data(), s.data());
  else
    kernels::fp8_quantize_act_1x128(x.data(), rows, cols, q.data(), s.data());
  write_array(args[3], q);
  write_array(args[4], s);
  return 0;
}

GRPO_REF_TOOL("fp8-encode", fp8_encode);
GRPO_REF_TOOL("fp8-decode", fp8_decode);
GRPO_REF_TOOL("fp8-quant-weight", [](const std::vector<std::string>& a) { return fp8_quant(a, true); });
GRPO_REF_TOOL("fp8-quant-act", [](const std::vector<std::string>& a) { return fp8_quant(a, false); });

}  // namespace
}  // namespace grpo::ref
