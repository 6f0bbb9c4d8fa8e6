// Write-ahead log of scored trajectory groups (DESIGN.md: nothing written is lost).
//
// The learner appends every ScoredGroup here before it trains on it, and records separately how
// many records it has consumed (trained on). A resumed run replays the records after that cursor
// instead of losing them. Each record carries the reward script's hash, the seed in the prompt's
// sampling settings and the weight versions of its tokens, because they travel in the message.
//
// File format (`trajectories.wal`): records of
//   u32 LE payload length | u32 LE CRC-32 of the payload | payload
// where the payload is the message's frames, each as u32 LE length + bytes. A crash can leave a
// torn last record; opening the log truncates it (the CRC or the length tells) and keeps the rest.
// The cursor file (`trajectories.cursor`) holds the number of consumed records, written atomically.
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

  // Records not yet consumed, oldest first (what a resumed learner must train on first).
  std::vector<ScoredGroup> unconsumed() const;
  // Marks the first `count` records as consumed (monotonic; persisted atomically).
  void mark_consumed(uint64_t count);

  uint64_t size() const { return offsets_.size(); }
  uint64_t consumed() const { return consumed_; }
  // Bytes dropped from a torn tail when the log was opened (0 after a clean shutdown).
  uint64_t truncated_bytes() const { return truncated_bytes_; }
  const std::string& path() const { return path_; }

 private:
  ScoredGroup read_record(uint64_t index) const;

  std::string path_;
  std::string cursor_path_;
  int fd_ = -1;
  std::vector<uint64_t> offsets_;  // start of each record
  uint64_t end_ = 0;
  uint64_t consumed_ = 0;
  uint64_t truncated_bytes_ = 0;
};

}  // namespace grpo::actor
