// grpo_ref subcommands for tests/reference/test_safetensors.py:
//   safetensors-dump PATH         a .safetensors file or a model folder -> JSON on stdout:
//                                 {"metadata": {...}, "tensors": {name: {dtype, shape, hex}}}
//   safetensors-write OUT [--shard BYTES] [--meta KEY=VALUE]...
//                                 writes the fixed tensor set below: OUT ending in .safetensors
//                                 gets save_file, anything else save_folder (sharded if BYTES > 0)
#include <torch/torch.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "model/safetensors.h"
#include "ref_tool.h"

namespace grpo::ref {
namespace {

namespace st = grpo::safetensors;
using nlohmann::json;

std::string hex_of(const torch::Tensor& t) {
  static constexpr char kHex[] = "0123456789abcdef";
  torch::Tensor c = t.contiguous();
  const auto* p = static_cast<const unsigned char*>(c.data_ptr());
  std::string out;
  out.reserve(c.nbytes() * 2);
  for (size_t i = 0; i < c.nbytes(); ++i) {
    out += kHex[p[i] >> 4];
    out += kHex[p[i] & 0xf];
  }
  return out;
}

json describe(const st::TensorInfo& info, const torch::Tensor& t) {
  return {{"dtype", std::string(st::dtype_name(info.dtype))}, {"shape", info.shape}, {"hex", hex_of(t)}};
}

int dump(const std::vector<std::string>& args) {
  if (args.size() != 1) {
    std::fprintf(stderr, "usage: grpo_ref safetensors-dump FILE_OR_FOLDER\n");
    return 2;
  }
  json out = {{"metadata", json::object()}, {"tensors", json::object()}};
  if (std::filesystem::is_directory(args[0])) {
    auto ckpt = st::Checkpoint::open(args[0]);
    out["metadata"] = ckpt.metadata();
    for (const auto& name : ckpt.names()) out["tensors"][name] = describe(ckpt.info(name), ckpt.tensor(name));
  } else {
    auto file = st::File::open(args[0]);
    out["metadata"] = file.metadata();
    for (const auto& info : file.tensors()) out["tensors"][info.name] = describe(info, file.tensor(info.name));
  }
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

// The fixed set; test_safetensors.py builds the same tensors with the same formulas.
// Floats: arange * 0.731 - 2.5; signed ints: (arange * 37) % 201 - 100; unsigned:
// (arange * 37) % 251; bool: arange % 3 == 0. All computed in float64/int64, then cast.
st::NamedTensors fixed_set() {
  struct Spec {
    const char* name;
    torch::ScalarType dtype;
    std::vector<int64_t> shape;
  };
  const std::vector<Spec> specs = {
      {"model.layers.0.self_attn.q_a_proj.weight", torch::kFloat8_e4m3fn, {4, 8}},
      {"model.layers.0.self_attn.q_a_proj.weight_scale_inv", torch::kFloat32, {1, 1}},
      {"model.embed_tokens.weight", torch::kBFloat16, {5, 3}},
      {"model.norm.weight", torch::kBFloat16, {3}},
      {"f64.matrix", torch::kFloat64, {3, 4}},
      {"f32.scalar", torch::kFloat32, {}},
      {"f32.empty", torch::kFloat32, {0, 3}},
      {"f16.odd", torch::kFloat16, {3, 5, 1}},
      {"f8e5", torch::kFloat8_e5m2, {7}},
      {"i64", torch::kInt64, {2, 3}},
      {"i32", torch::kInt32, {5}},
      {"i16", torch::kInt16, {3}},
      {"i8", torch::kInt8, {9}},
      {"u8", torch::kUInt8, {2, 2}},
      {"u16", torch::kUInt16, {3}},
      {"u32", torch::kUInt32, {2}},
      {"u64", torch::kUInt64, {2}},
      {"mask", torch::kBool, {7}},
  };
  st::NamedTensors out;
  for (const auto& s : specs) {
    int64_t n = 1;
    for (int64_t d : s.shape) n *= d;
    torch::Tensor t;
    if (s.dtype == torch::kBool) {
      t = torch::arange(n, torch::kInt64).remainder(3).eq(0);
    } else if (s.dtype == torch::kUInt8 || s.dtype == torch::kUInt16 || s.dtype == torch::kUInt32 ||
               s.dtype == torch::kUInt64) {
      t = (torch::arange(n, torch::kInt64) * 37).remainder(251).to(s.dtype);
    } else if (c10::isIntegralType(s.dtype, /*includeBool=*/false)) {
      t = ((torch::arange(n, torch::kInt64) * 37).remainder(201) - 100).to(s.dtype);
    } else {
      t = (torch::arange(n, torch::kFloat64) * 0.731 - 2.5).to(s.dtype);
    }
    out.emplace_back(s.name, t.reshape(s.shape));
  }
  return out;
}

int write(const std::vector<std::string>& args) {
  if (args.empty()) {
    std::fprintf(stderr, "usage: grpo_ref safetensors-write OUT [--shard BYTES] [--meta KEY=VALUE]...\n");
    return 2;
  }
  std::string out = args[0];
  size_t shard = 0;
  std::map<std::string, std::string> meta;
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--shard" && i + 1 < args.size()) {
      shard = std::stoull(args[++i]);
    } else if (args[i] == "--meta" && i + 1 < args.size()) {
      const std::string& kv = args[++i];
      auto eq = kv.find('=');
      if (eq == std::string::npos) throw std::runtime_error("--meta needs KEY=VALUE, got " + kv);
      meta[kv.substr(0, eq)] = kv.substr(eq + 1);
    } else {
      throw std::runtime_error("unknown argument " + args[i]);
    }
  }
  bool single = out.size() > 12 && out.compare(out.size() - 12, 12, ".safetensors") == 0;
  if (single)
    st::save_file(out, fixed_set(), meta);
  else
    st::save_folder(out, fixed_set(), meta, shard);
  return 0;
}

GRPO_REF_TOOL("safetensors-dump", dump);
GRPO_REF_TOOL("safetensors-write", write);

}  // namespace
}  // namespace grpo::ref
