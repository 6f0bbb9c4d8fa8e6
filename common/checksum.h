// CRC checksums for framed records: CRC-32 (ISO-HDLC, the write-ahead log) and CRC-32C
// (Castagnoli, TensorBoard's TFRecord framing). Table-driven; both reflect input and output.
#pragma once

#include <cstddef>
#include <cstdint>

namespace grpo {

uint32_t crc32(const void* data, size_t size);
uint32_t crc32c(const void* data, size_t size);

}  // namespace grpo
