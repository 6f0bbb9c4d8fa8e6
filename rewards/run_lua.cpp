#include "rewards/run_lua.h"

#include <algorithm>

namespace grpo::rewards {
namespace {

std::string limit_text(const CallOutcome& o) { return std::string(call_status_name(o.status)) + ": " + o.message; }

}  // namespace

RunLuaResult run_lua(std::string_view code, const std::vector<std::string>& tests, const RunLuaLimits& limits,
                     std::chrono::steady_clock::time_point outer_deadline) {
  using clock = std::chrono::steady_clock;
  RunLuaResult result;
  SandboxLimits sl;
  sl.instructions = limits.instructions;
  sl.memory_bytes = limits.memory_bytes;
  sl.timeout_ms = limits.timeout_ms;
  const auto deadline = std::min(clock::now() + std::chrono::milliseconds(limits.timeout_ms), outer_deadline);
  Sandbox sb(sl, /*with_helpers=*/false);
  lua_State* L = sb.L();
  if (!sb.load_text(code, "=solution", &result.error)) return result;
  sb.push_env(LUA_NOREF);  // the solution's globals: [chunk, env]
  lua_pushvalue(L, -1);
  lua_setupvalue(L, -3, 1);
  lua_insert(L, -2);  // [env, chunk]
  const CallOutcome loaded = sb.pcall_with(0, 0, sb.limits().instructions, deadline);
  if (loaded.status != CallStatus::ok) {
    result.error = limit_text(loaded);
    return result;
  }
  result.loaded = true;
  // Tests read the solution's globals through a hidden metatable.
  const int test_mt = sb.env_metatable_ref(-1);
  for (size_t i = 0; i < tests.size(); ++i) {
    TestOutcome t;
    const int base = lua_gettop(L);
    if (!sb.load_text(tests[i], "=test " + std::to_string(i + 1), &t.error)) {
      result.tests.push_back(std::move(t));
      continue;
    }
    sb.push_env(test_mt);
    lua_setupvalue(L, -2, 1);
    const CallOutcome out = sb.pcall_with(0, LUA_MULTRET, sb.limits().instructions, deadline);
    if (out.status != CallStatus::ok) {
      t.error = limit_text(out);
    } else if (lua_gettop(L) > base && !lua_toboolean(L, base + 1)) {
      t.error = "the test returned false";
    } else {
      t.passed = true;
      ++result.passed;
    }
    lua_settop(L, base);
    result.tests.push_back(std::move(t));
  }
  return result;
}

}  // namespace grpo::rewards
