// `grpo init`: a randomly initialised checkpoint folder from a config.json (for tests and for
// recipes that train tiny models from scratch).
#include <cstdio>
#include <filesystem>

#include "cli/args.h"
#include "cli/command.h"
#include "model/checkpoint.h"
#include "model/config.h"

namespace grpo::cli {
namespace {

int run_init(const std::vector<std::string>& argv) {
  Args args("init",
            {{"--config", true, "config.json to build the model from"},
             {"--out", true, "checkpoint folder to write"},
             {"--seed", true, "initialisation seed (default 0)"}},
            argv);
  if (!args.positional().empty()) throw UsageError("unexpected argument '" + args.positional()[0] + "'");
  const std::string config_path = args.require("--config"), out = args.require("--out");
  require_exists(config_path, "config");
  const long long seed = args.get_int("--seed", 0);
  if (seed < 0) throw UsageError("--seed must be >= 0");

  model::ModelConfig config = model::load_config(config_path);
  model::CausalLM lm(config);
  model::init_weights(lm, static_cast<uint64_t>(seed));
  model::save_checkpoint(lm, out);

  int64_t params = 0;
  for (const auto& p : lm->parameters()) params += p.numel();
  std::printf(
      "wrote %s: %lld parameters (FP32), %lld layers + %lld MTP, seed %lld; latent cache %lld bytes/token in BF16\n",
      out.c_str(), static_cast<long long>(params), static_cast<long long>(config.num_hidden_layers),
      static_cast<long long>(config.num_nextn_predict_layers), seed,
      static_cast<long long>(config.latent_cache_bytes_per_token(2)));
  return 0;
}

}  // namespace
}  // namespace grpo::cli

GRPO_COMMAND("init", "write a randomly initialised checkpoint from a config.json",
             "usage: grpo init --config CONFIG.json --out DIR [--seed N]\n"
             "Writes DIR/config.json, DIR/model.safetensors (FP32, DeepSeek's per-expert layout, MTP at\n"
             "layer num_hidden_layers) and DIR/generation_config.json. Weights ~ N(0, initializer_range),\n"
             "norms 1, routing biases 0. Tiny configs: model/configs/tiny.json, model/configs/tiny_direct_q.json.",
             grpo::cli::run_init, 70);
