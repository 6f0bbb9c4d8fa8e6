// grpo.run_lua: runs generated Lua code against tests in fresh nested sandboxes with their own
// limits (the basis of the code recipe). A nested state has the base library only (no `grpo`),
// its own memory cap, instruction budget and deadline, and is discarded after each test.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "rewards/lua_sandbox.h"

namespace grpo::rewards {

struct RunLuaLimits {
  long long instructions = 10'000'000;  // per test (and for loading the code)
  size_t memory_bytes = 32u << 20;      // each nested state (one at a time)
  int timeout_ms = 1000;                // all of it: loading plus every test
};

// A test's error is cut to this many bytes (a solution can raise a message as large as its
// memory cap, and every test's message is kept outside the cap).
constexpr size_t kTestErrorBytes = 1024;

struct TestOutcome {
  bool passed = false;
  std::string error;  // why it failed: the error with its traceback, or "the test returned false"
};

struct RunLuaResult {
  bool loaded = false;  // the code compiled and its top level ran
  std::string error;    // why it did not load
  std::vector<TestOutcome> tests;
  int passed = 0;
};

// Each test runs in a fresh state where the solution's top level has just run: nothing one
// test (or the solution during one test) does reaches the next. The test's environment is
// built after the solution ran, from fresh copies of the libraries, and the solution holds no
// reference to it: standard names (assert, error, string, ...) are the library's even when the
// solution defines globals of those names; other names read the solution's globals. A test
// passes when it runs without error and returns nothing or `true`: `assert(f(2) == 4)` and
// `return f(2) == 4` both work, and no value the solution makes can stand in for `true`.
// The deadline is the earlier of now + limits.timeout_ms and `outer_deadline`. Prints of the
// nested states count against `parent`'s print cap when given (the calling sample's).
RunLuaResult run_lua(
    std::string_view code, const std::vector<std::string_view>& tests, const RunLuaLimits& limits,
    std::chrono::steady_clock::time_point outer_deadline = std::chrono::steady_clock::time_point::max(),
    Sandbox* parent = nullptr);

// The same for owned test strings (a template so that a braced list picks the overload above).
template <typename String, typename = std::enable_if_t<std::is_same_v<String, std::string>>>
RunLuaResult run_lua(
    std::string_view code, const std::vector<String>& tests, const RunLuaLimits& limits,
    std::chrono::steady_clock::time_point outer_deadline = std::chrono::steady_clock::time_point::max()) {
  const std::vector<std::string_view> views(tests.begin(), tests.end());
  return run_lua(code, views, limits, outer_deadline);
}

}  // namespace grpo::rewards
