// The worker socket's encoding: JSON values and results in a small length-prefixed binary
// form. nlohmann's text parser reads strings a character at a time (~40 us per 1 KB sample
// round trip measured here); this form copies strings whole, and the worker pushes samples
// straight into Lua without building a JSON tree.
#pragma once

#include <cstdint>
#include <lua.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "rewards/reward_script.h"

namespace grpo::rewards::wire {

void put_u32(std::string& out, uint32_t v);
void put_u64(std::string& out, uint64_t v);

// Reads from the front of `in`, advancing it; false when `in` is too short.
bool get_u32(std::string_view& in, uint32_t* v);
bool get_u64(std::string_view& in, uint64_t* v);

// One JSON value: tag byte, then payload ('n' null, 'f'/'t' booleans, 'i' int64, 'd' double,
// 's' string, 'a' array, 'o' object; lengths and counts as u32). Throws grpo::Error, with
// `out` partly written, for a value nested deeper than kMaxJsonDepth (lua_json.h): the
// recursion never goes deeper than that, whatever the row.
void encode_value(const nlohmann::json& value, std::string& out);
// Returns the encoded value at the front of `in` and advances past it; throws grpo::Error
// when malformed.
std::string_view take_value(std::string_view& in);
// Pushes an encoded value as a Lua value (inside a protected call: raises Lua errors).
void push_value(lua_State* L, std::string_view encoded);

void encode_result(const SampleResult& r, std::string& out);
// Throws grpo::Error when malformed.
SampleResult take_result(std::string_view& in);

}  // namespace grpo::rewards::wire
