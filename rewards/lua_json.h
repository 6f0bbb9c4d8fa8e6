// JSON <-> Lua values for samples and grpo.json_decode.
#pragma once

#include <lua.hpp>
#include <nlohmann/json.hpp>

namespace grpo::rewards {

// Pushes `value` as a Lua value: objects and arrays become tables (arrays 1-based), null
// becomes nil. Raises a Lua error (longjmp) past 200 levels of nesting or when out of
// memory, so call it only inside a protected call, with no C++ temporaries alive.
void push_json(lua_State* L, const nlohmann::json& value, int depth = 0);

}  // namespace grpo::rewards
