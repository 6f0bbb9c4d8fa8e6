// grpo.run_lua: runs generated Lua code against tests in a fresh nested sandbox with its
// own limits (the basis of the code recipe). The nested state has the base library only
// (no `grpo`), its own memory cap, instruction budget and deadline, and is discarded after.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "rewards/lua_sandbox.h"

namespace grpo::rewards {

struct RunLuaLimits {
  long long instructions = 10'000'000;  // per test (and for loading the code)
  size_t memory_bytes = 32u << 20;      // the nested state
  int timeout_ms = 1000;                // all of it: loading plus every test
};

struct TestOutcome {
  bool passed = false;
  std::string error;  // why it failed: the error with its traceback, or "returned false"
};

struct RunLuaResult {
  bool loaded = false;  // the code compiled and its top level ran
  std::string error;    // why it did not load
  std::vector<TestOutcome> tests;
  int passed = 0;
};

// Each test is a Lua chunk run in an environment over the code's globals (so a test's own
// writes do not reach the next test). It passes when it runs without error and returns
// nothing or a true value: `assert(f(2) == 4)` and `return f(2) == 4` both work.
// The deadline is the earlier of now + limits.timeout_ms and `outer_deadline`.
RunLuaResult run_lua(
    std::string_view code, const std::vector<std::string>& tests, const RunLuaLimits& limits,
    std::chrono::steady_clock::time_point outer_deadline = std::chrono::steady_clock::time_point::max());

}  // namespace grpo::rewards
