// JSON <-> Lua values for samples and grpo.json_decode.
#pragma once

#include <lua.hpp>
#include <nlohmann/json.hpp>
#include <string_view>

namespace grpo::rewards {

// Samples and decoded documents may nest containers this many levels deep (the sample object
// itself is level 1). The same limit holds in process (push_json), on the worker socket
// (wire.h) and in grpo.json_decode, so a row is refused the same way on every path.
constexpr int kMaxJsonDepth = 200;

// Pushes `value` as a Lua value: objects and arrays become tables (arrays 1-based), null
// becomes nil. Raises a Lua error (longjmp) past kMaxJsonDepth levels of nesting or when out
// of memory, so call it only inside a protected call, with no C++ temporaries alive.
void push_json(lua_State* L, const nlohmann::json& value, int depth = 0);

// Parses JSON text (RFC 8259) straight into Lua values, inside the state's allocator: no
// document is built outside the memory cap. Same mapping as push_json (integers that fit
// int64 stay integers). Raises a Lua error naming the byte offset when the text is not JSON
// or nests deeper than kMaxJsonDepth.
void push_json_text(lua_State* L, std::string_view text);

}  // namespace grpo::rewards
