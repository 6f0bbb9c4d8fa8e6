#include "rewards/helper_lib.h"

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "rewards/answer.h"
#include "rewards/lua_json.h"
#include "rewards/lua_sandbox.h"
#include "rewards/run_lua.h"

// Every function works in two phases: C++ work that may throw (no Lua calls), then pushes
// that may longjmp (no C++ object alive on this frame; results wait in thread-local slots,
// which outlive the frame). A C++ exception never crosses a Lua frame.

namespace grpo::rewards {
namespace {

// Scratch results on their way into Lua. They live outside the memory cap, so they are
// released after every call (release_helper_scratch) instead of staying resident.
thread_local std::string t_text;
thread_local std::string t_error;
thread_local RunLuaResult t_run;

std::string_view arg_text(lua_State* L, int index) {
  size_t n = 0;
  const char* s = luaL_checklstring(L, index, &n);
  return {s, n};
}

using Extractor = std::optional<std::string> (*)(std::string_view);

// Runs `fn` on argument 1 and pushes the string or nil.
int push_extracted(lua_State* L, Extractor fn) {
  std::string_view text = arg_text(L, 1);
  bool found = false;
  bool failed = false;
  try {
    auto r = fn(text);
    if (r) {
      t_text = std::move(*r);
      found = true;
    }
  } catch (const std::exception& e) {
    t_error = e.what();
    failed = true;
  }
  if (failed) return luaL_error(L, "%s", t_error.c_str());
  if (!found) {
    lua_pushnil(L);
    return 1;
  }
  lua_pushlstring(L, t_text.data(), t_text.size());
  std::string().swap(t_text);
  return 1;
}

int l_boxed(lua_State* L) { return push_extracted(L, last_boxed); }
int l_after_hashes(lua_State* L) { return push_extracted(L, after_hashes); }
int l_last_number(lua_State* L) { return push_extracted(L, last_number); }
int l_after_think(lua_State* L) { return push_extracted(L, after_think); }

std::optional<std::string> normalize_any(std::string_view text) {
  if (auto n = parse_number(text)) return number_text(*n);
  return normalize_answer_text(text);
}
int l_normalize(lua_State* L) { return push_extracted(L, normalize_any); }

int l_think_format(lua_State* L) {
  std::string_view text = arg_text(L, 1);
  lua_pushboolean(L, think_format(text) ? 1 : 0);  // think_format allocates nothing
  return 1;
}

int l_parse_number(lua_State* L) {
  std::string_view text = arg_text(L, 1);
  std::optional<Number> n;
  bool failed = false;
  try {
    n = parse_number(text);
    if (n) t_text = number_text(*n);
  } catch (const std::exception& e) {
    t_error = e.what();
    failed = true;
  }
  if (failed) return luaL_error(L, "%s", t_error.c_str());
  if (!n) {
    lua_pushnil(L);
    return 1;
  }
  lua_pushnumber(L, n->value);  // Number is trivially destructible
  lua_pushlstring(L, t_text.data(), t_text.size());
  return 2;
}

int l_math_equal(lua_State* L) {
  std::string_view a = arg_text(L, 1), b = arg_text(L, 2);
  bool eq = false, failed = false;
  try {
    eq = math_equal(a, b);
  } catch (const std::exception& e) {
    t_error = e.what();
    failed = true;
  }
  if (failed) return luaL_error(L, "%s", t_error.c_str());
  lua_pushboolean(L, eq ? 1 : 0);
  return 1;
}

int json_decode_protected(lua_State* L) {
  size_t n = 0;
  const char* s = lua_tolstring(L, 1, &n);
  push_json_text(L, std::string_view(s, n));
  return 1;
}

// Parses into the state's own allocator (lua_json.h): a document never exists outside the cap.
int l_json_decode(lua_State* L) {
  arg_text(L, 1);
  Sandbox::charge(L, 0);  // no long C work after a limit tripped
  lua_settop(L, 1);
  lua_pushcfunction(L, json_decode_protected);
  lua_insert(L, 1);
  const int rc = lua_pcall(L, 1, 1, 0);
  if (rc == LUA_OK) return 1;
  // Memory and the sandbox's limits are not "this is not JSON": they climb out.
  if (rc == LUA_ERRMEM || Sandbox::of(L)->tripped_ != CallStatus::ok) return lua_error(L);
  lua_pushnil(L);
  lua_insert(L, -2);
  return 2;
}

// Reads an optional number field of the limits table.
double limit_field(lua_State* L, int table, const char* name, double fallback, double lo, double hi) {
  if (lua_isnoneornil(L, table)) return fallback;
  lua_getfield(L, table, name);
  double v = lua_isnil(L, -1) ? fallback : luaL_checknumber(L, -1);
  lua_pop(L, 1);
  if (!(v >= lo && v <= hi)) luaL_error(L, "run_lua limits.%s must be in [%f, %f]", name, lo, hi);
  return v;
}

int l_run_lua(lua_State* L) {
  std::string_view code = arg_text(L, 1);
  Sandbox::charge(L, 0);  // no nested run after a limit tripped
  luaL_checktype(L, 2, LUA_TTABLE);
  if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TTABLE);
  RunLuaLimits limits;  // trivially destructible
  limits.instructions = static_cast<long long>(limit_field(L, 3, "instructions", 1e7, 1e3, 1e9));
  limits.memory_bytes = static_cast<size_t>(limit_field(L, 3, "memory_mb", 32, 1, 256)) << 20;
  limits.timeout_ms = static_cast<int>(limit_field(L, 3, "timeout_ms", 1000, 1, 60000));
  const lua_Integer ntests = luaL_len(L, 2);
  if (ntests < 0 || ntests > 10000) return luaL_error(L, "run_lua: at most 10000 tests");
  // Each test is read once (through any metatable, e.g. a read-only setup table) into an
  // anchor table at index 4, so the views below stay valid and nothing is copied: 32 tests
  // that are one 24 MB string cost no memory outside the cap.
  lua_settop(L, 3);
  lua_createtable(L, static_cast<int>(ntests), 0);
  for (lua_Integer i = 1; i <= ntests; ++i) {
    lua_geti(L, 2, i);
    if (lua_type(L, -1) != LUA_TSTRING) return luaL_error(L, "run_lua: tests[%I] must be a string of Lua code", i);
    lua_rawseti(L, 4, i);
  }
  bool failed = false;
  try {
    std::vector<std::string_view> tests;
    tests.reserve(static_cast<size_t>(ntests));
    for (lua_Integer i = 1; i <= ntests; ++i) {
      lua_rawgeti(L, 4, i);  // the anchor holds the string; popping leaves it alive
      size_t n = 0;
      const char* s = lua_tolstring(L, -1, &n);
      tests.emplace_back(s, n);
      lua_pop(L, 1);
    }
    Sandbox* outer = Sandbox::of(L);
    t_run = run_lua(code, tests, limits, outer->deadline_, outer);
  } catch (const std::exception& e) {
    t_error = e.what();
    failed = true;
  }
  if (failed) return luaL_error(L, "run_lua: %s", t_error.c_str());
  lua_createtable(L, 0, 5);
  lua_pushboolean(L, t_run.loaded ? 1 : 0);
  lua_setfield(L, -2, "loaded");
  if (!t_run.error.empty()) {
    lua_pushlstring(L, t_run.error.data(), t_run.error.size());
    lua_setfield(L, -2, "error");
  }
  lua_pushinteger(L, t_run.passed);
  lua_setfield(L, -2, "passed");
  lua_pushinteger(L, static_cast<lua_Integer>(ntests));
  lua_setfield(L, -2, "total");
  lua_createtable(L, static_cast<int>(t_run.tests.size()), 0);
  for (size_t i = 0; i < t_run.tests.size(); ++i) {
    lua_createtable(L, 0, 2);
    lua_pushboolean(L, t_run.tests[i].passed ? 1 : 0);
    lua_setfield(L, -2, "passed");
    if (!t_run.tests[i].error.empty()) {
      lua_pushlstring(L, t_run.tests[i].error.data(), t_run.tests[i].error.size());
      lua_setfield(L, -2, "error");
    }
    lua_rawseti(L, -2, static_cast<lua_Integer>(i + 1));
  }
  lua_setfield(L, -2, "tests");
  t_run = RunLuaResult{};
  return 1;
}

}  // namespace

void release_helper_scratch() {
  std::string().swap(t_text);
  std::string().swap(t_error);
  t_run = RunLuaResult{};
}

void push_helper_lib(lua_State* L) {
  static const luaL_Reg fns[] = {{"boxed", l_boxed},
                                 {"after_hashes", l_after_hashes},
                                 {"last_number", l_last_number},
                                 {"after_think", l_after_think},
                                 {"think_format", l_think_format},
                                 {"parse_number", l_parse_number},
                                 {"normalize", l_normalize},
                                 {"math_equal", l_math_equal},
                                 {"json_decode", l_json_decode},
                                 {"run_lua", l_run_lua},
                                 {nullptr, nullptr}};
  luaL_newlib(L, fns);
}

}  // namespace grpo::rewards
