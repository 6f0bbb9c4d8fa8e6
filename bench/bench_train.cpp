// Training throughput of the GRPO step (learner/grpo_step.h: forward, GRPO loss, backward,
// gradient clip, AdamW step) on the tiny configs, in tokens per second (every token of every
// sequence goes through forward and backward), side by side with the peer run in the same
// process tree: transformers' DeepseekV3ForCausalLM + the same GRPO loss written by hand in
// Python (bench/peer_train.py; TRL is not installed), on the same checkpoint, batch and thread
// count.
//
//   bench_train [--threads T] [--groups N] [--group-size G] [--prompt P] [--completion C] [--steps S] [--no-peer]
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench/python_peer.h"
#include "learner/advantages.h"
#include "learner/algorithm_config.h"
#include "learner/grpo_step.h"
#include "learner/token_logprobs.h"
#include "model/checkpoint.h"
#include "model/config.h"

#ifndef GRPO_PYTHON
#define GRPO_PYTHON "python3"
#endif

using namespace grpo;

namespace {

struct Settings {
  int threads = 2;
  int64_t groups = 2, group_size = 4, prompt = 32, completion = 96;
  int steps = 5;
  bool peer = true;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The peer's one JSON line, or an explanation when it could not run.
nlohmann::json run_peer(const std::string& ckpt, const std::string& batch_json, const Settings& s) {
  return grpo::bench::run_python_peer("peer_train.py", ckpt + " " + batch_json + " --steps " + std::to_string(s.steps) +
                                                           " --threads " + std::to_string(s.threads));
}

void bench_config(const std::string& name, const Settings& s) {
  const std::string config_path = std::string(GRPO_SOURCE_DIR) + "/model/configs/" + name;
  model::CausalLM lm(model::load_config(config_path));
  model::init_weights(lm, 1);
  char tmpl[] = "/tmp/grpo_bench_train_XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  model::save_checkpoint(lm, dir + "/ckpt");

  // The batch: `groups` prompts × `group_size` completions, random ids (2.. so no EOS/BOS),
  // rewards alternating 1/0 within a group so every advantage is non-zero.
  torch::manual_seed(7);
  const int64_t vocab = lm->config.vocab_size;
  std::vector<learner::ScoredPromptGroup> batch;
  nlohmann::json rows = nlohmann::json::array(), advantages = nlohmann::json::array();
  const auto algo = learner::algorithm_preset("grpo");
  for (int64_t g = 0; g < s.groups; ++g) {
    learner::ScoredPromptGroup group;
    auto p = torch::randint(2, vocab, {s.prompt}, torch::kLong);
    group.prompt.assign(p.data_ptr<int64_t>(), p.data_ptr<int64_t>() + s.prompt);
    std::vector<std::optional<double>> rewards;
    for (int64_t i = 0; i < s.group_size; ++i) {
      auto c = torch::randint(2, vocab, {s.completion}, torch::kLong);
      learner::ScoredCompletion sc;
      sc.tokens.assign(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + s.completion);
      sc.reward = static_cast<double>(i % 2);
      rewards.push_back(sc.reward);
      // Behaviour log-probs = the policy's own (on-policy), so ratio 1 at the first update.
      learner::TrainSequence seq{group.prompt, s.prompt};
      seq.tokens.insert(seq.tokens.end(), sc.tokens.begin(), sc.tokens.end());
      {
        torch::NoGradGuard no_grad;
        auto lp = learner::target_logprobs(lm, learner::collate({seq}, {0}, 0)).narrow(1, s.prompt - 1, s.completion);
        sc.behaviour_logprobs.assign(lp.data_ptr<float>(), lp.data_ptr<float>() + s.completion);
      }
      rows.push_back(seq.tokens);
      group.completions.push_back(std::move(sc));
    }
    for (double a : learner::group_advantages(rewards, algo.advantages)) advantages.push_back(a);
    batch.push_back(std::move(group));
  }
  std::ofstream(dir + "/batch.json") << nlohmann::json(
      {{"tokens", rows}, {"prompt_len", s.prompt}, {"advantages", advantages}});

  learner::GrpoStepOptions o;
  o.algorithm = algo;
  o.algorithm.loss.kl_coef = 0.0;  // no reference forward on either side
  o.micro_batch_tokens =
      static_cast<size_t>(s.groups * s.group_size * (s.prompt + s.completion));  // one forward, as the peer
  o.grad_clip = 1.0;
  o.bias_update_speed = 0.0;  // transformers has no routing-bias update
  o.mtp_loss_coef = 0.0;      // nor an MTP head
  torch::optim::AdamW opt(lm->parameters(), torch::optim::AdamWOptions(1e-5));
  lm->train();
  const double first_loss =
      learner::grpo_step(lm, opt, batch, o).metrics["loss"];  // warm-up (allocations, first-touch)
  std::vector<double> ours;
  for (int i = 0; i < s.steps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    learner::grpo_step(lm, opt, batch, o);
    ours.push_back(seconds_since(t0));
  }
  const double tokens = static_cast<double>(s.groups * s.group_size * (s.prompt + s.completion));

  nlohmann::json peer =
      s.peer ? run_peer(dir + "/ckpt", dir + "/batch.json", s) : nlohmann::json{{"error", "--no-peer"}};
  if (peer.contains("step_seconds")) {
    const auto theirs = peer["step_seconds"].get<std::vector<double>>();
    const double m_ours = tokens / median(ours), m_theirs = tokens / median(theirs);
    const double b_ours = tokens / *std::min_element(ours.begin(), ours.end());
    const double b_theirs = tokens / *std::min_element(theirs.begin(), theirs.end());
    std::printf("%-20s %10.0f %12.0f %7.2fx %10.0f %12.0f %7.2fx   %+.5f / %+.5f\n", name.c_str(), m_ours, m_theirs,
                m_ours / m_theirs, b_ours, b_theirs, b_ours / b_theirs, first_loss, peer.value("loss", 0.0));
  } else {
    std::printf("%-20s %10.0f %12s\n", name.c_str(), tokens / median(ours), "n/a");
    std::fprintf(stderr, "peer failed for %s: %s\n", name.c_str(), peer["error"].get<std::string>().c_str());
  }
  std::fflush(stdout);
  std::string rm = "rm -rf " + dir;  // a plain shell rm: std::filesystem::remove_all is broken under libtorch
  if (std::system(rm.c_str()) != 0) std::fprintf(stderr, "could not remove %s\n", dir.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> long {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return std::atol(argv[++i]);
    };
    if (a == "--threads")
      s.threads = static_cast<int>(next());
    else if (a == "--groups")
      s.groups = next();
    else if (a == "--group-size")
      s.group_size = next();
    else if (a == "--prompt")
      s.prompt = next();
    else if (a == "--completion")
      s.completion = next();
    else if (a == "--steps")
      s.steps = static_cast<int>(next());
    else if (a == "--no-peer")
      s.peer = false;
    else {
      std::fprintf(stderr,
                   "usage: bench_train [--threads T] [--groups N] [--group-size G] [--prompt P] [--completion C] "
                   "[--steps S] [--no-peer]\n");
      return 2;
    }
  }
  torch::set_num_threads(s.threads);
  std::printf("GRPO training step (forward + GRPO loss + backward + clip + AdamW), FP32, CPU, %d thread(s)\n",
              s.threads);
  std::printf(
      "batch: %lld groups x %lld completions, %lld prompt + %lld completion tokens = %lld tokens/step; %d timed "
      "steps\n",
      static_cast<long long>(s.groups), static_cast<long long>(s.group_size), static_cast<long long>(s.prompt),
      static_cast<long long>(s.completion), static_cast<long long>(s.groups * s.group_size * (s.prompt + s.completion)),
      s.steps);
  std::printf(
      "peer: transformers DeepseekV3ForCausalLM + hand-written GRPO loss + torch AdamW (bench/peer_train.py)\n\n");
  std::printf(
      "tokens/s of the median step and of the best step (the machine may be shared); first-step loss of each side\n\n");
  std::printf("%-20s %10s %12s %8s %10s %12s %8s   %s\n", "config", "grpo med", "transf. med", "ratio", "grpo best",
              "transf. best", "ratio", "loss grpo / transf.");
  for (const char* name : {"tiny.json", "tiny_direct_q.json"}) bench_config(name, s);
  return 0;
}
