// The `grpo` table reward scripts see: answer extraction, number normalisation, math
// equivalence, the <think> format check, json_decode and run_lua (answer.h, run_lua.h).
//
//   grpo.boxed(text)          -> string | nil   last \boxed{...} (nested braces)
//   grpo.after_hashes(text)   -> string | nil   text after the last ####
//   grpo.last_number(text)    -> string | nil   last number as written
//   grpo.after_think(text)    -> string | nil   text after the last </think>
//   grpo.think_format(text)   -> boolean        <think>...</think> answer
//   grpo.parse_number(text)   -> number, "p/q" | nil
//   grpo.normalize(text)      -> string         canonical number ("1/2") or normalised text
//   grpo.math_equal(a, b)     -> boolean        exact rationals where possible
//   grpo.json_decode(text)    -> value | nil, error   (parsed inside the memory cap)
//   grpo.run_lua(code, tests, {instructions=, memory_mb=, timeout_ms=})
//       -> { loaded=bool, error=string|nil, passed=n, total=n, tests={ {passed=bool, error=...}, ... } }
#pragma once

#include <lua.hpp>

namespace grpo::rewards {

// Pushes a new table with the helper functions.
void push_helper_lib(lua_State* L);

// Frees the helpers' scratch results (they live outside the memory cap); the scorer calls it
// after every sample, so nothing a sample made stays resident.
void release_helper_scratch();

}  // namespace grpo::rewards
