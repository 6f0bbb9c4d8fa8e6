// NCCL weight broadcast (actor/weights/nccl_broadcast.h), label gpu: skipped without NCCL or a device.
// A world-1 communicator on one GPU; one rank per device when several exist; and a missing peer,
// which must end in NcclError (communicator aborted) instead of a hang.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "actor/weights/nccl_broadcast.h"
#include "kernels/device.h"

#if defined(GRPO_HAVE_NCCL)
#include <cuda_runtime.h>
#endif

namespace grpo::actor {
namespace {

#if defined(GRPO_HAVE_NCCL)

int device_count() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess ? n : 0;
}

#define SKIP_WITHOUT_DEVICE() \
  if (!kernels::cuda_device_available() || device_count() == 0) GTEST_SKIP() << kernels::cuda_device_description()

// The pattern rank 0 sends: byte i = (i * 131 + 7) mod 251 (not periodic in any bucket size used).
std::vector<uint8_t> pattern(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>((i * 131 + 7) % 251);
  return v;
}

// Rank `rank` of `world` on device `rank`: fills (rank 0) or poisons (others) a device buffer,
// broadcasts it in several buckets (the last one short) and returns what it holds afterwards.
std::vector<uint8_t> broadcast_on(const std::string& id, int rank, int world, size_t bytes) {
  NcclBroadcastOptions o;
  o.bucket_bytes = 1 << 20;
  o.timeout = std::chrono::seconds(120);
  NcclBroadcaster b(id, rank, world, /*device=*/rank, o);
  void* d = nullptr;
  EXPECT_EQ(cudaMalloc(&d, bytes), cudaSuccess);
  std::vector<uint8_t> host = rank == 0 ? pattern(bytes) : std::vector<uint8_t>(bytes, 0xEE);
  EXPECT_EQ(cudaMemcpy(d, host.data(), bytes, cudaMemcpyHostToDevice), cudaSuccess);
  b.broadcast(d, bytes);
  EXPECT_EQ(cudaMemcpy(host.data(), d, bytes, cudaMemcpyDeviceToHost), cudaSuccess);
  cudaFree(d);
  return host;
}

TEST(NcclBroadcast, SingleGpuWorldOfOne) {
  SKIP_WITHOUT_DEVICE();
  const size_t bytes = (5u << 20) + 12345;  // 6 buckets of 1 MiB, the last short
  EXPECT_TRUE(broadcast_on(nccl_new_unique_id_hex(), 0, 1, bytes) == pattern(bytes));
}

TEST(NcclBroadcast, OneRankPerGpu) {
  SKIP_WITHOUT_DEVICE();
  const int world = device_count();
  if (world < 2) GTEST_SKIP() << "one CUDA device: the multi-GPU broadcast needs two or more";
  const std::string id = nccl_new_unique_id_hex();
  const size_t bytes = (3u << 20) + 17;
  std::vector<std::vector<uint8_t>> got(world);
  std::vector<std::thread> ranks;
  for (int r = 0; r < world; ++r) ranks.emplace_back([&, r] { got[r] = broadcast_on(id, r, world, bytes); });
  for (auto& t : ranks) t.join();
  for (int r = 0; r < world; ++r) EXPECT_TRUE(got[r] == pattern(bytes)) << "rank " << r;
}

// broadcast_host, what the runtime's weight broadcast uses (weights in host memory): staged
// through a 1 MiB device buffer, so 3 MiB + 17 bytes take 4 rounds, the last one short.
std::vector<uint8_t> broadcast_host_on(const std::string& id, int rank, int world, size_t bytes) {
  NcclBroadcastOptions o;
  o.bucket_bytes = 1 << 20;
  o.timeout = std::chrono::seconds(120);
  NcclBroadcaster b(id, rank, world, /*device=*/rank, o);
  std::vector<uint8_t> host = rank == 0 ? pattern(bytes) : std::vector<uint8_t>(bytes, 0xEE);
  b.broadcast_host(host.data(), bytes);
  b.broadcast_host(host.data(), bytes);  // a second version through the same staging buffer
  return host;
}

TEST(NcclBroadcast, HostBufferWorldOfOneAndPerGpu) {
  SKIP_WITHOUT_DEVICE();
  const size_t bytes = (3u << 20) + 17;
  EXPECT_TRUE(broadcast_host_on(nccl_new_unique_id_hex(), 0, 1, bytes) == pattern(bytes));
  const int world = device_count();
  if (world < 2) return;  // the multi-rank half needs a GPU per rank
  const std::string id = nccl_new_unique_id_hex();
  std::vector<std::vector<uint8_t>> got(world);
  std::vector<std::thread> ranks;
  for (int r = 0; r < world; ++r) ranks.emplace_back([&, r] { got[r] = broadcast_host_on(id, r, world, bytes); });
  for (auto& t : ranks) t.join();
  for (int r = 0; r < world; ++r) EXPECT_TRUE(got[r] == pattern(bytes)) << "rank " << r;
}

TEST(NcclBroadcast, AMissingPeerTimesOutAndAborts) {
  SKIP_WITHOUT_DEVICE();
  // Rank 0 of a world of 2 whose rank 1 never comes: joining must give up at the deadline.
  NcclBroadcastOptions o;
  o.timeout = std::chrono::seconds(3);
  try {
    NcclBroadcaster b(nccl_new_unique_id_hex(), 0, 2, 0, o);
    FAIL() << "joined a communicator whose peer never came";
  } catch (const NcclError& e) {
    EXPECT_NE(std::string(e.what()).find("aborted"), std::string::npos) << e.what();
  }
}

TEST(NcclBroadcast, ACancelEndsAJoinWaitingForAPeer) {
  SKIP_WITHOUT_DEVICE();
  // What the learner does at shutdown: its peer is gone, and the cancel flag (set from another
  // thread) must end the wait well before the 60 s deadline.
  std::atomic<bool> cancel{false};
  NcclBroadcastOptions o;
  o.timeout = std::chrono::seconds(60);
  o.cancel = &cancel;
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    cancel = true;
  });
  const auto t0 = std::chrono::steady_clock::now();
  try {
    NcclBroadcaster b(nccl_new_unique_id_hex(), 0, 2, 0, o);
    FAIL() << "joined a communicator whose peer never came";
  } catch (const NcclError& e) {
    EXPECT_NE(std::string(e.what()).find("cancelled"), std::string::npos) << e.what();
  }
  canceller.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(30));  // not the deadline
}

#else

TEST(NcclBroadcast, NotBuilt) {
  EXPECT_FALSE(nccl_built());
  GTEST_SKIP() << "built without NCCL (GRPO_NCCL=OFF or CUDA/NCCL not found)";
}

#endif

}  // namespace
}  // namespace grpo::actor
