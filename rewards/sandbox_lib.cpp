#include "rewards/sandbox_lib.h"

#include <cstring>

#include "rewards/lua_sandbox.h"

// Plain C functions over the Lua API (Debian's liblua5.4 is C: errors longjmp). Each follows
// the semantics of the 5.4 function it replaces; only the bound is new.

namespace grpo::rewards {
namespace {

bool limit_tripped(lua_State* L) { return Sandbox::of(L)->tripped_ != CallStatus::ok; }

// ---- xpcall ----------------------------------------------------------------------------

// A limit error is raised inside the count hook, and Lua calls message handlers before it
// unwinds the hook's frame, with hooks off: a user handler would run unbounded. While a limit
// error climbs out, the handler is skipped and the message passes through unchanged.
int guarded_handler(lua_State* L) {
  if (limit_tripped(L)) return 1;
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 1);
  return 1;
}

int finish_xpcall(lua_State* L, int status, lua_KContext extra) {
  if (status != LUA_OK && status != LUA_YIELD) {
    lua_pushboolean(L, 0);
    lua_pushvalue(L, -2);
    return 2;  // false, message
  }
  return lua_gettop(L) - static_cast<int>(extra);
}

int sandbox_xpcall(lua_State* L) {
  const int n = lua_gettop(L);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_pushvalue(L, 2);
  lua_pushcclosure(L, guarded_handler, 1);
  lua_replace(L, 2);      // [f, handler, args...]
  lua_pushboolean(L, 1);  // first result when no error
  lua_pushvalue(L, 1);    // the function
  lua_rotate(L, 3, 2);    // [f, handler, true, f, args...]
  const int status = lua_pcallk(L, n - 2, LUA_MULTRET, 2, 2, finish_xpcall);
  return finish_xpcall(L, status, 2);
}

// ---- coroutines ------------------------------------------------------------------------

lua_State* check_thread(lua_State* L, int index) {
  lua_State* co = lua_tothread(L, index);
  luaL_argexpected(L, co != nullptr, index, "coroutine");
  return co;
}

// Runs the pending __close handlers of `co` (dead or suspended) under the sandbox's rules.
// Returns the status of lua_resetthread; the error, if any, is on top of co's stack.
int reset_thread(lua_State* L, lua_State* co) {
  Sandbox* sb = Sandbox::of(L);
  if (sb->tripped_ != CallStatus::ok)
    luaL_error(L, "cannot close a coroutine while a sandbox limit error is being raised");
  if (sb->close_depth_ >= kMaxCloseDepth)
    luaL_error(L, "coroutine.close nested more than %d deep (refused: Lua 5.4.4 crashes on deep nesting)",
               kMaxCloseDepth);
  ++sb->close_depth_;
  const int status = lua_resetthread(co);  // protected: never raises
  --sb->close_depth_;
  return status;
}

int sandbox_coclose(lua_State* L) {
  lua_State* co = check_thread(L, 1);
  bool closable = false;
  const char* what = "running";
  if (co != L) {
    switch (lua_status(co)) {
      case LUA_YIELD:
        closable = true;
        break;
      case LUA_OK: {
        lua_Debug ar;
        if (lua_getstack(co, 0, &ar))
          what = "normal";
        else
          closable = true;  // dead, or not started yet
        break;
      }
      default:
        closable = true;  // dead by an error
    }
  }
  if (!closable) return luaL_error(L, "cannot close a %s coroutine", what);
  if (reset_thread(L, co) == LUA_OK) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushboolean(L, 0);
  lua_xmove(co, L, 1);
  return 2;
}

// The function coroutine.wrap returns; upvalue 1 is the coroutine.
int wrap_call(lua_State* L) {
  lua_State* co = lua_tothread(L, lua_upvalueindex(1));
  const int narg = lua_gettop(L);
  if (!lua_checkstack(co, narg)) return luaL_error(L, "too many arguments to resume");
  lua_xmove(L, co, narg);
  int nres = 0;
  int status = lua_resume(co, L, narg, &nres);
  if (status == LUA_OK || status == LUA_YIELD) {
    if (!lua_checkstack(L, nres + 1)) {
      lua_pop(co, nres);
      return luaL_error(L, "too many results to resume");
    }
    lua_xmove(co, L, nres);
    return nres;
  }
  lua_xmove(co, L, 1);  // the error
  status = lua_status(co);
  // A coroutine that failed has its __close handlers run here, unless a limit stopped it: then
  // they would run without the hook, so the error climbs out and they never run.
  if (status != LUA_OK && status != LUA_YIELD && !limit_tripped(L)) {
    status = reset_thread(L, co);
    lua_pop(L, 1);
    lua_xmove(co, L, 1);
  }
  if (status != LUA_ERRMEM && lua_type(L, -1) == LUA_TSTRING) {
    luaL_where(L, 1);
    lua_insert(L, -2);
    lua_concat(L, 2);
  }
  return lua_error(L);
}

int sandbox_cowrap(lua_State* L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_State* co = lua_newthread(L);
  lua_pushvalue(L, 1);
  lua_xmove(L, co, 1);
  lua_pushcclosure(L, wrap_call, 1);
  return 1;
}

// ---- string.rep ------------------------------------------------------------------------

int bounded_rep(lua_State* L) {
  size_t l = 0, lsep = 0;
  const char* s = luaL_checklstring(L, 1, &l);
  lua_Integer n = luaL_checkinteger(L, 2);
  const char* sep = luaL_optlstring(L, 3, "", &lsep);
  if (n <= 0 || l + lsep == 0) {  // the stock rep loops n times even when nothing is copied
    lua_pushliteral(L, "");
    return 1;
  }
  const size_t max_size = static_cast<size_t>(LUA_MAXINTEGER) < static_cast<size_t>(-1)
                              ? static_cast<size_t>(LUA_MAXINTEGER)
                              : static_cast<size_t>(-1);
  if (l + lsep < l || l + lsep > max_size / static_cast<size_t>(n)) return luaL_error(L, "resulting string too large");
  const size_t total = static_cast<size_t>(n) * l + static_cast<size_t>(n - 1) * lsep;
  luaL_Buffer b;
  char* p = luaL_buffinitsize(L, &b, total);  // the memory cap bounds n from here on
  while (n-- > 1) {
    std::memcpy(p, s, l);
    p += l;
    if (lsep > 0) {
      std::memcpy(p, sep, lsep);
      p += lsep;
    }
  }
  std::memcpy(p, s, l);
  luaL_pushresultsize(&b, total);
  return 1;
}

// ---- table.move / insert / remove ------------------------------------------------------

int bounded_move(lua_State* L) {
  const lua_Integer f = luaL_checkinteger(L, 2);
  const lua_Integer e = luaL_checkinteger(L, 3);
  const lua_Integer t = luaL_checkinteger(L, 4);
  const int tt = !lua_isnoneornil(L, 5) ? 5 : 1;
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checktype(L, tt, LUA_TTABLE);
  if (e >= f) {
    luaL_argcheck(L, f > 0 || e < LUA_MAXINTEGER + f, 3, "too many elements to move");
    const lua_Integer n = e - f + 1;
    luaL_argcheck(L, t <= LUA_MAXINTEGER - n + 1, 4, "destination wrap around");
    Sandbox::charge(L, n);
    if (t > e || t <= f || (tt != 1 && !lua_compare(L, 1, tt, LUA_OPEQ))) {
      for (lua_Integer i = 0; i < n; ++i) {
        lua_geti(L, 1, f + i);
        lua_seti(L, tt, t + i);
      }
    } else {
      for (lua_Integer i = n - 1; i >= 0; --i) {
        lua_geti(L, 1, f + i);
        lua_seti(L, tt, t + i);
      }
    }
  }
  lua_pushvalue(L, tt);
  return 1;
}

int bounded_insert(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  const lua_Integer e = luaL_intop(+, luaL_len(L, 1), 1);  // first empty slot; #t read once
  lua_Integer pos = e;
  switch (lua_gettop(L)) {
    case 2:
      break;
    case 3:
      pos = luaL_checkinteger(L, 2);
      luaL_argcheck(L, static_cast<lua_Unsigned>(pos) - 1u < static_cast<lua_Unsigned>(e), 2, "position out of bounds");
      Sandbox::charge(L, e - pos);
      for (lua_Integer i = e; i > pos; --i) {
        lua_geti(L, 1, i - 1);
        lua_seti(L, 1, i);
      }
      break;
    default:
      return luaL_error(L, "wrong number of arguments to 'insert'");
  }
  lua_seti(L, 1, pos);
  return 0;
}

int bounded_remove(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  const lua_Integer size = luaL_len(L, 1);
  lua_Integer pos = luaL_optinteger(L, 2, size);
  if (pos != size)
    luaL_argcheck(L, static_cast<lua_Unsigned>(pos) - 1u <= static_cast<lua_Unsigned>(size), 2,
                  "position out of bounds");
  if (size > pos) Sandbox::charge(L, size - pos);
  lua_geti(L, 1, pos);
  for (; pos < size; ++pos) {
    lua_geti(L, 1, pos + 1);
    lua_seti(L, 1, pos);
  }
  lua_pushnil(L);
  lua_seti(L, 1, pos);
  return 1;
}

void set_field(lua_State* L, int globals, const char* lib, const char* name, lua_CFunction fn) {
  lua_getfield(L, globals, lib);
  lua_pushcfunction(L, fn);
  lua_setfield(L, -2, name);
  lua_pop(L, 1);
}

}  // namespace

void patch_libraries(lua_State* L, int globals) {
  globals = lua_absindex(L, globals);
  lua_pushcfunction(L, sandbox_xpcall);
  lua_setfield(L, globals, "xpcall");
  set_field(L, globals, LUA_COLIBNAME, "close", sandbox_coclose);
  set_field(L, globals, LUA_COLIBNAME, "wrap", sandbox_cowrap);
  set_field(L, globals, LUA_STRLIBNAME, "rep", bounded_rep);
  set_field(L, globals, LUA_TABLIBNAME, "move", bounded_move);
  set_field(L, globals, LUA_TABLIBNAME, "insert", bounded_insert);
  set_field(L, globals, LUA_TABLIBNAME, "remove", bounded_remove);
}

}  // namespace grpo::rewards
