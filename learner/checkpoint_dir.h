// Run checkpoints as folders that are either complete or recognisably not.
//
// A checkpoint `checkpoints/step-N/` is first written as `checkpoints/.tmp-step-N/`; then a
// `COMPLETE` manifest (every file's size and CRC-32) is written last, fsynced, and the folder is
// renamed into place. A folder without a manifest, or whose files differ from it (a copy cut
// short, a disk that filled mid-write, a truncated file), is incomplete: resuming skips it,
// names it and the problem, and uses the newest complete one.
#pragma once

#include <string>
#include <vector>

namespace grpo::learner {

// Writes the manifest of every regular file under `tmp_dir` (recursively) and renames `tmp_dir`
// to `final_dir`, replacing an existing `final_dir` (e.g. an incomplete one from a killed run).
void commit_checkpoint_dir(const std::string& tmp_dir, const std::string& final_dir);

// Empty when `dir` has a manifest and every file in it has the recorded size and CRC-32;
// otherwise what is wrong ("no COMPLETE manifest", "model.safetensors: 120 bytes, manifest says 4096").
std::string verify_checkpoint_dir(const std::string& dir);

struct CheckpointFolder {
  long step = 0;
  std::string path;
  std::string problem;  // empty: complete
};

// The step-N folders under `checkpoints_dir`, oldest first; each verified when `verify` (this
// reads every file, so pruning skips it).
std::vector<CheckpointFolder> list_checkpoints(const std::string& checkpoints_dir, bool verify = true);

// The newest complete checkpoint (step 0 and an empty path when there is none); the incomplete
// ones newer than it are appended to `skipped` when given.
CheckpointFolder latest_complete_checkpoint(const std::string& checkpoints_dir,
                                            std::vector<CheckpointFolder>* skipped = nullptr);

// Keeps the newest `keep` step-N folders and removes older ones, plus leftover .tmp-* folders.
void prune_checkpoints(const std::string& checkpoints_dir, long keep);

// Removes a folder tree (nftw; std::filesystem::remove_all is broken in libtorch-linked code).
void remove_tree(const std::string& path);

}  // namespace grpo::learner
