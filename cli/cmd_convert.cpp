// `grpo convert --to fp8|bf16 IN OUT`: converts a checkpoint folder between DeepSeek's FP8
// layout and BF16 (spec §6.1, §6.3, docs/fp8_gemm.md).
//   fp8:  the linears DeepSeek quantizes become F8_E4M3 with FP32 `weight_scale_inv` per 128x128
//         block; embeddings, norms, router, eh_proj and lm_head BF16; routing biases FP32;
//         config.json gets DeepSeek's quantization_config. FP8 input weights are copied bit for bit.
//   bf16: every weight BF16 (FP8 ones dequantized: code · scale_inv), no scale tensors, and no
//         quantization_config (so transformers loads it as a plain BF16 model).
// Other files of IN (tokenizer.json, tokenizer_config.json, generation_config.json, chat
// templates, ...) are copied unchanged.
#include <cstdio>
#include <filesystem>
#include <set>

#include "cli/args.h"
#include "cli/command.h"
#include "model/checkpoint.h"
#include "model/fp8_linear.h"

namespace grpo::cli {
namespace {

namespace fs = std::filesystem;

// Files the conversion writes itself (weights and config); everything else is copied.
bool written_by_convert(const fs::path& p) {
  const std::string name = p.filename().string();
  return name == "config.json" || name == "model.safetensors.index.json" || p.extension() == ".safetensors";
}

uint64_t weight_bytes(const fs::path& dir) {
  uint64_t n = 0;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() == ".safetensors") n += e.file_size();
  return n;
}

int run_convert(const std::vector<std::string>& argv) {
  Args args("convert",
            {{"--to", true, "fp8 or bf16"}, {"--shard-bytes", true, "maximum shard size (default: one file)"}}, argv);
  const std::string to = args.require("--to");
  if (to != "fp8" && to != "bf16") throw UsageError("--to must be fp8 or bf16, got '" + to + "'");
  if (args.positional().size() != 2) throw UsageError("expected IN_DIR and OUT_DIR");
  const std::string in = args.positional_at(0, "IN_DIR"), out = args.positional_at(1, "OUT_DIR");
  require_exists(in, "checkpoint folder");
  if (!fs::is_directory(in)) throw UsageError(in + ": not a folder (expected a checkpoint folder with config.json)");
  require_exists((fs::path(in) / "config.json").string(), "config.json");
  if (fs::exists(out) && fs::equivalent(in, out))
    throw UsageError("OUT_DIR is IN_DIR; write to a new folder (the input's shards are read while writing)");
  const long long shard = args.get_int("--shard-bytes", 0);
  if (shard < 0) throw UsageError("--shard-bytes must be >= 0");

  model::LoadReport report;
  model::CausalLM lm = to == "fp8" ? model::load_checkpoint_fp8(in, torch::kBFloat16, &report)
                                   : model::load_checkpoint(in, torch::kBFloat16, &report);
  model::save_checkpoint(lm, out, static_cast<size_t>(shard));

  int copied = 0;
  for (const auto& e : fs::directory_iterator(in)) {
    if (!e.is_regular_file() || written_by_convert(e.path())) continue;
    fs::copy_file(e.path(), fs::path(out) / e.path().filename(), fs::copy_options::overwrite_existing);
    ++copied;
  }
  if (to == "fp8")
    std::printf("wrote %s: %lld FP8 linears (%lld copied from FP8, %lld quantized), rest BF16; ", out.c_str(),
                static_cast<long long>(model::count_fp8_linears(lm)), static_cast<long long>(report.fp8_kept),
                static_cast<long long>(report.fp8_quantized));
  else
    std::printf("wrote %s: BF16 (%lld FP8 weights dequantized); ", out.c_str(),
                static_cast<long long>(report.fp8_weights));
  std::printf("weights %llu -> %llu bytes; %d other files copied\n", static_cast<unsigned long long>(weight_bytes(in)),
              static_cast<unsigned long long>(weight_bytes(out)), copied);
  return 0;
}

}  // namespace
}  // namespace grpo::cli

GRPO_COMMAND("convert", "convert a checkpoint between FP8 and BF16",
             "usage: grpo convert --to fp8|bf16 IN_DIR OUT_DIR [--shard-bytes N]\n"
             "fp8:  DeepSeek's layout: attention and FFN projections F8_E4M3 with an FP32 weight_scale_inv per\n"
             "      128x128 block, quantization_config in config.json; embeddings, norms, router, lm_head BF16.\n"
             "bf16: everything BF16, FP8 weights dequantized, no quantization_config.\n"
             "Tokenizer and other non-weight files of IN_DIR are copied.",
             grpo::cli::run_convert, 80);
