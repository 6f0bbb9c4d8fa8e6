#include "rewards/lua_sandbox.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "common/error.h"
#include "rewards/helper_lib.h"
#include "rewards/sandbox_lib.h"

// Debian's liblua5.4 is built as C, so lua_error longjmps. C functions in this file keep no
// C++ object with a destructor alive across a call that may raise.

namespace grpo::rewards {
namespace {

// The hook runs every kHookEvery instructions: one clock read per ~5 µs of Lua work.
constexpr int kHookEvery = 1000;
constexpr size_t kMinMemory = 1u << 20;  // below this the standard library itself does not fit
constexpr size_t kHostHeadroom = 1u << 20;

void* capped_alloc(void* ud, void* ptr, size_t osize, size_t nsize) {
  auto* sb = static_cast<Sandbox*>(ud);
  // When ptr is NULL, osize is a type tag, not a size.
  const size_t old = ptr ? osize : 0;
  if (nsize == 0) {
    std::free(ptr);
    sb->used_ -= old;
    return nullptr;
  }
  // Host-side pushes between calls get a little headroom: an allocation failure outside a
  // protected call would abort the process (lua_atpanic).
  const size_t cap = sb->limits().memory_bytes + (sb->in_call_ ? 0 : kHostHeadroom);
  void* p = nullptr;
  if (nsize <= old || sb->used_ + (nsize - old) <= cap) p = std::realloc(ptr, nsize);
  if (!p) {  // Lua >= 5.4.2 tolerates refused shrinks too; we only refuse growth
    // The core answers a refusal with an emergency collection (frees and shrinks only) and
    // asks again for the same block; the auxiliary library's buffers do not ask again. A
    // refusal that is not followed by a granted retry of the same block ends in a raised
    // "not enough memory" (memory_failed_), which a script may catch with pcall.
    if (sb->refused_size_ != 0) sb->memory_failed_ = true;
    sb->memory_refused_ = true;
    sb->refused_ptr_ = ptr;
    sb->refused_size_ = nsize;
    return nullptr;
  }
  if (nsize > old && sb->refused_size_ != 0) {
    if (sb->refused_ptr_ != ptr || sb->refused_size_ != nsize) sb->memory_failed_ = true;
    sb->refused_size_ = 0;
  }
  sb->used_ = sb->used_ - old + nsize;
  if (sb->used_ > sb->peak_) sb->peak_ = sb->used_;
  return p;
}

void count_hook(lua_State* L, lua_Debug*) {
  Sandbox* sb = Sandbox::of(L);
  if (sb->tripped_ == CallStatus::ok) {
    sb->budget_left_ -= kHookEvery;
    if (sb->budget_left_ <= 0)
      sb->tripped_ = CallStatus::budget;
    else if (std::chrono::steady_clock::now() > sb->deadline_)
      sb->tripped_ = CallStatus::timeout;
    else
      return;
  }
  // Once tripped, fire before every instruction of this thread: a script that catches the
  // error with pcall or coroutine.resume trips again at its very next instruction, so the
  // error climbs out of every protected frame in a bounded number of steps.
  lua_sethook(L, count_hook, LUA_MASKCOUNT, 1);
  if (sb->tripped_ == CallStatus::budget)
    luaL_error(L, "instruction budget exhausted (%I instructions; raise reward.instructions if the script needs more)",
               static_cast<lua_Integer>(sb->limits().instructions));
  luaL_error(L, "wall-clock limit of %d ms exceeded", sb->limits().timeout_ms);
}

// Message handler: the error text (never calling __tostring: it could itself fail or loop)
// plus a traceback.
int traceback_handler(lua_State* L) {
  const char* msg = nullptr;
  switch (lua_type(L, 1)) {
    case LUA_TSTRING:
      msg = lua_tostring(L, 1);
      break;
    case LUA_TNUMBER:
      msg = luaL_tolstring(L, 1, nullptr);  // numbers have no metamethods here
      break;
    default:
      msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

int readonly_newindex(lua_State* L) {
  return luaL_error(L,
                    "attempt to modify a read-only table (libraries and top-level setup are shared by all samples; "
                    "copy what you need into a local table)");
}

// A proxy is recognised by its __newindex being readonly_newindex: scripts never see a
// proxy's metatable (__metatable), so they cannot make a table that passes for one.
bool is_readonly(lua_State* L, int index) {
  if (!lua_getmetatable(L, index)) return false;
  lua_pushliteral(L, "__newindex");
  lua_rawget(L, -2);
  const bool mark = lua_tocfunction(L, -1) == readonly_newindex;
  lua_pop(L, 2);
  return mark;
}

// Pushes the table a read-only proxy stands for.
void push_proxied(lua_State* L, int proxy) {
  lua_getmetatable(L, proxy);
  lua_pushliteral(L, "__index");
  lua_rawget(L, -2);
  lua_remove(L, -2);
}

int readonly_len(lua_State* L) {
  push_proxied(L, 1);
  lua_len(L, -1);
  return 1;
}

// The iterator pairs() returns for a proxy: its state is the proxy itself, never the table
// behind it (a script holding that table could write to what every sample shares).
int readonly_next(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  if (!is_readonly(L, 1)) return luaL_argerror(L, 1, "read-only table expected");
  lua_settop(L, 2);
  push_proxied(L, 1);
  lua_insert(L, 2);  // [proxy, table, key]
  if (lua_next(L, 2)) return 2;
  lua_pushnil(L);
  return 1;
}

int readonly_pairs(lua_State* L) {
  lua_pushcfunction(L, readonly_next);
  lua_pushvalue(L, 1);
  lua_pushnil(L);
  return 3;
}

// rawset would write into the proxy itself and shadow the setup value for later samples.
int sandbox_rawset(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checkany(L, 2);
  luaL_checkany(L, 3);
  if (is_readonly(L, 1)) return readonly_newindex(L);
  lua_settop(L, 3);
  lua_rawset(L, 1);
  return 1;
}

// load: source text only (a crafted binary chunk can crash the VM), into a fresh environment
// over the sandbox base unless the caller passes one.
int sandbox_load(lua_State* L) {
  if (lua_type(L, 1) != LUA_TSTRING)
    return luaL_argerror(L, 1, "the sandbox's load accepts source text only (no reader functions)");
  size_t n = 0;
  const char* s = lua_tolstring(L, 1, &n);
  const char* name = luaL_optstring(L, 2, "=(load)");
  const bool has_env = !lua_isnone(L, 4);
  if (luaL_loadbufferx(L, s, n, name, "t") != LUA_OK) {
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;  // nil, message, as the standard load
  }
  if (has_env)
    lua_pushvalue(L, 4);
  else
    Sandbox::of(L)->push_env(LUA_NOREF);
  if (!lua_setupvalue(L, -2, 1)) lua_pop(L, 1);
  return 1;
}

// setmetatable without __gc: a finalizer runs whenever the collector gets to it, possibly
// inside a later sample's call and on that sample's budget.
int sandbox_setmetatable(lua_State* L) {
  const int t = lua_type(L, 2);
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_argexpected(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table");
  if (t == LUA_TTABLE) {
    lua_pushliteral(L, "__gc");
    lua_rawget(L, 2);
    const bool gc = !lua_isnil(L, -1);
    lua_pop(L, 1);
    if (gc) return luaL_error(L, "__gc metamethods are not available in the reward sandbox");
  }
  if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL) return luaL_error(L, "cannot change a protected metatable");
  lua_settop(L, 2);
  lua_setmetatable(L, 1);
  return 1;
}

int sandbox_print(lua_State* L) {
  Sandbox* sb = Sandbox::of(L);
  int n = lua_gettop(L);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 1; i <= n; ++i) {
    if (i > 1) luaL_addchar(&b, '\t');
    luaL_tolstring(L, i, nullptr);
    luaL_addvalue(&b);
  }
  luaL_addchar(&b, '\n');
  luaL_pushresult(&b);
  size_t len = 0;
  const char* text = lua_tolstring(L, -1, &len);
  // Prints go to stderr (the worker's stderr is the user's terminal), capped per sample: a
  // nested run_lua state charges the sample's sandbox.
  Sandbox* owner = sb->print_owner_;
  if (owner->print_bytes_ < owner->print_cap_) {
    size_t room = owner->print_cap_ - owner->print_bytes_;
    std::fwrite(text, 1, len < room ? len : room, stderr);
    if (len >= room)
      std::fprintf(stderr, "[reward print output capped at %zu KiB per sample]\n", owner->print_cap_ >> 10);
  }
  owner->print_bytes_ += len;
  return 0;
}

int sandbox_collectgarbage(lua_State* L) {
  const char* opt = luaL_optstring(L, 1, "collect");
  if (std::strcmp(opt, "count") != 0)
    return luaL_error(L, "collectgarbage('%s') is not available in the reward sandbox (only 'count')", opt);
  int kb = lua_gc(L, LUA_GCCOUNT);
  int bytes = lua_gc(L, LUA_GCCOUNTB);
  lua_pushnumber(L, kb + bytes / 1024.0);
  return 1;
}

int os_clock(lua_State* L) {
  lua_pushnumber(L, static_cast<lua_Number>(std::clock()) / CLOCKS_PER_SEC);
  return 1;
}

// Copies global `name` of the real globals table (at `globals`) into `base` (at -1).
void copy_global(lua_State* L, int globals, const char* name) {
  lua_getfield(L, globals, name);
  lua_setfield(L, -2, name);
}

}  // namespace

std::string cap_message(std::string_view text, size_t max) {
  if (text.size() <= max) return std::string(text);
  return std::string(text.substr(0, max)) + "\n[... " + std::to_string(text.size() - max) +
         " more bytes of this message cut]";
}

void Sandbox::charge(lua_State* L, long long n) {
  Sandbox* sb = of(L);
  // Already tripped (in another coroutine, whose resumer may not have reached its hook yet):
  // raise now rather than start the work.
  if (sb->tripped_ == CallStatus::ok) {
    if (n > 0) sb->budget_left_ = n >= sb->budget_left_ ? 0 : sb->budget_left_ - n;
    if (sb->budget_left_ <= 0)
      sb->tripped_ = CallStatus::budget;
    else if (std::chrono::steady_clock::now() > sb->deadline_)
      sb->tripped_ = CallStatus::timeout;
    else
      return;
  }
  count_hook(L, nullptr);  // raises the limit error, as the hook would at the next instruction
}

const char* call_status_name(CallStatus status) {
  switch (status) {
    case CallStatus::ok:
      return "ok";
    case CallStatus::error:
      return "error";
    case CallStatus::budget:
      return "budget";
    case CallStatus::memory:
      return "memory";
    case CallStatus::timeout:
      return "timeout";
  }
  return "?";
}

Sandbox* Sandbox::of(lua_State* L) {
  void* ud = nullptr;
  lua_getallocf(L, &ud);
  return static_cast<Sandbox*>(ud);
}

Sandbox::Sandbox(const SandboxLimits& limits, bool with_helpers) : limits_(limits) {
  if (limits_.memory_bytes < kMinMemory) limits_.memory_bytes = kMinMemory;
  if (limits_.instructions < kHookEvery) limits_.instructions = kHookEvery;
  if (limits_.timeout_ms < 1) limits_.timeout_ms = 1;
  L_ = lua_newstate(capped_alloc, this);
  if (!L_) throw Error("reward sandbox: cannot create a Lua state (out of memory)");
  // Setup runs unprotected and fits far below kMinMemory; a failure here is a host bug.
  build_base(with_helpers);
}

Sandbox::~Sandbox() {
  if (L_) lua_close(L_);
}

void Sandbox::build_base(bool with_helpers) {
  lua_State* L = L_;
  luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
  luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
  luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
  luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 1);
  luaL_requiref(L, LUA_UTF8LIBNAME, luaopen_utf8, 1);
  luaL_requiref(L, LUA_COLIBNAME, luaopen_coroutine, 1);
  lua_pop(L, 6);
  lua_pushglobaltable(L);
  const int globals = lua_gettop(L);

  // string.dump is reachable through every string's metatable (("").dump), so it goes from
  // the real table; the metatable itself is hidden so no script can change it.
  lua_getfield(L, globals, LUA_STRLIBNAME);
  lua_pushnil(L);
  lua_setfield(L, -2, "dump");
  lua_pop(L, 1);
  lua_pushliteral(L, "");
  lua_getmetatable(L, -1);
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_pop(L, 2);

  lua_getfield(L, globals, LUA_MATHLIBNAME);
  lua_getfield(L, -1, "randomseed");
  randomseed_ref_ = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pop(L, 1);

  lua_newtable(L);  // base
  const int base = lua_gettop(L);
  patch_libraries(L, globals);  // bounded string.rep, table.move, coroutine.close, xpcall, ... (sandbox_lib.h)
  for (const char* name : {"assert", "error", "ipairs", "next", "pairs", "pcall", "rawequal", "rawlen", "rawget",
                           "select", "tonumber", "tostring", "type", "xpcall", "getmetatable", "_VERSION"})
    copy_global(L, globals, name);
  lua_pushcfunction(L, sandbox_setmetatable);
  lua_setfield(L, base, "setmetatable");
  lua_pushcfunction(L, sandbox_rawset);
  lua_setfield(L, base, "rawset");
  lua_pushcfunction(L, sandbox_load);
  lua_setfield(L, base, "load");
  lua_pushcfunction(L, sandbox_print);
  lua_setfield(L, base, "print");
  lua_pushcfunction(L, sandbox_collectgarbage);
  lua_setfield(L, base, "collectgarbage");
  for (const char* lib : {LUA_STRLIBNAME, LUA_TABLIBNAME, LUA_MATHLIBNAME, LUA_UTF8LIBNAME, LUA_COLIBNAME}) {
    lua_getfield(L, globals, lib);
    push_readonly(-1);
    lua_setfield(L, base, lib);
    lua_pop(L, 1);
  }
  lua_newtable(L);
  lua_pushcfunction(L, os_clock);
  lua_setfield(L, -2, "clock");
  push_readonly(-1);
  lua_setfield(L, base, "os");
  lua_pop(L, 1);
  if (with_helpers) {
    push_helper_lib(L);
    push_readonly(-1);
    lua_setfield(L, base, "grpo");
    lua_pop(L, 1);
  }
  // Chunks loaded without an explicit environment see the base, never the real globals.
  lua_pushvalue(L, base);
  lua_rawseti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
  lua_pushvalue(L, base);
  base_ref_ = luaL_ref(L, LUA_REGISTRYINDEX);

  lua_createtable(L, 0, 2);  // metatable of environments over the base
  lua_pushvalue(L, base);
  lua_setfield(L, -2, "__index");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  env_mt_ref_ = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_settop(L, 0);
  lua_sethook(L, count_hook, LUA_MASKCOUNT, kHookEvery);
}

void Sandbox::push_readonly(int index) {
  lua_State* L = L_;
  index = lua_absindex(L, index);
  lua_newtable(L);
  lua_createtable(L, 0, 6);
  lua_pushvalue(L, index);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, readonly_newindex);
  lua_setfield(L, -2, "__newindex");
  lua_pushcfunction(L, readonly_len);
  lua_setfield(L, -2, "__len");
  lua_pushcfunction(L, readonly_pairs);
  lua_setfield(L, -2, "__pairs");
  lua_pushliteral(L, "read-only table");
  lua_setfield(L, -2, "__metatable");
  lua_setmetatable(L, -2);
}

void Sandbox::push_fresh_base() {
  lua_State* L = L_;
  push_base();
  const int base = lua_gettop(L);
  lua_newtable(L);
  const int out = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, base)) {
    if (lua_type(L, -1) == LUA_TTABLE && is_readonly(L, -1)) {  // [key, proxy]
      push_proxied(L, -1);                                      // [key, proxy, lib]
      lua_newtable(L);                                          // [key, proxy, lib, copy]
      lua_pushnil(L);
      while (lua_next(L, -3)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, -4);
      }
      lua_replace(L, -3);  // [key, copy, lib]
      lua_pop(L, 1);
    }
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, out);
  }
  lua_remove(L, base);
}

void Sandbox::push_env(int metatable_ref) {
  lua_State* L = L_;
  lua_createtable(L, 0, 1);
  lua_pushvalue(L, -1);
  lua_setfield(L, -2, "_G");  // _G names the environment the code runs in, as in plain Lua
  lua_rawgeti(L, LUA_REGISTRYINDEX, metatable_ref == LUA_NOREF ? env_mt_ref_ : metatable_ref);
  lua_setmetatable(L, -2);
}

int Sandbox::env_metatable_ref(int parent_index) {
  lua_State* L = L_;
  parent_index = lua_absindex(L, parent_index);
  lua_createtable(L, 0, 2);
  lua_pushvalue(L, parent_index);
  lua_setfield(L, -2, "__index");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  return luaL_ref(L, LUA_REGISTRYINDEX);
}

void Sandbox::push_base() { lua_rawgeti(L_, LUA_REGISTRYINDEX, base_ref_); }

bool Sandbox::load_text(std::string_view source, const std::string& chunk_name, std::string* error) {
  int rc = luaL_loadbufferx(L_, source.data(), source.size(), chunk_name.c_str(), "t");
  if (rc == LUA_OK) return true;
  const char* msg = lua_tostring(L_, -1);
  *error = msg ? msg : "cannot load the chunk";
  if (rc == LUA_ERRMEM) *error += " (memory cap " + std::to_string(limits_.memory_bytes >> 20) + " MiB)";
  lua_pop(L_, 1);
  return false;
}

CallOutcome Sandbox::pcall(int nargs, int nresults) {
  return pcall_with(nargs, nresults, limits_.instructions,
                    std::chrono::steady_clock::now() + std::chrono::milliseconds(limits_.timeout_ms));
}

CallOutcome Sandbox::pcall_with(int nargs, int nresults, long long instructions,
                                std::chrono::steady_clock::time_point deadline, size_t print_cap) {
  lua_State* L = L_;
  const int fidx = lua_gettop(L) - nargs;
  lua_pushcfunction(L, traceback_handler);
  lua_insert(L, fidx);
  budget_left_ = instructions;
  deadline_ = deadline;
  tripped_ = CallStatus::ok;
  memory_refused_ = false;
  memory_failed_ = false;
  refused_size_ = 0;
  close_depth_ = 0;
  if (print_owner_ == this) {
    print_bytes_ = 0;
    print_cap_ = print_cap;
  }
  lua_sethook(L, count_hook, LUA_MASKCOUNT, kHookEvery);
  in_call_ = true;
  const int rc = lua_pcall(L, nargs, nresults, fidx);
  in_call_ = false;
  if (refused_size_ != 0) memory_failed_ = true;  // refused and never granted again
  refused_size_ = 0;
  lua_remove(L, fidx);
  CallOutcome out;
  if (rc == LUA_OK && tripped_ == CallStatus::ok && !memory_failed_) return out;
  if (rc != LUA_OK) {
    size_t n = 0;
    const char* msg = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &n) : nullptr;
    out.message = msg ? cap_message(std::string_view(msg, n)) : "(error object is not a string)";
    lua_pop(L, 1);
  } else {
    lua_settop(L, fidx - 1);
    out.message = tripped_ != CallStatus::ok ? "the script caught its own limit error and returned anyway"
                                             : "the script caught a memory error and returned anyway";
  }
  if (tripped_ != CallStatus::ok) {
    out.status = tripped_;
  } else if (rc == LUA_ERRMEM || memory_failed_ || (rc == LUA_ERRERR && memory_refused_)) {
    out.status = CallStatus::memory;
    out.message = "not enough memory: the sandbox memory cap of " + std::to_string(limits_.memory_bytes >> 20) +
                  " MiB was reached (" + out.message + ")";
  } else {
    out.status = CallStatus::error;
  }
  return out;
}

namespace {

struct FreezeCtx {
  int memo;               // originals -> proxies; visited functions -> true
  int restore;            // flat array of (function, upvalue index, value, fresh) records
  const void* chunk_env;  // lua_upvalueid of the main chunk's _ENV (set per call by the caller)
};

void record_upvalue(lua_State* L, const FreezeCtx& c, int fn, int i, bool fresh) {
  // The value to record is on top; it stays there.
  const lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, c.restore));
  lua_pushvalue(L, fn);
  lua_rawseti(L, c.restore, n + 1);
  lua_pushinteger(L, i);
  lua_rawseti(L, c.restore, n + 2);
  lua_pushvalue(L, -1);
  lua_rawseti(L, c.restore, n + 3);
  lua_pushboolean(L, fresh);
  lua_rawseti(L, c.restore, n + 4);
}

// Freezes the value on top of the stack in place (replacing a table with its proxy).
void freeze_top(Sandbox& sb, const FreezeCtx& c, int depth) {
  lua_State* L = sb.L();
  const int memo = c.memo;
  if (depth > 64) luaL_error(L, "top-level setup is nested more than 64 tables/functions deep");
  luaL_checkstack(L, 8, "freeze");
  const int t = lua_type(L, -1);
  if (t == LUA_TTHREAD)
    luaL_error(L,
               "top-level setup keeps a coroutine; it would carry state from one sample to the next "
               "(create coroutines inside reward())");
  if (t == LUA_TTABLE) {
    if (is_readonly(L, -1)) return;
    lua_pushvalue(L, -1);
    lua_rawget(L, memo);
    if (!lua_isnil(L, -1)) {
      lua_replace(L, -2);
      return;
    }
    lua_pop(L, 1);
    const int orig = lua_gettop(L);
    sb.push_readonly(orig);
    lua_pushvalue(L, orig);
    lua_pushvalue(L, -2);
    lua_rawset(L, memo);  // before recursing: cycles end at the memo
    lua_pushnil(L);
    while (lua_next(L, orig)) {
      const int vt = lua_type(L, -1);
      if (vt == LUA_TTABLE || vt == LUA_TFUNCTION || vt == LUA_TTHREAD) {
        freeze_top(sb, c, depth + 1);
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, orig);  // assigning an existing field is allowed during lua_next
      } else {
        lua_pop(L, 1);
      }
    }
    lua_replace(L, orig);
    return;
  }
  if (t != LUA_TFUNCTION) return;
  if (lua_iscfunction(L, -1)) {
    // Light C functions (every library function here) have no upvalues; a C closure with
    // upvalues is a coroutine.wrap function or a string.gmatch iterator: state.
    if (lua_getupvalue(L, -1, 1) != nullptr)
      luaL_error(L,
                 "top-level setup keeps a coroutine.wrap function or a string.gmatch iterator; it would carry "
                 "state from one sample to the next (create it inside reward())");
    return;
  }
  lua_pushvalue(L, -1);
  lua_rawget(L, memo);
  const bool seen = !lua_isnil(L, -1);
  lua_pop(L, 1);
  if (seen) return;
  const int fn = lua_gettop(L);
  lua_pushvalue(L, fn);
  lua_pushboolean(L, 1);
  lua_rawset(L, memo);
  for (int i = 1;; ++i) {
    const char* name = lua_getupvalue(L, fn, i);
    if (!name) break;
    const bool env = std::strcmp(name, "_ENV") == 0;
    if (env && lua_upvalueid(L, fn, i) == c.chunk_env) {  // set per call by the caller
      lua_pop(L, 1);
      continue;
    }
    freeze_top(sb, c, depth + 1);
    if (env && lua_istable(L, -1)) {
      // Another environment (`local _ENV = {}`, a function load() made at setup): every call
      // gets a fresh table reading through the frozen one, as the chunk's _ENV does.
      lua_createtable(L, 0, 2);
      lua_pushvalue(L, -2);
      lua_setfield(L, -2, "__index");
      lua_pushboolean(L, 0);
      lua_setfield(L, -2, "__metatable");
      lua_replace(L, -2);
      record_upvalue(L, c, fn, i, true);
      lua_pop(L, 1);
      lua_createtable(L, 0, 0);
      lua_rawgeti(L, c.restore, static_cast<lua_Integer>(lua_rawlen(L, c.restore)) - 1);
      lua_setmetatable(L, -2);
    } else {
      // Record (function, index, value) so every call starts from the setup value.
      record_upvalue(L, c, fn, i, false);
    }
    lua_setupvalue(L, fn, i);
  }
}

}  // namespace

void Sandbox::freeze_setup(int index, int chunk) {
  lua_State* L = L_;
  index = lua_absindex(L, index);
  chunk = lua_absindex(L, chunk);
  if (restore_ref_ == LUA_NOREF) {
    lua_newtable(L);
    restore_ref_ = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  lua_newtable(L);
  const int memo = lua_gettop(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, restore_ref_);
  const int restore = lua_gettop(L);
  const FreezeCtx c{memo, restore, lua_upvalueid(L, chunk, 1)};
  lua_pushnil(L);
  while (lua_next(L, index)) {
    const int vt = lua_type(L, -1);
    if (vt == LUA_TTABLE || vt == LUA_TFUNCTION || vt == LUA_TTHREAD) {
      freeze_top(*this, c, 0);
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_rawset(L, index);
    } else {
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 2);
}

void Sandbox::restore_upvalues() {
  if (restore_ref_ == LUA_NOREF) return;
  lua_State* L = L_;
  lua_rawgeti(L, LUA_REGISTRYINDEX, restore_ref_);
  const int restore = lua_gettop(L);
  const lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, restore));
  for (lua_Integer j = 1; j + 3 <= n; j += 4) {
    lua_rawgeti(L, restore, j);
    lua_rawgeti(L, restore, j + 1);
    const int up = static_cast<int>(lua_tointeger(L, -1));
    lua_pop(L, 1);
    lua_rawgeti(L, restore, j + 3);
    const bool fresh = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (fresh) {
      lua_createtable(L, 0, 0);  // between calls: within the host headroom
      lua_rawgeti(L, restore, j + 2);
      lua_setmetatable(L, -2);
    } else {
      lua_rawgeti(L, restore, j + 2);
    }
    lua_setupvalue(L, -2, up);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

void Sandbox::reseed(long long seed) {
  lua_rawgeti(L_, LUA_REGISTRYINDEX, randomseed_ref_);
  lua_pushinteger(L_, static_cast<lua_Integer>(seed));
  if (lua_pcall(L_, 1, 0, 0) != LUA_OK) lua_pop(L_, 1);
}

}  // namespace grpo::rewards
