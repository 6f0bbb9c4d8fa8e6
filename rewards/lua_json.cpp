#include "rewards/lua_json.h"

namespace grpo::rewards {

// Only references and iterators (trivially destructible) live in these frames, so a Lua
// error that longjmps out of them leaks nothing.
void push_json(lua_State* L, const nlohmann::json& value, int depth) {
  if (depth > 200) luaL_error(L, "JSON nested deeper than 200 levels");
  luaL_checkstack(L, 4, "JSON nested too deep");
  switch (value.type()) {
    case nlohmann::json::value_t::null:
    case nlohmann::json::value_t::discarded:
      lua_pushnil(L);
      return;
    case nlohmann::json::value_t::boolean:
      lua_pushboolean(L, value.get_ref<const bool&>() ? 1 : 0);
      return;
    case nlohmann::json::value_t::number_integer:
      lua_pushinteger(L, static_cast<lua_Integer>(value.get_ref<const int64_t&>()));
      return;
    case nlohmann::json::value_t::number_unsigned: {
      uint64_t u = value.get_ref<const uint64_t&>();
      if (u <= static_cast<uint64_t>(INT64_MAX))
        lua_pushinteger(L, static_cast<lua_Integer>(u));
      else
        lua_pushnumber(L, static_cast<lua_Number>(u));
      return;
    }
    case nlohmann::json::value_t::number_float:
      lua_pushnumber(L, value.get_ref<const double&>());
      return;
    case nlohmann::json::value_t::string: {
      const std::string& s = value.get_ref<const std::string&>();
      lua_pushlstring(L, s.data(), s.size());
      return;
    }
    case nlohmann::json::value_t::array: {
      const size_t n = value.size();
      lua_createtable(L, static_cast<int>(n > 1u << 24 ? 1u << 24 : n), 0);
      for (size_t i = 0; i < n; ++i) {
        push_json(L, value[i], depth + 1);
        lua_rawseti(L, -2, static_cast<lua_Integer>(i + 1));
      }
      return;
    }
    case nlohmann::json::value_t::object: {
      lua_createtable(L, 0, static_cast<int>(value.size() > 1u << 24 ? 1u << 24 : value.size()));
      for (auto it = value.begin(); it != value.end(); ++it) {
        const std::string& key = it.key();
        lua_pushlstring(L, key.data(), key.size());
        push_json(L, it.value(), depth + 1);
        lua_rawset(L, -3);
      }
      return;
    }
    case nlohmann::json::value_t::binary:
      lua_pushnil(L);
      return;
  }
  lua_pushnil(L);
}

}  // namespace grpo::rewards
