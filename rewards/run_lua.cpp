#include "rewards/run_lua.h"

#include <algorithm>
#include <memory>

namespace grpo::rewards {
namespace {

using Clock = std::chrono::steady_clock;

std::string limit_text(const CallOutcome& o, size_t cap) {
  return cap_message(std::string(call_status_name(o.status)) + ": " + o.message, cap);
}

// [chunk, env]: runs the chunk with `env` as its _ENV.
int run_with_env(lua_State* L) {
  lua_pushvalue(L, 2);
  if (!lua_setupvalue(L, 1, 1)) lua_pop(L, 1);
  lua_settop(L, 1);
  lua_call(L, 0, 0);
  return 0;
}

// [test chunk, solution env]: builds the test's environment (fresh library copies, then the
// solution's globals) and runs the test in it; returns what the test returned.
int run_test(lua_State* L) {
  Sandbox::of(L)->push_fresh_base();  // 3: B
  lua_createtable(L, 0, 2);
  lua_pushvalue(L, 2);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, 3);    // B reads through to the solution's globals
  lua_createtable(L, 0, 1);  // 4: T, the test's own globals
  lua_pushvalue(L, 4);
  lua_setfield(L, 4, "_G");
  lua_createtable(L, 0, 2);
  lua_pushvalue(L, 3);
  lua_setfield(L, -2, "__index");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_setmetatable(L, 4);
  lua_pushvalue(L, 4);
  if (!lua_setupvalue(L, 1, 1)) lua_pop(L, 1);
  lua_settop(L, 1);
  lua_call(L, 0, LUA_MULTRET);
  return lua_gettop(L);
}

// A fresh nested state with the solution's top level run; on success its stack holds the
// solution's globals table alone. On failure returns null and says why in `error`.
std::unique_ptr<Sandbox> load_solution(std::string_view code, const SandboxLimits& sl, Clock::time_point deadline,
                                       Sandbox* parent, std::string* error) {
  auto sb = std::make_unique<Sandbox>(sl, /*with_helpers=*/false);
  sb->charge_prints_to(parent);
  sb->reseed(0);  // a solution drawing random numbers behaves the same in every test's state
  lua_State* L = sb->L();
  if (!sb->load_text(code, "=solution", error)) {
    *error = cap_message(*error);
    return nullptr;
  }
  sb->push_env(LUA_NOREF);  // [chunk, S]
  lua_pushvalue(L, -1);
  lua_insert(L, -3);  // [S, chunk, S]
  lua_pushcfunction(L, run_with_env);
  lua_insert(L, -3);  // [S, run_with_env, chunk, S]
  const CallOutcome loaded = sb->pcall_with(2, 0, sl.instructions, deadline);
  if (loaded.status != CallStatus::ok) {
    *error = limit_text(loaded, kMaxErrorBytes);
    return nullptr;
  }
  return sb;
}

}  // namespace

RunLuaResult run_lua(std::string_view code, const std::vector<std::string_view>& tests, const RunLuaLimits& limits,
                     Clock::time_point outer_deadline, Sandbox* parent) {
  RunLuaResult result;
  SandboxLimits sl;
  sl.instructions = limits.instructions;
  sl.memory_bytes = limits.memory_bytes;
  sl.timeout_ms = limits.timeout_ms;
  const auto deadline = std::min(Clock::now() + std::chrono::milliseconds(limits.timeout_ms), outer_deadline);
  std::unique_ptr<Sandbox> sb = load_solution(code, sl, deadline, parent, &result.error);
  if (!sb) return result;
  result.loaded = true;
  for (size_t i = 0; i < tests.size(); ++i) {
    TestOutcome t;
    if (!sb && Clock::now() >= deadline) {
      // Compiling is not counted by the hook: past the deadline, no further state is built.
      t.error =
          "timeout: the wall-clock limit of " + std::to_string(limits.timeout_ms) + " ms ran out before this test";
    } else if (!sb && !(sb = load_solution(code, sl, deadline, parent, &t.error))) {
      t.error = cap_message("the solution did not load again for this test: " + t.error, kTestErrorBytes);
    } else if (lua_State* L = sb->L(); !sb->load_text(tests[i], "=test " + std::to_string(i + 1), &t.error)) {
      t.error = cap_message(t.error, kTestErrorBytes);
    } else {
      lua_pushcfunction(L, run_test);
      lua_insert(L, -2);
      lua_pushvalue(L, 1);  // [S, run_test, chunk, S]
      const CallOutcome out = sb->pcall_with(2, LUA_MULTRET, sl.instructions, deadline);
      if (out.status != CallStatus::ok) {
        t.error = limit_text(out, kTestErrorBytes);
      } else if (lua_gettop(L) == 1 || (lua_type(L, 2) == LUA_TBOOLEAN && lua_toboolean(L, 2))) {
        t.passed = true;
        ++result.passed;
      } else if (lua_type(L, 2) == LUA_TBOOLEAN) {
        t.error = "the test returned false";
      } else {
        t.error = std::string("the test returned a ") + luaL_typename(L, 2) +
                  " value; a test passes by returning nothing or true";
      }
      sb.reset();  // the next test starts from a fresh state
    }
    result.tests.push_back(std::move(t));
  }
  return result;
}

}  // namespace grpo::rewards
