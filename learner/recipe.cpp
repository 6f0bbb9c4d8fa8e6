#include "learner/recipe.h"

#include <cmath>
#include <filesystem>
#include <set>
#include <sstream>

#include "common/atomic_file.h"
#include "common/error.h"

namespace grpo::learner {

using nlohmann::json;
using T = RecipeKey::Type;

const std::vector<RecipeKey>& recipe_schema() {
  static const std::vector<RecipeKey> schema = {
      // model
      {"model",
       "init",
       T::kPath,
       "",
       0,
       0,
       {},
       "checkpoint folder to start from (Hugging Face layout); empty: build from model.config"},
      {"model",
       "config",
       T::kPath,
       "",
       0,
       0,
       {},
       "config.json for a model built from scratch when model.init is empty"},
      {"model",
       "precision",
       T::kChoice,
       "fp32",
       0,
       0,
       {"fp32", "bf16", "fp8"},
       "compute precision of the policy (master weights stay FP32)"},
      // data
      {"data",
       "train",
       T::kPath,
       "",
       0,
       0,
       {},
       "training prompts, JSONL with a `prompt` field plus what the reward reads; required unless task.family "
       "generates them"},
      {"data",
       "eval",
       T::kPath,
       "",
       0,
       0,
       {},
       "held-out prompts for `grpo eval` and `grpo run`'s evaluations; empty: no evaluation"},
      {"data", "shuffle", T::kBool, true, 0, 0, {}, "shuffle the training prompts each epoch (seeded by train.seed)"},
      // reward
      {"reward", "script", T::kPath, nullptr, 0, 0, {}, "Lua reward script defining reward(sample)"},
      {"reward", "fallback", T::kNumber, 0.0, -1e9, 1e9, {}, "score given to a sample whose script call failed"},
      {"reward", "timeout_ms", T::kInteger, 2000, 1, 600000, {}, "wall-clock limit per sample"},
      {"reward", "memory_mb", T::kInteger, 64, 1, 65536, {}, "memory cap of the Lua state per sample"},
      {"reward", "workers", T::kInteger, 1, 1, 1024, {}, "reward scoring processes per reward actor"},
      // rollout
      {"rollout", "group_size", T::kInteger, 8, 1, 4096, {}, "G: completions sampled per prompt"},
      {"rollout",
       "prompts_per_step",
       T::kInteger,
       16,
       1,
       1 << 20,
       {},
       "prompts per training step (batch = prompts × G)"},
      {"rollout", "max_new_tokens", T::kInteger, 256, 1, 1 << 20, {}, "generation budget per completion"},
      {"rollout", "temperature", T::kNumber, 1.0, 0, 100, {}, "sampling temperature; 0 = greedy"},
      {"rollout", "top_p", T::kNumber, 1.0, 1e-9, 1, {}, "nucleus sampling mass, (0, 1]"},
      {"rollout", "top_k", T::kInteger, 0, 0, 1 << 30, {}, "keep the k most likely tokens; 0 = off"},
      {"rollout", "min_p", T::kNumber, 0.0, 0, 0.999999, {}, "drop tokens below min_p × the most likely one; 0 = off"},
      {"rollout", "stop", T::kStringList, json::array(), 0, 0, {}, "stop strings, checked on decoded text"},
      {"rollout", "mtp_draft", T::kBool, false, 0, 0, {}, "speculative decoding with the MTP head(s)"},
      // optim
      {"optim", "lr", T::kNumber, 1e-5, 0, 1, {}, "peak learning rate (AdamW)"},
      {"optim", "warmup_steps", T::kInteger, 0, 0, 1 << 30, {}, "linear warm-up from 0 to lr"},
      {"optim",
       "schedule",
       T::kChoice,
       "constant",
       0,
       0,
       {"constant", "cosine"},
       "learning-rate schedule after warm-up"},
      {"optim", "min_lr_ratio", T::kNumber, 0.1, 0, 1, {}, "cosine floor as a fraction of lr"},
      {"optim", "weight_decay", T::kNumber, 0.0, 0, 10, {}, "AdamW decoupled weight decay"},
      {"optim", "beta1", T::kNumber, 0.9, 0, 0.999999, {}, "AdamW β1"},
      {"optim", "beta2", T::kNumber, 0.999, 0, 0.999999999, {}, "AdamW β2"},
      {"optim", "eps", T::kNumber, 1e-8, 1e-30, 1, {}, "AdamW ε"},
      {"optim", "grad_clip", T::kNumber, 1.0, 0, 1e9, {}, "global gradient-norm clip; 0 = off"},
      {"optim", "updates_per_batch", T::kInteger, 1, 1, 1024, {}, "optimizer steps per rollout batch (mini-batches)"},
      {"optim",
       "micro_batch_tokens",
       T::kInteger,
       4096,
       16,
       1 << 30,
       {},
       "tokens per forward/backward (gradient accumulation)"},
      // train
      {"train", "steps", T::kInteger, 200, 1, 1 << 30, {}, "training steps (one rollout batch each)"},
      {"train",
       "save_every",
       T::kInteger,
       50,
       0,
       1 << 30,
       {},
       "checkpoint every N steps (and at the end); 0 = end only"},
      {"train", "keep_last", T::kInteger, 3, 1, 1 << 20, {}, "checkpoints kept in the run folder"},
      {"train", "seed", T::kInteger, 1, 0, 1e15, {}, "seed of data order, sampling and initialisation"},
      {"train", "run_dir", T::kPath, "", 0, 0, {}, "run folder; empty: runs/<recipe name>"},
      {"train",
       "ref_refresh_every",
       T::kInteger,
       0,
       0,
       1 << 30,
       {},
       "copy the policy into the KL reference every N steps; 0 = never"},
      {"train",
       "mtp_loss_coef",
       T::kNumber,
       0.0,
       0,
       100,
       {},
       "weight of the MTP loss so the draft head follows the policy; 0 = off"},
      {"train",
       "bias_update_speed",
       T::kNumber,
       0.001,
       0,
       1,
       {},
       "γ of the MoE routing-bias update after each step (auxiliary-loss-free balancing, DeepSeek-V3: 0.001); 0 = off"},
      // task: synthetic data that `grpo run` generates before the other stages
      {"task",
       "family",
       T::kChoice,
       "",
       0,
       0,
       {"", "math", "code"},
       "task family whose train/eval prompts and SFT traces `grpo run` generates; empty: data.train and data.eval are "
       "given"},
      {"task",
       "seed",
       T::kInteger,
       1,
       0,
       1e15,
       {},
       "seed of the generated tasks (the eval set uses a derived seed, so no prompt is in both)"},
      {"task", "train_prompts", T::kInteger, 2000, 1, 1 << 24, {}, "generated RL training prompts"},
      {"task", "eval_prompts", T::kInteger, 200, 1, 1 << 24, {}, "generated held-out prompts"},
      {"task",
       "sft_examples",
       T::kInteger,
       4000,
       0,
       1 << 24,
       {},
       "generated SFT traces for the base policy; 0 = no SFT stage"},
      {"task", "min_difficulty", T::kInteger, 1, 1, 4, {}, "easiest level generated"},
      {"task", "max_difficulty", T::kInteger, 4, 1, 4, {}, "hardest level generated"},
      {"task", "max_value", T::kInteger, 20, 2, 1000, {}, "largest operand in a generated problem"},
      {"task",
       "max_result",
       T::kInteger,
       400,
       2,
       1000000,
       {},
       "largest intermediate quantity in a generated math problem (a step is redrawn to stay below it)"},
      {"task",
       "shortcut_fraction",
       T::kNumber,
       0.0,
       0,
       1,
       {},
       "share of SFT traces that state an answer without working it out"},
      {"task",
       "drill_fraction",
       T::kNumber,
       0.0,
       0,
       1,
       {},
       "share of SFT examples that are arithmetic practice sheets (math; the base policy's pretraining)"},
      {"task",
       "flawed_fraction",
       T::kNumber,
       0.0,
       0,
       1,
       {},
       "share of SFT traces with one mistake that makes the answer wrong"},
      // tokenizer
      {"tokenizer",
       "vocab_size",
       T::kInteger,
       0,
       0,
       1 << 20,
       {},
       "train a byte-level BPE tokenizer of this size on the SFT traces when the model is built from scratch; 0 = "
       "none"},
      // sft
      {"sft", "steps", T::kInteger, 200, 1, 1 << 30, {}, "optimizer steps of the SFT stage that makes the base policy"},
      {"sft", "batch", T::kInteger, 32, 1, 1 << 20, {}, "sequences per SFT step"},
      {"sft", "lr", T::kNumber, 1e-3, 0, 1, {}, "peak SFT learning rate (AdamW, cosine to 10%)"},
      {"sft", "warmup_steps", T::kInteger, 20, 0, 1 << 30, {}, "SFT linear warm-up"},
      {"sft",
       "data",
       T::kPath,
       "",
       0,
       0,
       {},
       "prompt/completion JSONL for `grpo sft RECIPE`; empty: `grpo run` generates it from task"},
      {"sft", "out", T::kPath, "", 0, 0, {}, "checkpoint folder `grpo sft RECIPE` writes; empty: <run folder>/sft"},
      {"sft",
       "micro_batch_tokens",
       T::kInteger,
       4096,
       16,
       1 << 30,
       {},
       "padded tokens per SFT forward/backward (gradient accumulation)"},
      // eval
      {"eval",
       "samples",
       T::kInteger,
       8,
       1,
       4096,
       {},
       "K: samples per held-out prompt for mean@K and pass@K (pass@1 is greedy)"},
      {"eval", "temperature", T::kNumber, 1.0, 1e-6, 100, {}, "sampling temperature for mean@K and pass@K"},
      // runtime
      {"runtime",
       "threads",
       T::kInteger,
       0,
       0,
       4096,
       {},
       "LibTorch threads for the model's math; 0 = LibTorch's default (all cores). 1 is fastest on a machine busy with "
       "other work"},
      {"runtime",
       "mode",
       T::kChoice,
       "threads",
       0,
       0,
       {"threads", "processes"},
       "actors as threads of one process, or one process each"},
      {"runtime", "rollout_workers", T::kInteger, 1, 1, 4096, {}, "rollout actors"},
      {"runtime", "reward_workers", T::kInteger, 1, 1, 4096, {}, "reward actors"},
      {"runtime",
       "max_staleness",
       T::kInteger,
       0,
       0,
       1024,
       {},
       "accept trajectories up to N weight versions old; 0 = synchronous"},
      {"runtime",
       "weight_sync",
       T::kChoice,
       "auto",
       0,
       0,
       {"auto", "nccl", "zmq", "shm"},
       "how new weights reach rollout workers"},
      {"runtime",
       "weight_format",
       T::kChoice,
       "fp32",
       0,
       0,
       {"fp32", "bf16", "fp8"},
       "what a published weight version carries: the FP32 master weights (rollout samples from exactly the learner's "
       "policy), or the learner's BF16 / FP8 (128x128 blocks) quantization of them, half or a quarter of the bytes; "
       "is/* then shows the rollout-learner mismatch"},
      {"runtime", "transport", T::kChoice, "inproc", 0, 0, {"inproc", "ipc", "tcp"}, "ZeroMQ transport between actors"},
      {"runtime",
       "heartbeat_timeout_s",
       T::kNumber,
       10.0,
       0.5,
       3600,
       {},
       "a worker silent this long is declared lost: its prompts go to the others (and in process mode it is "
       "restarted)"},
      {"runtime",
       "interface",
       T::kString,
       "127.0.0.1",
       0,
       0,
       {},
       "address the learner binds for launcher ranks on other hosts (tcp); the loopback default keeps a run private to "
       "its host"},
      {"runtime",
       "curve_key_file",
       T::kPath,
       "",
       0,
       0,
       {},
       "shared-key file (ZeroMQ CURVE) for tcp endpoints: every rank reads the same file, traffic is encrypted and a "
       "peer without the key cannot connect; empty = off. Make one with `openssl rand -hex 32 > FILE && chmod 600 "
       "FILE`"},
  };
  return schema;
}

namespace {

std::string type_name(T t) {
  switch (t) {
    case T::kNumber:
      return "number";
    case T::kInteger:
      return "integer";
    case T::kBool:
      return "true/false";
    case T::kString:
      return "string";
    case T::kPath:
      return "path";
    case T::kChoice:
      return "one of";
    case T::kStringList:
      return "list of strings";
  }
  return "?";
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::string fmt(double x) {
  std::ostringstream s;
  s << x;
  return s.str();
}

json check_value(const RecipeKey& k, const json& v, const std::string& file, const std::string& dir) {
  const std::string where = k.section + "." + k.key;
  auto wrong = [&](const std::string& expected) {
    return file_error(file, where, "expected " + expected + ", got " + std::string(v.type_name()) + " " + v.dump());
  };
  switch (k.type) {
    case T::kNumber:
    case T::kInteger: {
      if (!v.is_number()) throw wrong(type_name(k.type));
      const double x = v.get<double>();
      if (k.type == T::kInteger && (std::floor(x) != x)) throw wrong("an integer");
      if (!(x >= k.min && x <= k.max))
        throw file_error(file, where, "value " + v.dump() + " out of range [" + fmt(k.min) + ", " + fmt(k.max) + "]");
      return k.type == T::kInteger ? json(static_cast<long long>(x)) : json(x);
    }
    case T::kBool:
      if (!v.is_boolean()) throw wrong("true or false");
      return v;
    case T::kString:
      if (!v.is_string()) throw wrong("a string");
      return v;
    case T::kPath: {
      if (!v.is_string()) throw wrong("a path (string)");
      std::string p = v.get<std::string>();
      if (!p.empty() && p[0] != '/') p = (std::filesystem::path(dir) / p).lexically_normal().string();
      return p;
    }
    case T::kChoice: {
      if (!v.is_string()) throw wrong("one of " + join(k.choices));
      const std::string s = v.get<std::string>();
      for (const auto& c : k.choices)
        if (c == s) return v;
      throw file_error(file, where, "'" + s + "' is not allowed (allowed: " + join(k.choices) + ")");
    }
    case T::kStringList:
      if (!v.is_array()) throw wrong("a list of strings");
      for (const auto& e : v)
        if (!e.is_string()) throw wrong("a list of strings");
      return v;
  }
  return v;
}

}  // namespace

namespace {

// Rules that span two keys (or a key and the algorithm preset): checked here, in the one parse,
// so `grpo train --dry-run` reports them before anything starts.
void check_cross_keys(const Recipe& r) {
  const json& v = r.values;
  const uint64_t max_staleness = v["runtime"]["max_staleness"].get<uint64_t>();
  if (r.algorithm.refill_rounds > 0 && !r.algorithm.drop_equal_groups)
    throw file_error(r.file, "algorithm.refill_rounds",
                     "refills replace dropped groups: set algorithm.drop_equal_groups true (or refill_rounds 0)");
  if (r.algorithm.refill_rounds > 0 && max_staleness > 0)
    throw file_error(
        r.file, "algorithm.refill_rounds",
        "needs synchronous rollouts (runtime.max_staleness 0): a refill samples from the weights the step trains");
  if (v["runtime"]["weight_sync"] == "nccl" && max_staleness > 0)
    throw file_error(r.file, "runtime.weight_sync",
                     "\"nccl\" needs synchronous rollouts (runtime.max_staleness 0): every rollout worker joins every "
                     "broadcast, and asynchronous workers are busy generating at different times; use \"auto\" "
                     "(ZeroMQ) instead");
}

}  // namespace

Recipe resolve_recipe(const json& raw, const std::string& file) {
  if (!raw.is_object())
    throw file_error(file, "", "a recipe is one JSON object with sections (model, data, reward, ...)");
  Recipe r;
  r.file = file;
  r.dir = std::filesystem::path(file).parent_path().string();
  if (r.dir.empty()) r.dir = ".";
  std::set<std::string> sections = {"algorithm"};
  for (const auto& k : recipe_schema()) sections.insert(k.section);
  for (const auto& [name, body] : raw.items()) {
    if (name == "name" || name == "description") continue;  // free text
    if (!sections.count(name))
      throw file_error(
          file, name, "unknown section (allowed: " + join({sections.begin(), sections.end()}) + ", name, description)");
    if (!body.is_object()) throw file_error(file, name, "expected an object, got " + std::string(body.type_name()));
  }
  r.values = json::object();
  r.values["name"] = raw.value("name", std::filesystem::path(r.dir).filename().string());
  for (const auto& k : recipe_schema()) {
    const json* given = nullptr;
    if (raw.contains(k.section) && raw[k.section].contains(k.key)) given = &raw[k.section][k.key];
    if (!given && k.default_value.is_null())
      throw file_error(file, k.section + "." + k.key, "required key is missing (" + k.doc + ")");
    r.values[k.section][k.key] = check_value(k, given ? *given : k.default_value, file, r.dir);
  }
  // Unknown keys within known sections.
  for (const auto& [section, body] : raw.items()) {
    if (section == "algorithm" || section == "name" || section == "description") continue;
    for (const auto& [key, _] : body.items()) {
      if (r.values[section].contains(key)) continue;
      std::vector<std::string> allowed;
      for (const auto& k : recipe_schema())
        if (k.section == section) allowed.push_back(k.key);
      throw file_error(file, section + "." + key, "unknown key (allowed in " + section + ": " + join(allowed) + ")");
    }
  }
  if (r.values["data"]["train"].get<std::string>().empty() && r.values["task"]["family"].get<std::string>().empty())
    throw file_error(
        file, "data.train",
        "required key is missing (a JSONL of training prompts), unless task.family names a generated task");
  if (r.values["task"]["min_difficulty"].get<long>() > r.values["task"]["max_difficulty"].get<long>())
    throw file_error(file, "task.min_difficulty", "is above task.max_difficulty");
  if (r.values["model"]["init"].get<std::string>().empty() && r.values["model"]["config"].get<std::string>().empty())
    throw file_error(file, "model",
                     "give model.init (a checkpoint folder) or model.config (a config.json to start from scratch)");
  r.algorithm = parse_algorithm_config(raw.value("algorithm", json::object()), file,
                                       r.values["rollout"]["max_new_tokens"].get<long>());
  check_cross_keys(r);
  return r;
}

Recipe load_recipe(const std::string& path) {
  std::string file = path;
  if (std::filesystem::is_directory(path)) file = (std::filesystem::path(path) / "recipe.json").string();
  json raw;
  try {
    raw = json::parse(read_file(file));
  } catch (const json::parse_error& e) {
    throw file_error(file, "", std::string("not valid JSON: ") + e.what());
  }
  return resolve_recipe(raw, file);
}

std::string Recipe::run_dir() const {
  const std::string dir = values.at("train").at("run_dir").get<std::string>();
  return dir.empty() ? "runs/" + values.at("name").get<std::string>() : dir;
}

json Recipe::resolved() const {
  json out = values;
  out["algorithm"] = to_json(algorithm);
  return out;
}

std::string recipe_schema_markdown() {
  std::string out = "| key | type | default | range / values | meaning |\n|---|---|---|---|---|\n";
  for (const auto& k : recipe_schema()) {
    std::string range;
    if (k.type == T::kNumber || k.type == T::kInteger) range = fmt(k.min) + " … " + fmt(k.max);
    if (k.type == T::kChoice) range = join(k.choices);
    const std::string dflt = k.default_value.is_null() ? "required" : k.default_value.dump();
    out += "| `" + k.section + "." + k.key + "` | " + type_name(k.type) + " | `" + dflt + "` | " + range + " | " +
           k.doc + " |\n";
  }
  return out;
}

}  // namespace grpo::learner
