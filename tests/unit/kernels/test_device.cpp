// Run-time backend selection: cuda_device_available() and its description agree, and asking
// twice gives the same answer (it is cached; a missing driver must read as "no device").
#include <gtest/gtest.h>

#include "kernels/device.h"

namespace grpo::kernels {
namespace {

TEST(KernelsDevice, AvailabilityAndDescriptionAgree) {
  const bool available = cuda_device_available();
  EXPECT_EQ(cuda_device_available(), available);
  const std::string desc = cuda_device_description();
  EXPECT_EQ(desc.rfind("no CUDA device", 0) == 0, !available) << desc;
#if !defined(GRPO_HAVE_CUDA)
  EXPECT_FALSE(available);
#endif
}

}  // namespace
}  // namespace grpo::kernels
