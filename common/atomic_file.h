// Files are written to a temporary name in the same folder, flushed, and renamed, so a crash
// or a full disk never leaves a half-written file under the real name.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace grpo {

// Writes `contents` to `path` atomically. Throws grpo::Error naming the path on any failure
// (including ENOSPC), after removing the temporary file.
void write_file_atomic(const std::string& path, std::string_view contents);

// Streaming form: `produce` is called with a writer that appends bytes; the file appears under
// `path` only if `produce` returns normally and every write, the flush and the rename succeed.
using ByteSink = std::function<void(const void* data, size_t size)>;
void write_file_atomic_stream(const std::string& path, const std::function<void(const ByteSink&)>& produce);

// Reads a whole file; throws grpo::Error naming the path if it cannot be read.
std::string read_file(const std::string& path);

}  // namespace grpo
