// A POSIX shared-memory segment holding one immutable byte buffer (a published weight version).
// The owner creates, fills and later unlinks it; readers map it read-only by name. A reader that
// mapped it keeps a valid mapping after the owner unlinks it (POSIX semantics), so replacing a
// version never pulls memory from under a worker that is still copying the old one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace grpo::actor {

class ShmSegment {
 public:
  // Creates `name` ("/grpo-...", must not exist) with `bytes` bytes, mapped read-write.
  static ShmSegment create(const std::string& name, size_t bytes);
  // Maps an existing segment read-only; throws grpo::Error when it is gone (unlinked).
  static ShmSegment open(const std::string& name);

  ShmSegment(ShmSegment&& other) noexcept;
  ShmSegment& operator=(ShmSegment&& other) noexcept;
  ShmSegment(const ShmSegment&) = delete;
  ShmSegment& operator=(const ShmSegment&) = delete;
  ~ShmSegment();  // unmaps; the owner also unlinks the name

  uint8_t* data() { return static_cast<uint8_t*>(addr_); }
  const uint8_t* data() const { return static_cast<const uint8_t*>(addr_); }
  size_t size() const { return size_; }
  const std::string& name() const { return name_; }

 private:
  ShmSegment() = default;
  void release();
  std::string name_;
  void* addr_ = nullptr;
  size_t size_ = 0;
  bool owner_ = false;
};

}  // namespace grpo::actor
