// grpo generate: sample completions from a checkpoint, G per prompt.
#include <cstdio>
#include <filesystem>

#include "actor/prompt_rows.h"
#include "cli/args.h"
#include "cli/command.h"
#include "common/atomic_file.h"
#include "model/checkpoint.h"
#include "model/tokenizer.h"
#include "rollout/generator.h"

namespace grpo::cli {
namespace {

using nlohmann::json;

const char* kUsage =
    "usage: grpo generate CKPT (--prompt TEXT | --prompts FILE.jsonl) [-n G] [--temperature T] [--top-p P]\n"
    "                     [--top-k K] [--min-p P] [--max-new-tokens N] [--seed S] [--stop STRING] [--json]\n"
    "                     [--draft | --speculative K] [--max-batch-rows R] [--cache-mb MB]\n"
    "\n"
    "Prints G completions per prompt. A prompts file has one JSON object per line with `prompt`\n"
    "(text, needs CKPT/tokenizer.json) or `tokens` (ids). --json prints one JSON object per\n"
    "completion: prompt_index, index, text, tokens, logprobs (the behaviour log-prob of each token:\n"
    "log softmax(logits/T), before top-k/top-p), finish_reason (eos, stop, length).\n"
    "--draft (= --speculative 1) drafts one token per step with the MTP head and verifies it with the\n"
    "main model (same output distribution; the acceptance rate goes to stderr). Sequences decode\n"
    "together, up to --max-batch-rows at once, in a paged latent cache of --cache-mb MiB.\n"
    "Defaults: -n 1 --temperature 1 --top-p 1 --top-k 0 --max-new-tokens 128 --seed 0 --speculative 0\n"
    "--max-batch-rows 64 --cache-mb 256. Temperature 0 is greedy.";

int run_generate(const std::vector<std::string>& argv) {
  Args args("generate",
            {{"--prompt", true, ""},
             {"--prompts", true, ""},
             {"-n", true, ""},
             {"--temperature", true, ""},
             {"--top-p", true, ""},
             {"--top-k", true, ""},
             {"--min-p", true, ""},
             {"--max-new-tokens", true, ""},
             {"--seed", true, ""},
             {"--stop", true, ""},
             {"--json", false, ""},
             {"--draft", false, ""},
             {"--speculative", true, ""},
             {"--max-batch-rows", true, ""},
             {"--cache-mb", true, ""}},
            argv);
  const std::string ckpt = args.positional_at(0, "CKPT (a checkpoint folder)");
  require_exists(ckpt, "checkpoint folder");
  if (args.has("--prompt") == args.has("--prompts"))
    throw UsageError("give exactly one of --prompt TEXT or --prompts FILE.jsonl");
  model::CausalLM lm = model::load_checkpoint(ckpt);
  lm->eval();
  std::optional<Tokenizer> tokenizer;
  if (std::filesystem::exists(ckpt + "/tokenizer.json")) tokenizer = Tokenizer::from_file(ckpt + "/tokenizer.json");

  rollout::GenerationRequest base;
  base.group_size = args.get_int("-n", 1);
  base.max_new_tokens = args.get_int("--max-new-tokens", 128);
  base.sampling.temperature = args.get_double("--temperature", 1.0);
  base.sampling.top_p = args.get_double("--top-p", 1.0);
  base.sampling.top_k = args.get_int("--top-k", 0);
  base.sampling.min_p = args.get_double("--min-p", 0.0);
  base.sampling.seed = static_cast<uint64_t>(args.get_int("--seed", 0));
  if (args.has("--stop")) base.stop = {args.get("--stop", "")};

  const std::string hint = ckpt + "/tokenizer.json";
  const Tokenizer* tok = tokenizer ? &*tokenizer : nullptr;
  std::vector<rollout::GenerationRequest> requests;
  if (args.has("--prompt")) {
    requests.push_back(base);
    requests.back().prompt =
        actor::encode_prompt(args.get("--prompt", ""), tok, lm->config.bos_token_id, "--prompt", hint);
  } else {
    const std::string path = args.get("--prompts", "");
    require_exists(path, "prompts file");
    for (auto& row : actor::read_prompt_rows(path, tok, lm->config.bos_token_id, hint)) {
      requests.push_back(base);
      requests.back().prompt = std::move(row.tokens);
    }
  }

  rollout::GeneratorOptions options;
  options.eos_token_ids = lm->config.eos_token_ids;
  if (tokenizer) options.decode = [&](const std::vector<int64_t>& ids) { return tokenizer->decode(ids); };
  options.speculative = args.has("--draft") ? 1 : args.get_int("--speculative", 0);
  if (options.speculative < 0 || options.speculative > 1)
    throw UsageError("--speculative: 0 (off) or 1 (one MTP draft per step) are supported");
  options.max_batch_rows = args.get_int("--max-batch-rows", 64);
  if (options.max_batch_rows < 1) throw UsageError("--max-batch-rows must be >= 1");
  const long cache_mb = args.get_int("--cache-mb", 256);
  if (cache_mb < 1) throw UsageError("--cache-mb must be >= 1");
  options.cache_budget_bytes = static_cast<int64_t>(cache_mb) << 20;
  auto results = rollout::Generator(lm, options).generate(requests);
  if (options.speculative > 0) {
    int64_t drafted = 0, accepted = 0;
    for (const auto& r : results) drafted += r.drafted, accepted += r.accepted;
    std::fprintf(stderr, "MTP drafts: %lld proposed, %lld accepted (%.1f%%)\n", (long long)drafted, (long long)accepted,
                 drafted ? 100.0 * static_cast<double>(accepted) / static_cast<double>(drafted) : 0.0);
  }
  int failed = 0;
  for (size_t p = 0; p < results.size(); ++p) {
    if (!results[p].error.empty()) {
      ++failed;
      if (args.has("--json"))
        std::printf("%s\n", json{{"prompt_index", p}, {"error", results[p].error}}.dump().c_str());
      else
        std::fprintf(stderr, "prompt %zu: %s\n", p, results[p].error.c_str());
      continue;
    }
    for (size_t i = 0; i < results[p].completions.size(); ++i) {
      const auto& c = results[p].completions[i];
      const std::string text = tokenizer ? tokenizer->decode(c.tokens) : std::string();
      if (args.has("--json")) {
        std::printf("%s\n", json{{"prompt_index", p},
                                 {"index", i},
                                 {"text", text},
                                 {"tokens", c.tokens},
                                 {"logprobs", c.logprobs},
                                 {"finish_reason", c.finish_reason}}
                                .dump(-1, ' ', false, json::error_handler_t::replace)
                                .c_str());
      } else {
        std::printf("--- prompt %zu, completion %zu (%s, %zu tokens)\n%s\n", p, i, c.finish_reason.c_str(),
                    c.tokens.size(), tokenizer ? text.c_str() : json(c.tokens).dump().c_str());
      }
    }
  }
  return failed == static_cast<int>(results.size()) ? 1 : 0;
}

}  // namespace

GRPO_COMMAND("generate", "sample completions from a checkpoint", kUsage, run_generate, 30);

}  // namespace grpo::cli
