#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "common/atomic_file.h"
#include "common/error.h"
#include "learner/checkpoint_dir.h"
#include "learner/trainer_state.h"

using namespace grpo::learner;

namespace {

std::string temp_dir() {
  char tmpl[] = "/tmp/grpo_tstate_XXXXXX";
  return ::mkdtemp(tmpl);
}

// A few AdamW steps on a small regression so the moments and step counts are not trivial.
void train(torch::nn::Linear& lin, torch::optim::AdamW& opt, int steps, int64_t seed) {
  torch::manual_seed(seed);
  for (int i = 0; i < steps; ++i) {
    opt.zero_grad();
    auto x = torch::randn({8, 4});
    lin(x).pow(2).sum().backward();
    opt.step();
  }
}

}  // namespace

TEST(TrainerState, AdamWRestoredFromDiskContinuesBitIdentically) {
  const auto dir = temp_dir();
  torch::nn::Linear a(4, 3);
  torch::optim::AdamW opt_a(a->parameters(), torch::optim::AdamWOptions(1e-2).weight_decay(0.1));
  train(a, opt_a, 3, 1);

  TrainerState st;
  st.step = 3;
  std::mt19937_64 rng(7);
  rng();
  st.data_rng = rng_to_string(rng);
  st.order = {2, 0, 1};
  st.cursor = 1;
  st.metrics_lines = 3;
  st.trajectory_records = 9;
  st.trajectory_bytes = 1234;
  st.reference_step = 2;
  save_trainer_state(dir, st, opt_a);
  const auto after_save = torch::rand({4});  // the torch RNG moves on after the save...

  torch::nn::Linear b(4, 3);
  {
    torch::NoGradGuard no_grad;
    b->weight.copy_(a->weight);
    b->bias.copy_(a->bias);
  }
  torch::optim::AdamW opt_b(b->parameters(), torch::optim::AdamWOptions(1e-2).weight_decay(0.1));
  auto back = load_trainer_state(dir, opt_b);
  EXPECT_TRUE(torch::equal(torch::rand({4}), after_save));  // ...and is restored to where it was saved
  EXPECT_EQ(back.step, 3);
  EXPECT_EQ(back.order, (std::vector<size_t>{2, 0, 1}));
  EXPECT_EQ(back.cursor, 1u);
  EXPECT_EQ(back.metrics_lines, 3u);
  EXPECT_EQ(back.trajectory_records, 9u);
  EXPECT_EQ(back.trajectory_bytes, 1234u);
  EXPECT_EQ(back.reference_step, 2);
  auto rng_back = rng_from_string(back.data_rng, "state.json");
  EXPECT_EQ(rng_back(), rng());

  // Same further steps from both: bit-identical weights (moments and step counts restored).
  train(a, opt_a, 2, 5);
  train(b, opt_b, 2, 5);
  EXPECT_TRUE(torch::equal(a->weight, b->weight));
  EXPECT_TRUE(torch::equal(a->bias, b->bias));
  // And a fresh optimizer (no moments) would not be: the test can fail.
  torch::nn::Linear c(4, 3);
  {
    torch::NoGradGuard no_grad;
    c->weight.copy_(b->weight);
    c->bias.copy_(b->bias);
  }
  torch::optim::AdamW opt_c(c->parameters(), torch::optim::AdamWOptions(1e-2).weight_decay(0.1));
  train(b, opt_b, 1, 9);
  train(c, opt_c, 1, 9);
  EXPECT_FALSE(torch::equal(b->weight, c->weight));
  remove_tree(dir);
}

TEST(TrainerState, BadStateNamesTheFile) {
  const auto dir = temp_dir();
  grpo::write_file_atomic(dir + "/state.json", "{\"format\": \"other\"}");
  torch::nn::Linear a(2, 2);
  torch::optim::AdamW opt(a->parameters(), torch::optim::AdamWOptions(1e-2));
  try {
    load_trainer_state(dir, opt);
    FAIL() << "accepted a foreign state.json";
  } catch (const grpo::Error& e) {
    EXPECT_NE(std::string(e.what()).find(dir + "/state.json"), std::string::npos) << e.what();
  }
  remove_tree(dir);
}

TEST(TrainerState, TruncateLinesKeepsThePrefix) {
  const auto dir = temp_dir();
  grpo::write_file_atomic(dir + "/m.jsonl", "{\"step\":1}\n{\"step\":2}\n{\"step\":3}\n");
  EXPECT_EQ(count_lines(dir + "/m.jsonl"), 3u);
  truncate_lines(dir + "/m.jsonl", 2);
  EXPECT_EQ(grpo::read_file(dir + "/m.jsonl"), "{\"step\":1}\n{\"step\":2}\n");
  EXPECT_EQ(count_lines(dir + "/missing.jsonl"), 0u);
  remove_tree(dir);
}
