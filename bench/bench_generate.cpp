// Generation benchmark (a program, not a test): tokens/s and latent-cache bytes of
// rollout::Generator for G ∈ {1, 8, 16} on the tiny configs, plain and with MTP drafting, side by
// side with Hugging Face transformers `generate` (bench/peer_generate.py) on the same checkpoint,
// the same prompts and the same thread count, in the same run.
//
// usage: bench_generate [--threads N] [--prompts P] [--prompt-len L] [--new-tokens N]
//                       [--python PY] [--no-peer] [CONFIG.json ...]
// Both sides sample at T = 1 without truncation and without early stop (every completion has
// exactly N tokens), so they do the same amount of work.
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "model/causal_lm.h"
#include "model/checkpoint.h"
#include "model/config.h"
#include "rollout/generator.h"

using namespace grpo;

namespace {

struct Options {
  int threads = 1;
  int64_t prompts = 4, prompt_len = 32, new_tokens = 64;
  std::string python = std::string(GRPO_PYTHON).empty() ? GRPO_SOURCE_DIR "/.venv/bin/python" : GRPO_PYTHON;
  bool peer = true;
  std::vector<std::string> configs;
};

struct Measure {
  double tokens_per_s = 0;
  int64_t cache_bytes = 0;  // peak bytes of the pages live sequences held
  double acceptance = 0;
};

Measure run_ours(model::CausalLM& lm, const std::vector<std::vector<int64_t>>& prompts, int64_t g, int64_t n,
                 int64_t speculative) {
  std::vector<rollout::GenerationRequest> requests;
  for (size_t i = 0; i < prompts.size(); ++i) {
    rollout::GenerationRequest r;
    r.prompt = prompts[i];
    r.group_size = g;
    r.max_new_tokens = n;
    r.sampling.temperature = 1.0;
    r.sampling.seed = 1 + i;
    requests.push_back(r);
  }
  rollout::GeneratorOptions o;  // no EOS: every completion runs to n tokens, as on the peer
  o.speculative = speculative;
  o.max_batch_rows = 256;
  rollout::Generator gen(lm, o);
  gen.generate({requests.front()});  // warm-up (allocator, first-touch of the cache pages)
  const auto t0 = std::chrono::steady_clock::now();
  auto results = gen.generate(requests);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  int64_t tokens = 0;
  for (const auto& r : results) {
    if (!r.error.empty()) throw std::runtime_error(r.error);
    for (const auto& c : r.completions) tokens += static_cast<int64_t>(c.tokens.size());
  }
  const auto& st = gen.stats();
  return {static_cast<double>(tokens) / s, st.peak_cache_bytes,
          st.drafted ? static_cast<double>(st.accepted) / static_cast<double>(st.drafted) : 0.0};
}

std::map<int64_t, nlohmann::json> run_peer(const Options& o, const std::string& ckpt, const std::string& prompts_file,
                                           int64_t g) {
  const std::string cmd = "OMP_NUM_THREADS=" + std::to_string(o.threads) + " '" + o.python + "' '" +
                          GRPO_SOURCE_DIR "/bench/peer_generate.py' '" + ckpt + "' '" + prompts_file + "' --groups " +
                          std::to_string(g) + " --new-tokens " + std::to_string(o.new_tokens) + " --threads " +
                          std::to_string(o.threads) + " 2>/dev/null";
  std::map<int64_t, nlohmann::json> out;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return out;
  char line[4096];
  while (fgets(line, sizeof line, pipe)) {
    try {
      auto j = nlohmann::json::parse(line);
      out[j["G"].get<int64_t>()] = j;
    } catch (...) {
    }
  }
  if (pclose(pipe) != 0 && out.empty())
    std::fprintf(stderr, "peer failed (is transformers installed in %s?): %s\n", o.python.c_str(), cmd.c_str());
  return out;
}

void bench(const Options& o, const std::string& path) {
  model::ModelConfig c = model::load_config(path);
  model::CausalLM lm(c);
  model::init_weights(lm, 1);
  lm->eval();
  char tmpl[] = "/tmp/bench_generate_XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string ckpt = dir + "/ckpt";
  model::save_checkpoint(lm, ckpt);
  std::mt19937_64 rng(1234);
  std::vector<std::vector<int64_t>> prompts(static_cast<size_t>(o.prompts));
  for (auto& p : prompts)
    for (int64_t i = 0; i < o.prompt_len; ++i) p.push_back(2 + static_cast<int64_t>(rng() % (c.vocab_size - 2)));
  const std::string prompts_file = dir + "/prompts.json";
  std::ofstream(prompts_file) << nlohmann::json{{"prompts", prompts}}.dump();

  std::printf("\n%s: %lld prompts × %lld tokens, %lld new tokens each, %d thread(s), FP32\n", path.c_str(),
              (long long)o.prompts, (long long)o.prompt_len, (long long)o.new_tokens, o.threads);
  std::printf("%4s | %12s | %12s | %7s | %12s | %9s | %14s | %14s\n", "G", "ours tok/s", "ours+MTP", "accept",
              "HF tok/s", "ours / HF", "ours cache B", "HF cache B");
  // Peer and ours alternate per G, so a change in this shared machine's load between the two
  // hurts both sides of a row alike.
  for (int64_t g : {1, 8, 16}) {
    auto peer = o.peer ? run_peer(o, ckpt, prompts_file, g) : std::map<int64_t, nlohmann::json>{};
    Measure plain = run_ours(lm, prompts, g, o.new_tokens, 0);
    Measure spec = c.num_nextn_predict_layers > 0 ? run_ours(lm, prompts, g, o.new_tokens, 1) : Measure{};
    double hf = 0;
    long long hf_bytes = 0;
    if (peer.count(g)) {
      hf = peer[g]["tokens_per_s"].get<double>();
      hf_bytes = peer[g]["cache_bytes"].get<long long>();
    }
    std::printf("%4lld | %12.0f | %12.0f | %7.3f | %12.0f | %8.2fx | %14lld | %14lld\n", (long long)g,
                plain.tokens_per_s, spec.tokens_per_s, spec.acceptance, hf, hf > 0 ? plain.tokens_per_s / hf : 0.0,
                (long long)plain.cache_bytes, hf_bytes);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--threads")
      o.threads = std::stoi(next());
    else if (a == "--prompts")
      o.prompts = std::stoll(next());
    else if (a == "--prompt-len")
      o.prompt_len = std::stoll(next());
    else if (a == "--new-tokens")
      o.new_tokens = std::stoll(next());
    else if (a == "--python")
      o.python = next();
    else if (a == "--no-peer")
      o.peer = false;
    else
      o.configs.push_back(a);
  }
  if (o.configs.empty())
    o.configs = {GRPO_SOURCE_DIR "/model/configs/tiny.json", GRPO_SOURCE_DIR "/model/configs/tiny_direct_q.json"};
  torch::set_num_threads(o.threads);
  torch::NoGradGuard no_grad;
  for (const auto& path : o.configs) bench(o, path);
  return 0;
}
