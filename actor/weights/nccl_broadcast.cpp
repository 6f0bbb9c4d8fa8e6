#include "actor/weights/nccl_broadcast.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <thread>

#if defined(GRPO_HAVE_NCCL)
#include <cuda_runtime.h>
#include <nccl.h>
#endif

namespace grpo::actor {

int local_cuda_device(int fallback) {
  int local = fallback;
  for (const char* name : {"LOCAL_RANK", "SLURM_LOCALID", "OMPI_COMM_WORLD_LOCAL_RANK"})
    if (const char* v = std::getenv(name); v && *v) {
      local = std::atoi(v);
      break;
    }
  const int count = cuda_device_count();
  return count > 0 ? std::max(local, 0) % count : 0;
}

#if defined(GRPO_HAVE_NCCL)

int cuda_device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clears the sticky "no device" error
    return 0;
  }
  return count;
}

namespace {

void cuda_ok(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw NcclError(std::string(what) + ": " + cudaGetErrorString(e));
}

}  // namespace

bool nccl_built() { return true; }

std::string nccl_new_unique_id_hex() {
  static_assert(sizeof(ncclUniqueId) == kNcclUniqueIdBytes, "ncclUniqueId changed size");
  ncclUniqueId id;
  const ncclResult_t r = ncclGetUniqueId(&id);
  if (r != ncclSuccess) throw NcclError(std::string("ncclGetUniqueId: ") + ncclGetErrorString(r));
  return bytes_to_hex(&id, sizeof id);
}

struct NcclBroadcaster::Impl {
  ncclComm_t comm = nullptr;
  cudaStream_t stream = nullptr;
  int rank = 0, world = 0, device = 0;
  bool aborted = false;
  void* staging = nullptr;  // broadcast_host's device buffer, allocated on first use
  size_t staging_bytes = 0;
  NcclBroadcastOptions options;

  // Aborts (never blocks, unlike ncclCommDestroy on a broken communicator) and throws.
  [[noreturn]] void fail(const std::string& what) {
    if (comm && !aborted) ncclCommAbort(comm);
    aborted = true;
    throw NcclError("NCCL broadcast (rank " + std::to_string(rank) + " of " + std::to_string(world) + "): " + what);
  }

  // Polls the communicator's asynchronous state until no operation is in progress, or fails.
  void wait_ready(const char* what, std::chrono::steady_clock::time_point deadline) {
    while (true) {
      ncclResult_t state = ncclSuccess;
      const ncclResult_t r = ncclCommGetAsyncError(comm, &state);
      if (r != ncclSuccess) fail(std::string(what) + ": ncclCommGetAsyncError: " + ncclGetErrorString(r));
      if (state == ncclSuccess) return;
      if (state != ncclInProgress)
        fail(std::string(what) + ": " + ncclGetErrorString(state) + " (" + ncclGetLastError(comm) + ")");
      if (options.cancel && options.cancel->load()) fail(std::string(what) + ": cancelled; communicator aborted");
      if (std::chrono::steady_clock::now() > deadline)
        fail(std::string(what) + ": no progress within " + std::to_string(options.timeout.count()) +
             " ms (a peer is missing or dead); communicator aborted");
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }

  // A CUDA error while the communicator is in use: abort it too (a later finalize would wait on
  // peers stuck in the same broadcast).
  void cuda_or_fail(cudaError_t e, const char* what) {
    if (e != cudaSuccess) fail(std::string(what) + ": " + cudaGetErrorString(e));
  }

  // Broadcasts `bytes` at `buffer` (device memory) from rank 0 in bucket_bytes pieces and waits
  // until every peer took part, or fails at `deadline`.
  void broadcast_until(void* buffer, size_t bytes, std::chrono::steady_clock::time_point deadline) {
    auto* base = static_cast<uint8_t*>(buffer);
    for (size_t offset = 0; offset < bytes; offset += options.bucket_bytes) {
      const size_t len = std::min(options.bucket_bytes, bytes - offset);
      const ncclResult_t r = ncclBroadcast(base + offset, base + offset, len, ncclUint8, /*root=*/0, comm, stream);
      if (r != ncclSuccess && r != ncclInProgress) fail(std::string("ncclBroadcast: ") + ncclGetErrorString(r));
      wait_ready("enqueueing a bucket", deadline);
    }
    // The stream finishes only when every peer took part: poll it together with the async error.
    while (true) {
      const cudaError_t q = cudaStreamQuery(stream);
      if (q == cudaSuccess) break;
      if (q != cudaErrorNotReady) fail(std::string("cudaStreamQuery: ") + cudaGetErrorString(q));
      ncclResult_t state = ncclSuccess;
      const ncclResult_t r = ncclCommGetAsyncError(comm, &state);
      if (r != ncclSuccess) fail(std::string("ncclCommGetAsyncError: ") + ncclGetErrorString(r));
      if (state != ncclSuccess && state != ncclInProgress)
        fail(std::string("asynchronous error: ") + ncclGetErrorString(state));
      if (options.cancel && options.cancel->load()) fail("cancelled; communicator aborted");
      if (std::chrono::steady_clock::now() > deadline)
        fail("broadcast of " + std::to_string(bytes) + " bytes not done within " +
             std::to_string(options.timeout.count()) + " ms (a peer is missing or dead); communicator aborted");
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }
};

NcclBroadcaster::NcclBroadcaster(const std::string& unique_id_hex, int rank, int world, int device,
                                 const NcclBroadcastOptions& options)
    : impl_(std::make_unique<Impl>()) {
  auto& m = *impl_;
  m.rank = rank;
  m.world = world;
  m.device = device;
  m.options = options;
  if (world < 1 || rank < 0 || rank >= world)
    throw NcclError("NCCL broadcast: rank " + std::to_string(rank) + " is not in a world of " + std::to_string(world));
  if (options.bucket_bytes == 0) throw NcclError("NCCL broadcast: bucket_bytes must be positive");
  const std::vector<uint8_t> bytes = hex_to_bytes(unique_id_hex);
  if (bytes.size() != sizeof(ncclUniqueId))
    throw NcclError("NCCL broadcast: the unique id has " + std::to_string(bytes.size()) + " bytes, expected " +
                    std::to_string(sizeof(ncclUniqueId)) + " (pass the hex text of nccl_new_unique_id_hex)");
  ncclUniqueId id;
  std::memcpy(&id, bytes.data(), sizeof id);
  cuda_ok(cudaSetDevice(device), "cudaSetDevice");
  cuda_ok(cudaStreamCreateWithFlags(&m.stream, cudaStreamNonBlocking), "cudaStreamCreate");
  // Non-blocking communicator (NCCL >= 2.14): calls return ncclInProgress and we poll, so a
  // peer that never joins is a timeout we can act on.
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  const auto deadline = std::chrono::steady_clock::now() + options.timeout;
  const ncclResult_t r = ncclCommInitRankConfig(&m.comm, world, id, rank, &config);
  if (r != ncclSuccess && r != ncclInProgress) {
    m.comm = nullptr;
    cudaStreamDestroy(m.stream);
    throw NcclError(std::string("NCCL broadcast: ncclCommInitRankConfig: ") + ncclGetErrorString(r));
  }
  try {
    m.wait_ready("joining the communicator", deadline);
  } catch (...) {
    cudaStreamDestroy(m.stream);
    m.stream = nullptr;
    throw;
  }
}

NcclBroadcaster::~NcclBroadcaster() {
  if (!impl_) return;
  auto& m = *impl_;
  if (m.comm && !m.aborted) {
    // Finalize (flushes outstanding work) then destroy; a finalize that fails or does not finish
    // in time aborts instead (ncclCommDestroy on a broken communicator could block forever).
    const auto deadline = std::chrono::steady_clock::now() + m.options.timeout;
    const ncclResult_t r = ncclCommFinalize(m.comm);
    try {
      if (r != ncclSuccess && r != ncclInProgress) m.fail(std::string("ncclCommFinalize: ") + ncclGetErrorString(r));
      m.wait_ready("finalizing", deadline);
      ncclCommDestroy(m.comm);
    } catch (const NcclError&) {
      // fail() aborted the communicator; a destructor reports nothing more.
    }
  }
  if (m.stream) cudaStreamDestroy(m.stream);
  if (m.staging) cudaFree(m.staging);
}

void NcclBroadcaster::broadcast(void* device_buffer, size_t bytes) {
  auto& m = *impl_;
  if (m.aborted) throw NcclError("NCCL broadcast: the communicator was aborted earlier; make a new one with a new id");
  m.cuda_or_fail(cudaSetDevice(m.device), "cudaSetDevice");
  m.broadcast_until(device_buffer, bytes, std::chrono::steady_clock::now() + m.options.timeout);
}

void NcclBroadcaster::broadcast_host(void* host, size_t bytes) {
  auto& m = *impl_;
  if (m.aborted) throw NcclError("NCCL broadcast: the communicator was aborted earlier; make a new one with a new id");
  m.cuda_or_fail(cudaSetDevice(m.device), "cudaSetDevice");
  const auto deadline = std::chrono::steady_clock::now() + m.options.timeout;  // one for the whole version
  const size_t chunk = std::min(m.options.bucket_bytes, std::max<size_t>(bytes, 1));
  if (m.staging_bytes < chunk) {
    if (m.staging) cudaFree(m.staging);
    m.staging = nullptr;
    m.staging_bytes = 0;
    m.cuda_or_fail(cudaMalloc(&m.staging, chunk), "cudaMalloc (the staging buffer of the weight broadcast)");
    m.staging_bytes = chunk;
  }
  auto* base = static_cast<uint8_t*>(host);
  for (size_t offset = 0; offset < bytes; offset += chunk) {
    const size_t len = std::min(chunk, bytes - offset);
    // Copies go on the communicator's stream, so they order with the broadcast without a sync.
    if (m.rank == 0)
      m.cuda_or_fail(cudaMemcpyAsync(m.staging, base + offset, len, cudaMemcpyHostToDevice, m.stream),
                     "cudaMemcpyAsync to the device");
    m.broadcast_until(m.staging, len, deadline);  // waits for the stream: the copy and the broadcast are done
    if (m.rank != 0) {
      m.cuda_or_fail(cudaMemcpyAsync(base + offset, m.staging, len, cudaMemcpyDeviceToHost, m.stream),
                     "cudaMemcpyAsync to the host");
      m.cuda_or_fail(cudaStreamSynchronize(m.stream), "cudaStreamSynchronize");
    }
  }
}

void NcclBroadcaster::set_timeout(std::chrono::milliseconds timeout) { impl_->options.timeout = timeout; }

void NcclBroadcaster::abort() {
  auto& m = *impl_;
  if (m.comm && !m.aborted) ncclCommAbort(m.comm);
  m.aborted = true;
}

int NcclBroadcaster::rank() const { return impl_->rank; }
int NcclBroadcaster::world() const { return impl_->world; }
bool NcclBroadcaster::aborted() const { return impl_->aborted; }

#else  // built without NCCL

namespace {
[[noreturn]] void no_nccl() {
  throw NcclError(
      "this build has no NCCL (configure with CUDA and NCCL installed and GRPO_NCCL=ON); use the ZeroMQ weight sync");
}
}  // namespace

bool nccl_built() { return false; }
int cuda_device_count() { return 0; }
std::string nccl_new_unique_id_hex() { no_nccl(); }
struct NcclBroadcaster::Impl {};
NcclBroadcaster::NcclBroadcaster(const std::string&, int, int, int, const NcclBroadcastOptions&) { no_nccl(); }
NcclBroadcaster::~NcclBroadcaster() = default;
void NcclBroadcaster::broadcast(void*, size_t) { no_nccl(); }
void NcclBroadcaster::broadcast_host(void*, size_t) { no_nccl(); }
void NcclBroadcaster::set_timeout(std::chrono::milliseconds) {}
void NcclBroadcaster::abort() {}
int NcclBroadcaster::rank() const { return 0; }
int NcclBroadcaster::world() const { return 0; }
bool NcclBroadcaster::aborted() const { return true; }

#endif

}  // namespace grpo::actor
