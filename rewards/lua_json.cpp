#include "rewards/lua_json.h"

#include <charconv>
#include <cstring>

namespace grpo::rewards {

// Only references and iterators (trivially destructible) live in these frames, so a Lua
// error that longjmps out of them leaks nothing.
void push_json(lua_State* L, const nlohmann::json& value, int depth) {
  if (value.is_structured() && depth >= kMaxJsonDepth)
    luaL_error(L, "the sample nests objects/arrays deeper than %d levels (check its dataset row); it is not scored",
               kMaxJsonDepth);
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

namespace {

// A recursive-descent parser over the text; recursion is bounded by kMaxJsonDepth. Only
// pointers and integers live in these frames, so a Lua error longjmps out cleanly.
struct JsonText {
  lua_State* L;
  const char* begin;
  const char* p;
  const char* end;

  [[noreturn]] void fail(const char* what) {
    luaL_error(L, "JSON: %s at byte %I", what, static_cast<lua_Integer>(p - begin));
    for (;;) {
    }
  }
  void skip_space() {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) ++p;
  }
  bool literal(const char* word) {
    const size_t n = std::strlen(word);
    if (static_cast<size_t>(end - p) < n || std::memcmp(p, word, n) != 0) return false;
    p += n;
    return true;
  }
  unsigned hex4() {
    if (end - p < 4) fail("truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = *p++;
      v <<= 4;
      if (c >= '0' && c <= '9')
        v |= static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f')
        v |= static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        v |= static_cast<unsigned>(c - 'A' + 10);
      else
        fail("bad \\u escape");
    }
    return v;
  }
  static void add_utf8(luaL_Buffer* b, unsigned cp) {
    char out[4];
    int n = 0;
    if (cp < 0x80) {
      out[n++] = static_cast<char>(cp);
    } else if (cp < 0x800) {
      out[n++] = static_cast<char>(0xC0 | (cp >> 6));
      out[n++] = static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out[n++] = static_cast<char>(0xE0 | (cp >> 12));
      out[n++] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out[n++] = static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out[n++] = static_cast<char>(0xF0 | (cp >> 18));
      out[n++] = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out[n++] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out[n++] = static_cast<char>(0x80 | (cp & 0x3F));
    }
    luaL_addlstring(b, out, static_cast<size_t>(n));
  }
  // p is just past the opening quote; pushes the string.
  void string() {
    const char* start = p;
    while (p < end && *p != '"' && *p != '\\') {
      if (static_cast<unsigned char>(*p) < 0x20) fail("control character in a string");
      ++p;
    }
    if (p >= end) fail("unterminated string");
    if (*p == '"') {  // no escapes: one copy
      lua_pushlstring(L, start, static_cast<size_t>(p - start));
      ++p;
      return;
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addlstring(&b, start, static_cast<size_t>(p - start));
    for (;;) {
      if (p >= end) fail("unterminated string");
      const char c = *p++;
      if (c == '"') break;
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in a string");
      if (c != '\\') {
        luaL_addchar(&b, c);
        continue;
      }
      if (p >= end) fail("unterminated string");
      switch (*p++) {
        case '"':
          luaL_addchar(&b, '"');
          break;
        case '\\':
          luaL_addchar(&b, '\\');
          break;
        case '/':
          luaL_addchar(&b, '/');
          break;
        case 'b':
          luaL_addchar(&b, '\b');
          break;
        case 'f':
          luaL_addchar(&b, '\f');
          break;
        case 'n':
          luaL_addchar(&b, '\n');
          break;
        case 'r':
          luaL_addchar(&b, '\r');
          break;
        case 't':
          luaL_addchar(&b, '\t');
          break;
        case 'u': {
          unsigned cp = hex4();
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (end - p < 2 || p[0] != '\\' || p[1] != 'u') fail("unpaired surrogate in a \\u escape");
            p += 2;
            const unsigned lo = hex4();
            if (lo < 0xDC00 || lo > 0xDFFF) fail("unpaired surrogate in a \\u escape");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            fail("unpaired surrogate in a \\u escape");
          }
          add_utf8(&b, cp);
          break;
        }
        default:
          fail("bad escape in a string");
      }
    }
    luaL_pushresult(&b);
  }
  void number() {
    const char* start = p;
    if (p < end && *p == '-') ++p;
    if (p < end && *p == '0') {
      ++p;
    } else if (p < end && *p >= '1' && *p <= '9') {
      while (p < end && *p >= '0' && *p <= '9') ++p;
    } else {
      fail("bad number");
    }
    bool integral = true;
    if (p < end && *p == '.') {
      integral = false;
      ++p;
      if (p >= end || *p < '0' || *p > '9') fail("bad number");
      while (p < end && *p >= '0' && *p <= '9') ++p;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
      integral = false;
      ++p;
      if (p < end && (*p == '+' || *p == '-')) ++p;
      if (p >= end || *p < '0' || *p > '9') fail("bad number");
      while (p < end && *p >= '0' && *p <= '9') ++p;
    }
    if (integral) {
      long long v = 0;
      const auto r = std::from_chars(start, p, v);
      if (r.ec == std::errc() && r.ptr == p) {
        lua_pushinteger(L, static_cast<lua_Integer>(v));
        return;
      }
    }
    double d = 0;
    const auto r = std::from_chars(start, p, d);
    if (r.ptr != p) fail("bad number");
    lua_pushnumber(L, d);  // out of range: from_chars leaves d as +-inf or 0, as strtod would
  }
  void value(int depth) {
    skip_space();
    if (p >= end) fail("unexpected end of text");
    switch (*p) {
      case '{':
      case '[': {
        if (depth >= kMaxJsonDepth) fail("nested deeper than 200 levels");
        luaL_checkstack(L, 6, "JSON nested too deep");
        const bool object = *p++ == '{';
        const char close = object ? '}' : ']';
        lua_newtable(L);
        skip_space();
        if (p < end && *p == close) {
          ++p;
          return;
        }
        for (lua_Integer i = 1;; ++i) {
          if (object) {
            skip_space();
            if (p >= end || *p != '"') fail("expected a string key");
            ++p;
            string();
            skip_space();
            if (p >= end || *p != ':') fail("expected ':'");
            ++p;
            value(depth + 1);
            lua_rawset(L, -3);
          } else {
            value(depth + 1);
            lua_rawseti(L, -2, i);
          }
          skip_space();
          if (p < end && *p == ',') {
            ++p;
            continue;
          }
          if (p < end && *p == close) {
            ++p;
            return;
          }
          fail(object ? "expected ',' or '}'" : "expected ',' or ']'");
        }
      }
      case '"':
        ++p;
        string();
        return;
      case 't':
        if (!literal("true")) fail("bad literal");
        lua_pushboolean(L, 1);
        return;
      case 'f':
        if (!literal("false")) fail("bad literal");
        lua_pushboolean(L, 0);
        return;
      case 'n':
        if (!literal("null")) fail("bad literal");
        lua_pushnil(L);
        return;
      default:
        number();
    }
  }
};

}  // namespace

void push_json_text(lua_State* L, std::string_view text) {
  JsonText j{L, text.data(), text.data(), text.data() + text.size()};
  j.value(0);
  j.skip_space();
  if (j.p != j.end) j.fail("unexpected text after the value");
}

}  // namespace grpo::rewards
