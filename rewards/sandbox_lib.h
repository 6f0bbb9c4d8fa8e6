// Bounded replacements for the few standard library functions that can run unbounded C
// loops, run Lua code outside the instruction hook, or crash Debian's Lua 5.4.4:
//
//   xpcall            the message handler is skipped while a limit error climbs out: that
//                     error is raised inside the count hook, where Lua runs no hook, so a
//                     handler that loops would never be stopped in process
//   coroutine.close   refused while a limit error climbs out (the pending __close handlers of
//                     a coroutine the hook stopped run without the hook) and past
//                     kMaxCloseDepth nested closes (5.4.4 segfaults on deep nesting)
//   coroutine.wrap    the same rules for the __close handlers it runs when the body fails
//   string.rep        an empty result returns at once (rep("", 2^62) is a 2^62-step C loop)
//   table.move        charged one instruction per element moved
//   table.insert/remove  charged one instruction per element shifted (#t may be a __len
//                     metamethod answering 2^60 for an empty table)
//
// The string and table replacements go into the real library tables (strings reach
// string.rep through their metatable), so every sandbox and every nested state gets them.
#pragma once

#include <lua.hpp>

namespace grpo::rewards {

// Puts the replacements into the library tables held by the globals table at `globals`
// (xpcall included). All of them are plain C functions without upvalues, so top-level setup
// may keep them (`local insert = table.insert`).
void patch_libraries(lua_State* L, int globals);

}  // namespace grpo::rewards
