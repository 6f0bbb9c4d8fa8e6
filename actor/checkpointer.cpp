#include "actor/checkpointer.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "common/atomic_file.h"
#include "common/error.h"
#include "model/checkpoint.h"

namespace grpo::actor {

namespace fs = std::filesystem;

Checkpointer::Checkpointer(const std::string& run_dir, long keep_last, std::string tokenizer_file)
    : dir_(run_dir + "/checkpoints"), keep_last_(keep_last), tokenizer_file_(std::move(tokenizer_file)) {
  fs::create_directories(dir_);
}

void Checkpointer::save(const RunPosition& position, model::CausalLM& policy, model::CausalLM* reference,
                        torch::optim::Optimizer& optimizer, const TrajectoryLog& trajectories) const {
  const std::string name = "step-" + std::to_string(position.step);
  const std::string tmp = dir_ + "/.tmp-" + name;
  learner::remove_tree(tmp);
  model::save_checkpoint(policy, tmp);
  if (!tokenizer_file_.empty()) write_file_atomic(tmp + "/tokenizer.json", read_file(tokenizer_file_));
  learner::TrainerState st;
  st.step = position.step;
  st.data_rng = position.data.rng;
  st.order = position.data.order;
  st.cursor = position.data.cursor;
  st.metrics_lines = position.metrics_lines;
  st.trajectory_records = trajectories.size();
  std::error_code ec;
  st.trajectory_bytes = fs::file_size(trajectories.path(), ec);
  if (ec) st.trajectory_bytes = 0;
  st.reference_step = position.reference_step;
  learner::save_trainer_state(tmp + "/trainer_state", st, optimizer);
  if (reference) model::save_checkpoint(*reference, tmp + "/trainer_state/reference");
  learner::commit_checkpoint_dir(tmp, dir_ + "/" + name);
  learner::prune_checkpoints(dir_, keep_last_);
}

learner::CheckpointFolder find_resume_checkpoint(const std::string& run_dir) {
  const std::string dir = run_dir + "/checkpoints";
  if (!fs::is_directory(dir))
    throw file_error(run_dir, "checkpoints", "no checkpoints folder: is this a run folder written by grpo train?");
  std::vector<learner::CheckpointFolder> skipped;
  learner::CheckpointFolder found = learner::latest_complete_checkpoint(dir, &skipped);
  for (const auto& s : skipped)
    std::fprintf(stderr, "grpo train: skipping incomplete checkpoint %s: %s\n", s.path.c_str(), s.problem.c_str());
  if (found.path.empty())
    throw file_error(dir, "", "no complete checkpoint to resume from (start the run again without --resume)");
  if (!fs::exists(found.path + "/trainer_state/state.json"))
    throw file_error(found.path, "trainer_state",
                     "missing: this checkpoint was written without trainer state and cannot be resumed");
  return found;
}

void rewind_run_files(const std::string& run_dir, const learner::TrainerState& state) {
  learner::truncate_lines(run_dir + "/metrics.jsonl", state.metrics_lines);
  const std::string wal = run_dir + "/trajectories.wal";
  std::error_code ec;
  const auto size = fs::file_size(wal, ec);
  if (ec) {
    if (state.trajectory_bytes > 0)
      throw file_error(wal, "",
                       "missing, but the checkpoint says it had " + std::to_string(state.trajectory_bytes) + " bytes");
    return;
  }
  if (size < state.trajectory_bytes)
    throw file_error(
        wal, "",
        std::to_string(size) + " bytes, shorter than the checkpoint's " + std::to_string(state.trajectory_bytes));
  if (::truncate(wal.c_str(), static_cast<off_t>(state.trajectory_bytes)) != 0)
    throw file_error(wal, "", std::string("cannot truncate: ") + std::strerror(errno));
}

}  // namespace grpo::actor
