// GPU weight publication: the learner (rank 0) broadcasts one flat device buffer to the rollout
// ranks over a dedicated NCCL communicator, in buckets (spec runtime.md §4). The communicator's
// unique id is made on rank 0 and travels through the rendezvous as hex text. Errors are checked
// asynchronously: every wait polls ncclCommGetAsyncError against a deadline and calls
// ncclCommAbort on error or timeout, so a dead peer makes the learner throw, never hang.
// No CUDA or NCCL headers here: callers (and builds without NCCL) include only this file.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/hex.h"

namespace grpo::actor {

// A communicator failed or timed out (and was aborted); what() says which call and why.
class NcclError : public Error {
 public:
  using Error::Error;
};

// True when this build has NCCL (GRPO_NCCL=ON and CUDA + NCCL found). Without it every other
// function here throws NcclError.
bool nccl_built();

// CUDA devices this process sees; 0 without CUDA (or without NCCL in this build).
int cuda_device_count();

// The device a rank of this host should use: the launcher's local rank (LOCAL_RANK, SLURM_LOCALID,
// OMPI_COMM_WORLD_LOCAL_RANK) when set, else `fallback`, modulo the devices visible.
int local_cuda_device(int fallback);

constexpr size_t kNcclUniqueIdBytes = 128;  // sizeof(ncclUniqueId)

// Rank 0: a fresh communicator id (ncclGetUniqueId), hex-encoded for the rendezvous.
// Every communicator needs a new id (NVIDIA/nccl#1038).
std::string nccl_new_unique_id_hex();

// Hex text <-> bytes for ids passed through environment variables or messages (common/hex.h).
using grpo::bytes_to_hex;
using grpo::hex_to_bytes;

struct NcclBroadcastOptions {
  size_t bucket_bytes = 256u << 20;          // bytes per ncclBroadcast call
  std::chrono::milliseconds timeout{60000};  // for joining and for each broadcast
  // Polled with the asynchronous error: once it is true, a join or broadcast in progress aborts
  // the communicator and throws NcclError ("cancelled"). Lets another thread end a wait on peers
  // that are gone (shutting down) without calling into the communicator itself.
  const std::atomic<bool>* cancel = nullptr;
};

class NcclBroadcaster {
 public:
  // Joins communicator `unique_id_hex` as `rank` of `world` on CUDA device `device` (non-blocking
  // init, polled against options.timeout: a missing peer gives NcclError, not a hang).
  NcclBroadcaster(const std::string& unique_id_hex, int rank, int world, int device,
                  const NcclBroadcastOptions& options = {});
  ~NcclBroadcaster();  // ncclCommDestroy when healthy, ncclCommAbort when it failed
  NcclBroadcaster(const NcclBroadcaster&) = delete;
  NcclBroadcaster& operator=(const NcclBroadcaster&) = delete;

  // Broadcasts `bytes` bytes at `device_buffer` (device memory of this rank's device) from rank 0
  // to every rank, bucket by bucket, and waits until they are done. On an asynchronous error or
  // when options.timeout passes, aborts the communicator and throws NcclError; the broadcaster
  // is then unusable (make a new one with a new id).
  void broadcast(void* device_buffer, size_t bytes);
  // The same for a host buffer (weights that live in host memory): staged through one device
  // buffer of at most bucket_bytes, bucket by bucket; rank 0 sends `host`, the others receive
  // into it. Same errors as broadcast().
  void broadcast_host(void* host, size_t bytes);

  // The deadline of each later broadcast (joining used the one given at construction).
  void set_timeout(std::chrono::milliseconds timeout);
  // Gives the communicator up at once (ncclCommAbort): for shutting down while peers may already
  // be gone, where a clean finalize would wait for them.
  void abort();

  int rank() const;
  int world() const;
  bool aborted() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace grpo::actor
