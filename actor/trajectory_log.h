// Write-ahead log of scored trajectory groups: the audit log of what a run trained on
// (DESIGN.md: nothing written is lost).
//
// The learner appends every ScoredGroup it takes into a step here, durably, before it trains on
// it. Each record carries the reward script's hash, the seed in the prompt's sampling settings
// and the weight versions of its tokens, because they travel in the message, so the log answers
// "which completions, scored by which script, sampled from which weights, went into step N".
//
// It is not replayed on resume: a checkpoint records the log's length, `grpo train --resume` cuts
// the log back to it (actor/checkpointer.h) and samples the later steps again with the same seeds,
// which writes the same records again — the continuation is bit-identical to an uninterrupted
// run, and the log of a resumed run equals the uninterrupted run's byte for byte.
//
// File format (`trajectories.wal`): records of
//   u32 LE payload length | u32 LE CRC-32 of the payload | payload
// where the payload is the message's frames, each as u32 LE length + bytes. A crash can leave a
// torn last record; opening the log truncates it (the CRC or the length tells) and keeps the rest.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "actor/transport/messages.h"

namespace grpo::actor {

class TrajectoryLog {
 public:
  // Opens (or creates) the log in `run_dir`. Reads the existing records, truncating a torn tail.
  explicit TrajectoryLog(const std::string& run_dir);
  ~TrajectoryLog();
  TrajectoryLog(const TrajectoryLog&) = delete;
  TrajectoryLog& operator=(const TrajectoryLog&) = delete;

  // Appends and flushes to disk (fsync) before returning: once this returns, the group survives
  // a crash. Throws grpo::Error (naming the file) if the disk is full or the write fails; the log
  // is then rolled back to its previous end so it stays readable.
  void append(const ScoredGroup& group);

  // Record `index` (0-based, in append order); every record, oldest first.
  ScoredGroup read(uint64_t index) const;
  std::vector<ScoredGroup> read_all() const;

  uint64_t size() const { return offsets_.size(); }
  // Bytes dropped from a torn tail when the log was opened (0 after a clean shutdown).
  uint64_t truncated_bytes() const { return truncated_bytes_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
  std::vector<uint64_t> offsets_;  // start of each record
  uint64_t end_ = 0;
  uint64_t truncated_bytes_ = 0;
};

}  // namespace grpo::actor
