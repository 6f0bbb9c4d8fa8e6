#include "rewards/wire.h"

#include <cstring>

#include "common/error.h"
#include "rewards/lua_json.h"

namespace grpo::rewards::wire {
namespace {

void put_f64(std::string& out, double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, 8);
  put_u64(out, bits);
}

bool get_f64(std::string_view& in, double* v) {
  uint64_t bits;
  if (!get_u64(in, &bits)) return false;
  std::memcpy(v, &bits, 8);
  return true;
}

void put_str(std::string& out, std::string_view s) {
  put_u32(out, static_cast<uint32_t>(s.size()));
  out.append(s.data(), s.size());
}

bool get_str(std::string_view& in, std::string_view* s) {
  uint32_t n;
  if (!get_u32(in, &n) || in.size() < n) return false;
  *s = in.substr(0, n);
  in.remove_prefix(n);
  return true;
}

[[noreturn]] void malformed() { throw Error("reward worker: malformed message on the worker socket"); }

bool is_container(char tag) { return tag == 'a' || tag == 'o'; }

// Skips one value; false when malformed. The parent never sends a sample deeper than
// kMaxJsonDepth (encode_value refuses it), so deeper here means a broken message.
bool skip(std::string_view& in, int depth) {
  if (in.empty() || (is_container(in[0]) && depth >= kMaxJsonDepth)) return false;
  const char tag = in[0];
  in.remove_prefix(1);
  uint32_t n;
  std::string_view s;
  switch (tag) {
    case 'n':
    case 'f':
    case 't':
      return true;
    case 'i':
    case 'd':
      if (in.size() < 8) return false;
      in.remove_prefix(8);
      return true;
    case 's':
      return get_str(in, &s);
    case 'a':
      if (!get_u32(in, &n)) return false;
      for (uint32_t i = 0; i < n; ++i)
        if (!skip(in, depth + 1)) return false;
      return true;
    case 'o':
      if (!get_u32(in, &n)) return false;
      for (uint32_t i = 0; i < n; ++i)
        if (!get_str(in, &s) || !skip(in, depth + 1)) return false;
      return true;
    default:
      return false;
  }
}

// Only string_views and integers live in these frames: a Lua error longjmps out cleanly.
void push_rec(lua_State* L, std::string_view& in, int depth) {
  luaL_checkstack(L, 4, "sample nested too deep");
  if (in.empty() || (is_container(in[0]) && depth >= kMaxJsonDepth))
    luaL_error(L, "malformed or too deeply nested sample");
  const char tag = in[0];
  in.remove_prefix(1);
  uint32_t n = 0;
  uint64_t u = 0;
  double d = 0;
  std::string_view s;
  switch (tag) {
    case 'n':
      lua_pushnil(L);
      return;
    case 'f':
    case 't':
      lua_pushboolean(L, tag == 't');
      return;
    case 'i':
      if (!get_u64(in, &u)) break;
      lua_pushinteger(L, static_cast<lua_Integer>(u));
      return;
    case 'd':
      if (!get_f64(in, &d)) break;
      lua_pushnumber(L, d);
      return;
    case 's':
      if (!get_str(in, &s)) break;
      lua_pushlstring(L, s.data(), s.size());
      return;
    case 'a':
      if (!get_u32(in, &n)) break;
      lua_createtable(L, static_cast<int>(n < (1u << 24) ? n : (1u << 24)), 0);
      for (uint32_t i = 0; i < n; ++i) {
        push_rec(L, in, depth + 1);
        lua_rawseti(L, -2, static_cast<lua_Integer>(i) + 1);
      }
      return;
    case 'o':
      if (!get_u32(in, &n)) break;
      lua_createtable(L, 0, static_cast<int>(n < (1u << 24) ? n : (1u << 24)));
      for (uint32_t i = 0; i < n; ++i) {
        if (!get_str(in, &s)) luaL_error(L, "malformed sample");
        lua_pushlstring(L, s.data(), s.size());
        push_rec(L, in, depth + 1);
        lua_rawset(L, -3);
      }
      return;
    default:
      break;
  }
  luaL_error(L, "malformed sample");
}

}  // namespace

void put_u32(std::string& out, uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out.append(b, 4);
}

void put_u64(std::string& out, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out.append(b, 8);
}

bool get_u32(std::string_view& in, uint32_t* v) {
  if (in.size() < 4) return false;
  uint32_t r = 0;
  for (int i = 0; i < 4; ++i) r |= static_cast<uint32_t>(static_cast<unsigned char>(in[i])) << (8 * i);
  in.remove_prefix(4);
  *v = r;
  return true;
}

bool get_u64(std::string_view& in, uint64_t* v) {
  if (in.size() < 8) return false;
  uint64_t r = 0;
  for (int i = 0; i < 8; ++i) r |= static_cast<uint64_t>(static_cast<unsigned char>(in[i])) << (8 * i);
  in.remove_prefix(8);
  *v = r;
  return true;
}

namespace {

void encode_rec(const nlohmann::json& value, std::string& out, int depth) {
  using t = nlohmann::json::value_t;
  if (value.is_structured() && depth >= kMaxJsonDepth)
    throw Error("the sample nests objects/arrays deeper than " + std::to_string(kMaxJsonDepth) +
                " levels (check its dataset row); it is not scored");
  switch (value.type()) {
    case t::boolean:
      out.push_back(value.get<bool>() ? 't' : 'f');
      return;
    case t::number_integer:
      out.push_back('i');
      put_u64(out, static_cast<uint64_t>(value.get<int64_t>()));
      return;
    case t::number_unsigned:
      if (value.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX)) {
        out.push_back('i');
        put_u64(out, value.get<uint64_t>());
      } else {
        out.push_back('d');
        put_f64(out, static_cast<double>(value.get<uint64_t>()));
      }
      return;
    case t::number_float:
      out.push_back('d');
      put_f64(out, value.get<double>());
      return;
    case t::string:
      out.push_back('s');
      put_str(out, value.get_ref<const std::string&>());
      return;
    case t::array:
      out.push_back('a');
      put_u32(out, static_cast<uint32_t>(value.size()));
      for (const auto& v : value) encode_rec(v, out, depth + 1);
      return;
    case t::object:
      out.push_back('o');
      put_u32(out, static_cast<uint32_t>(value.size()));
      for (auto it = value.begin(); it != value.end(); ++it) {
        put_str(out, it.key());
        encode_rec(it.value(), out, depth + 1);
      }
      return;
    default:
      out.push_back('n');
  }
}

}  // namespace

void encode_value(const nlohmann::json& value, std::string& out) { encode_rec(value, out, 0); }

std::string_view take_value(std::string_view& in) {
  std::string_view start = in;
  if (!skip(in, 0)) malformed();
  return start.substr(0, start.size() - in.size());
}

void push_value(lua_State* L, std::string_view encoded) { push_rec(L, encoded, 0); }

void encode_result(const SampleResult& r, std::string& out) {
  out.push_back(static_cast<char>(r.status));
  put_f64(out, r.score);
  put_f64(out, r.seconds);
  put_u32(out, static_cast<uint32_t>(r.metrics.size()));
  for (const auto& [k, v] : r.metrics) {
    put_str(out, k);
    put_f64(out, v);
  }
  put_str(out, r.error);
}

SampleResult take_result(std::string_view& in) {
  SampleResult r;
  if (in.empty() || static_cast<unsigned char>(in[0]) > static_cast<unsigned char>(ScoreStatus::crashed)) malformed();
  r.status = static_cast<ScoreStatus>(in[0]);
  in.remove_prefix(1);
  uint32_t n;
  if (!get_f64(in, &r.score) || !get_f64(in, &r.seconds) || !get_u32(in, &n)) malformed();
  for (uint32_t i = 0; i < n; ++i) {
    std::string_view k;
    double v;
    if (!get_str(in, &k) || !get_f64(in, &v)) malformed();
    r.metrics.emplace(std::string(k), v);
  }
  std::string_view e;
  if (!get_str(in, &e)) malformed();
  r.error = std::string(e);
  return r;
}

}  // namespace grpo::rewards::wire
