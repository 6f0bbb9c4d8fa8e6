// bench_rewards: rewards per second per thread for a math reward (boxed answer + exact
// math_equal + <think> format) on synthetic completions, through each path we ship, next to
// the naive peer (a fresh Lua state per sample) and the bound (the C++ helpers called
// directly, no Lua). Prints a table; no thresholds.
//   usage: bench_rewards [SAMPLES=100000] [WORKERS=2]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "rewards/answer.h"
#include "rewards/reward_script.h"
#include "rewards/scorer.h"

using namespace grpo::rewards;
using Clock = std::chrono::steady_clock;

namespace {

const char* kScript = R"lua(
function reward(sample)
  local text = grpo.after_think(sample.completion) or sample.completion
  local got = grpo.boxed(text) or grpo.after_hashes(text) or grpo.last_number(text)
  local correct = got ~= nil and grpo.math_equal(got, sample.answer)
  return { score = correct and 1 or 0, format = grpo.think_format(sample.completion) }
end
)lua";

// ~1 KB completions: reasoning with numbers, then a boxed fraction; every third one wrong.
std::vector<SampleGroup> make_groups(int samples, int group_size) {
  std::vector<SampleGroup> groups;
  std::string filler;
  for (int i = 0; filler.size() < 900; ++i)
    filler += "Step " + std::to_string(i) + ": multiply " + std::to_string(i * 37 % 101) + " by 3, carry the 1. ";
  for (int i = 0; i < samples; ++i) {
    if (i % group_size == 0) groups.emplace_back();
    const int p = i / group_size % 97 + 1, q = 2 * p;
    const std::string boxed = (i % 3 == 2) ? "\\frac{" + std::to_string(p + 1) + "}{" + std::to_string(q) + "}"
                                           : "\\dfrac{" + std::to_string(p) + "}{" + std::to_string(q) + "}";
    groups.back().push_back({{"prompt", "What is " + std::to_string(p) + "/" + std::to_string(q) + "?"},
                             {"completion", "<think>" + filler + "</think> The answer is $\\boxed{" + boxed + "}$."},
                             {"answer", "0.5"},
                             {"finish_reason", "stop"}});
  }
  return groups;
}

struct Row {
  std::string path;
  long long samples;
  double seconds;
  int threads;
  double checksum;
};

void print(const Row& r) {
  const double rate = r.samples / r.seconds;
  std::printf("| %-44s | %8lld | %8.3f | %12.0f | %12.0f | %8.2f | %6.0f |\n", r.path.c_str(), r.samples, r.seconds,
              rate, rate / r.threads, 1e6 * r.seconds * r.threads / r.samples, r.checksum);
}

double sum_scores(const ScoredBatch& b) {
  double s = 0;
  for (const auto& g : b.groups)
    for (const auto& r : g) s += r.score;
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 100000;
  const int workers = argc > 2 ? std::atoi(argv[2]) : 2;
  const int group_size = 8;
  auto groups = make_groups(n, group_size);
  std::printf("bench_rewards: %d samples (~%zu-byte completions, groups of %d), math reward\n\n", n,
              groups[0][0]["completion"].get_ref<const std::string&>().size(), group_size);
  std::printf("| %-44s | %8s | %8s | %12s | %12s | %8s | %6s |\n", "path", "samples", "seconds", "samples/s",
              "per thread", "us/samp", "sum");
  std::printf("|%s|%s|%s|%s|%s|%s|%s|\n", std::string(46, '-').c_str(), std::string(10, '-').c_str(),
              std::string(10, '-').c_str(), std::string(14, '-').c_str(), std::string(14, '-').c_str(),
              std::string(10, '-').c_str(), std::string(8, '-').c_str());

  {  // Bound: the same work in C++ without Lua.
    auto t0 = Clock::now();
    double sum = 0;
    for (const auto& g : groups)
      for (const auto& s : g) {
        const std::string& c = s["completion"].get_ref<const std::string&>();
        auto tail = after_think(c);
        auto got = last_boxed(tail ? *tail : c);
        sum += (got && math_equal(*got, s["answer"].get_ref<const std::string&>())) ? 1 : 0;
        (void)think_format(c);
      }
    print(
        {"C++ helpers directly (bound, no Lua)", n, std::chrono::duration<double>(Clock::now() - t0).count(), 1, sum});
  }
  ScriptOptions options;
  {  // The in-process path: one reused, sandboxed state.
    RewardScript script(kScript, "math.lua", options);
    auto t0 = Clock::now();
    double sum = 0;
    for (const auto& g : groups)
      for (size_t i = 0; i < g.size(); ++i) sum += script.score(g[i], static_cast<int>(i + 1)).score;
    print({"RewardScript in process (1 thread)", n, std::chrono::duration<double>(Clock::now() - t0).count(), 1, sum});
  }
  for (int w : {1, workers}) {  // The pool: fork, JSON over a socket, deadline per sample.
    ScorerOptions so;
    so.script = options;
    so.workers = w;
    Scorer scorer(kScript, "math.lua", so);
    auto t0 = Clock::now();
    ScoredBatch b = scorer.score(groups);
    print({"Scorer, " + std::to_string(w) + " worker process(es)", n,
           std::chrono::duration<double>(Clock::now() - t0).count(), w, sum_scores(b)});
  }
  {  // Peer: what a naive host does, a fresh state (libraries + compile) for every sample.
    const int m = n / 50 > 0 ? n / 50 : 1;
    auto t0 = Clock::now();
    double sum = 0;
    int done = 0;
    for (const auto& g : groups)
      for (size_t i = 0; i < g.size() && done < m; ++i, ++done) {
        RewardScript fresh(kScript, "math.lua", options);
        sum += fresh.score(g[i], static_cast<int>(i + 1)).score;
      }
    print({"peer: fresh sandboxed state per sample", m, std::chrono::duration<double>(Clock::now() - t0).count(), 1,
           sum});
  }
  {  // The code reward: grpo.run_lua with 3 hidden tests, a fresh nested state per test.
    const char* code_script = R"lua(
      function reward(s)
        local r = grpo.run_lua(s.completion, s.tests, { instructions = 1000000, timeout_ms = 500 })
        return r.passed / r.total
      end)lua";
    RewardScript script(code_script, "code.lua", options);
    const nlohmann::json sample = {
        {"completion", "function f(x)\n  if x > 7 then\n    return 0\n  end\n  return x\nend"},
        {"tests", {"return f(3) == 3", "return f(8) == 0", "return f(7) == 7"}}};
    const int m = n / 20 > 0 ? n / 20 : 1;
    auto t0 = Clock::now();
    double sum = 0;
    for (int i = 0; i < m; ++i) sum += script.score(sample, 1).score;
    print({"code reward: run_lua, 3 tests (in process)", m, std::chrono::duration<double>(Clock::now() - t0).count(), 1,
           sum});
  }
  std::printf(
      "\nper thread = samples/s divided by the threads or worker processes used; sum = total score "
      "(the same work must give the same sum: 2/3 of the samples are correct).\n");
  return 0;
}
