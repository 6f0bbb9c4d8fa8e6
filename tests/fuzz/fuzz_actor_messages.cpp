// libFuzzer target over the actor message decoder: any byte string, cut into frames, must decode
// to a message or throw DecodeError — never crash, hang or read out of bounds.
#include <cstddef>
#include <cstdint>

#include "actor/transport/messages.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Frames are length-prefixed (u16 LE) so the fuzzer controls the multipart structure too.
  grpo::actor::Frames frames;
  size_t i = 0;
  while (i + 2 <= size && frames.size() < 64) {
    size_t len = data[i] | (data[i + 1] << 8);
    i += 2;
    if (len > size - i) len = size - i;
    frames.emplace_back(reinterpret_cast<const char*>(data + i), len);
    i += len;
  }
  try {
    grpo::actor::Message m = grpo::actor::decode(frames);
    // Whatever decodes must encode again.
    (void)grpo::actor::encode(m);
  } catch (const grpo::actor::DecodeError&) {
  }
  return 0;
}
