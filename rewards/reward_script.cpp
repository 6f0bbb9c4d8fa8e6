#include "rewards/reward_script.h"

#include <chrono>
#include <cmath>
#include <string_view>

#include "common/error.h"
#include "common/sha256.h"
#include "rewards/helper_lib.h"
#include "rewards/lua_json.h"
#include "rewards/wire.h"

namespace grpo::rewards {
namespace {

// Samples come as JSON (in process) or in the worker wire encoding (wire.h).
// A group is an array of samples (one sample is a group of one: no copy of a hostile,
// deeply nested row is ever made).
struct CallCtx {
  Sandbox* sb;
  const RewardScript::Refs* refs;
  const nlohmann::json* sample = nullptr;  // reward(sample)
  std::string_view encoded_sample;
  const nlohmann::json* group = nullptr;  // reward_group(samples): group[0 .. count)
  const std::string_view* encoded_group = nullptr;
  size_t count = 0;
  int index = 0;
};

// Points the chunk's _ENV (shared by every function the top level defined) at a fresh
// table over the setup environment, then pushes the function `name`.
void prepare_call(lua_State* L, const CallCtx& ctx, const char* name) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx.refs->chunk);
  ctx.sb->push_env(ctx.refs->env_mt);
  lua_setupvalue(L, -2, 1);
  lua_pop(L, 1);
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx.refs->setup);
  lua_pushstring(L, name);
  lua_rawget(L, -2);
  lua_remove(L, -2);
}

void push_sample(lua_State* L, const nlohmann::json* sample, std::string_view encoded, int index) {
  if (sample)
    push_json(L, *sample);
  else
    wire::push_value(L, encoded);
  if (!lua_istable(L, -1)) luaL_error(L, "a sample must be a JSON object");
  lua_pushinteger(L, index);
  lua_setfield(L, -2, "index");
}

// Runs inside Sandbox::pcall, so building the sample tables is protected too.
int call_reward(lua_State* L) {
  const auto& ctx = *static_cast<const CallCtx*>(lua_touserdata(L, 1));
  prepare_call(L, ctx, "reward");
  push_sample(L, ctx.sample, ctx.encoded_sample, ctx.index);
  lua_call(L, 1, 1);
  return 1;
}

int call_reward_group(lua_State* L) {
  const auto& ctx = *static_cast<const CallCtx*>(lua_touserdata(L, 1));
  prepare_call(L, ctx, "reward_group");
  const size_t n = ctx.count;
  lua_createtable(L, static_cast<int>(n), 0);
  for (size_t i = 0; i < n; ++i) {
    if (ctx.group)
      push_sample(L, &ctx.group[i], {}, static_cast<int>(i + 1));
    else
      push_sample(L, nullptr, ctx.encoded_group[i], static_cast<int>(i + 1));
    lua_rawseti(L, -2, static_cast<lua_Integer>(i + 1));
  }
  lua_call(L, 1, 1);
  return 1;
}

int run_setup(lua_State* L) {
  // 1: chunk, 2: setup env
  lua_pushvalue(L, 2);
  lua_setupvalue(L, 1, 1);
  lua_pushvalue(L, 1);
  lua_call(L, 0, 0);
  return 0;
}

int freeze_setup(lua_State* L) {
  Sandbox::of(L)->freeze_setup(1, 2);  // 1: setup env, 2: main chunk
  return 0;
}

ScoreStatus from_call(CallStatus s) {
  switch (s) {
    case CallStatus::ok:
      return ScoreStatus::ok;
    case CallStatus::error:
      return ScoreStatus::error;
    case CallStatus::budget:
      return ScoreStatus::budget;
    case CallStatus::memory:
      return ScoreStatus::memory;
    case CallStatus::timeout:
      return ScoreStatus::timeout;
  }
  return ScoreStatus::error;
}

std::string number_problem(double v) { return std::isnan(v) ? "NaN" : "infinite"; }

// Reads what the script returned (at `index`) with raw accesses only: no metamethod of a
// returned table can run here.
SampleResult convert(lua_State* L, int index, const char* fn) {
  SampleResult r;
  index = lua_absindex(L, index);
  const int t = lua_type(L, index);
  auto bad = [&](const std::string& why) {
    r.status = ScoreStatus::bad_return;
    r.error = std::string(fn) + " " + why;
    r.metrics.clear();
  };
  if (t == LUA_TNIL) {
    r.status = ScoreStatus::not_applicable;
    return r;
  }
  if (t == LUA_TNUMBER) {
    r.score = lua_tonumber(L, index);
    if (!std::isfinite(r.score)) bad("returned " + number_problem(r.score) + "; a score must be a finite number");
    return r;
  }
  if (t != LUA_TTABLE) {
    bad(std::string("returned a ") + luaL_typename(L, index) +
        " value; expected a number, a table { score = n, ... } or nil");
    return r;
  }
  lua_pushliteral(L, "score");
  lua_rawget(L, index);
  if (lua_type(L, -1) != LUA_TNUMBER) {
    bad(std::string("returned a table whose `score` is ") + luaL_typename(L, -1) + "; expected a number");
    lua_pop(L, 1);
    return r;
  }
  r.score = lua_tonumber(L, -1);
  lua_pop(L, 1);
  if (!std::isfinite(r.score)) {
    bad("returned score = " + number_problem(r.score) + "; a score must be a finite number");
    return r;
  }
  lua_pushnil(L);
  while (lua_next(L, index)) {
    if (lua_type(L, -2) == LUA_TSTRING) {
      size_t n = 0;
      const char* k = lua_tolstring(L, -2, &n);
      std::string key(k, n);
      if (key != "score") {
        if (lua_type(L, -1) == LUA_TNUMBER) {
          double v = lua_tonumber(L, -1);
          if (!std::isfinite(v)) {
            lua_pop(L, 2);
            bad("returned metric `" + key + "` = " + number_problem(v) + "; metrics must be finite numbers");
            return r;
          }
          r.metrics[key] = v;
        } else if (lua_type(L, -1) == LUA_TBOOLEAN) {
          r.metrics[key] = lua_toboolean(L, -1) ? 1.0 : 0.0;
        }
        // Other fields (strings for debugging, nested tables) are not metrics.
      }
    }
    lua_pop(L, 1);
  }
  return r;
}

}  // namespace

const char* score_status_name(ScoreStatus status) {
  switch (status) {
    case ScoreStatus::ok:
      return "ok";
    case ScoreStatus::not_applicable:
      return "not_applicable";
    case ScoreStatus::error:
      return "error";
    case ScoreStatus::bad_return:
      return "bad_return";
    case ScoreStatus::budget:
      return "budget";
    case ScoreStatus::memory:
      return "memory";
    case ScoreStatus::timeout:
      return "timeout";
    case ScoreStatus::crashed:
      return "crashed";
  }
  return "error";
}

ScoreStatus score_status_from_name(const std::string& name) {
  for (auto s : {ScoreStatus::ok, ScoreStatus::not_applicable, ScoreStatus::error, ScoreStatus::bad_return,
                 ScoreStatus::budget, ScoreStatus::memory, ScoreStatus::timeout, ScoreStatus::crashed})
    if (name == score_status_name(s)) return s;
  return ScoreStatus::error;
}

nlohmann::json to_json(const SampleResult& r) {
  nlohmann::json j = {{"status", score_status_name(r.status)}, {"score", r.score}, {"seconds", r.seconds}};
  if (!r.metrics.empty()) j["metrics"] = r.metrics;
  if (!r.error.empty()) j["error"] = r.error;
  return j;
}

SampleResult sample_result_from_json(const nlohmann::json& j) {
  SampleResult r;
  r.status = score_status_from_name(j.at("status").get<std::string>());
  r.score = j.at("score").get<double>();
  r.seconds = j.value("seconds", 0.0);
  if (j.contains("metrics")) r.metrics = j["metrics"].get<std::map<std::string, double>>();
  if (j.contains("error")) r.error = j["error"].get<std::string>();
  return r;
}

RewardScript::RewardScript(std::string source, std::string path, ScriptOptions options)
    : source_(std::move(source)), path_(std::move(path)), options_(options) {
  sha256_ = sha256_hex(source_);
  load();
}

RewardScript::~RewardScript() = default;

void RewardScript::load() {
  sb_.reset();
  refs_ = Refs{};
  auto sb = std::make_unique<Sandbox>(options_.limits, /*with_helpers=*/true);
  lua_State* L = sb->L();
  std::string error;
  if (!sb->load_text(source_, "@" + path_, &error)) throw file_error(path_, "", "does not compile: " + error);
  lua_pushvalue(L, -1);
  refs_.chunk = luaL_ref(L, LUA_REGISTRYINDEX);
  sb->push_env(LUA_NOREF);  // the setup environment: [chunk, setup]
  lua_pushvalue(L, -1);
  refs_.setup = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pushcfunction(L, run_setup);
  lua_insert(L, -3);
  sb->reseed(options_.seed);  // setup that draws random numbers builds the same tables every time
  CallOutcome top = sb->pcall(2, 0);
  if (top.status != CallStatus::ok)
    throw file_error(path_, "",
                     std::string("top-level code failed (") + call_status_name(top.status) + "): " + top.message);
  lua_rawgeti(L, LUA_REGISTRYINDEX, refs_.setup);
  for (const char* fn : {"reward", "reward_group"}) {
    lua_pushstring(L, fn);
    lua_rawget(L, -2);
    const int t = lua_type(L, -1);
    lua_pop(L, 1);
    if (t != LUA_TNIL && t != LUA_TFUNCTION)
      throw file_error(path_, fn, std::string("must be a function, got a ") + lua_typename(L, t));
    if (std::string_view(fn) == "reward")
      has_reward_ = t == LUA_TFUNCTION;
    else
      has_reward_group_ = t == LUA_TFUNCTION;
  }
  if (!has_reward_ && !has_reward_group_)
    throw file_error(
        path_, "",
        "defines neither reward(sample) nor reward_group(samples); define `function reward(sample) ... end`");
  refs_.env_mt = sb->env_metatable_ref(-1);
  lua_pushcfunction(L, freeze_setup);
  lua_insert(L, -2);
  lua_rawgeti(L, LUA_REGISTRYINDEX, refs_.chunk);
  CallOutcome frozen = sb->pcall(2, 0);
  if (frozen.status != CallStatus::ok)
    throw file_error(path_, "", "cannot freeze the top-level setup: " + frozen.message);
  lua_settop(L, 0);
  sb_ = std::move(sb);
  calls_ = 0;
}

void RewardScript::after_call(bool failed) {
  lua_settop(sb_->L(), 0);
  release_helper_scratch();
  sb_->restore_upvalues();
  // A failed call may have left the state at its memory cap or mid-way through something;
  // so may one where the cap refused an allocation even if the script caught the error and
  // went on. A fresh state costs ~0.1 ms, so rebuild rather than reason about it.
  if (failed || sb_->memory_refused_ || ++calls_ >= options_.recycle_after) load();
}

SampleResult RewardScript::score(const nlohmann::json& sample, int index) {
  if (!has_reward_) {
    CallCtx ctx{sb_.get(), &refs_};
    ctx.group = &sample;
    ctx.count = 1;
    return score_many(&ctx, 1).front();
  }
  CallCtx ctx{sb_.get(), &refs_};
  ctx.sample = &sample;
  ctx.index = index;
  return score_one(&ctx);
}

SampleResult RewardScript::score_encoded(std::string_view sample, int index) {
  if (!has_reward_) {
    CallCtx ctx{sb_.get(), &refs_};
    ctx.encoded_group = &sample;
    ctx.count = 1;
    return score_many(&ctx, 1).front();
  }
  CallCtx ctx{sb_.get(), &refs_};
  ctx.encoded_sample = sample;
  ctx.index = index;
  return score_one(&ctx);
}

SampleResult RewardScript::score_one(void* context) {
  CallCtx& ctx = *static_cast<CallCtx*>(context);
  const auto t0 = std::chrono::steady_clock::now();
  lua_State* L = sb_->L();
  sb_->reseed(options_.seed + ctx.index);
  lua_pushcfunction(L, call_reward);
  lua_pushlightuserdata(L, &ctx);
  CallOutcome out = sb_->pcall(1, 1);
  SampleResult r;
  if (out.status == CallStatus::ok) {
    r = convert(L, -1, "reward(sample)");
  } else {
    r.status = from_call(out.status);
    r.error = out.message;
  }
  if (r.failed()) r.score = options_.fallback;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  after_call(r.status != ScoreStatus::ok && r.status != ScoreStatus::not_applicable &&
             r.status != ScoreStatus::bad_return);
  return r;
}

std::vector<SampleResult> RewardScript::score_group(const std::vector<nlohmann::json>& samples) {
  if (!has_reward_group_) {
    std::vector<SampleResult> results;
    for (size_t i = 0; i < samples.size(); ++i) results.push_back(score(samples[i], static_cast<int>(i + 1)));
    return results;
  }
  CallCtx ctx{sb_.get(), &refs_};
  ctx.group = samples.data();
  ctx.count = samples.size();
  return score_many(&ctx, samples.size());
}

std::vector<SampleResult> RewardScript::score_group_encoded(const std::vector<std::string_view>& samples) {
  if (!has_reward_group_) {
    std::vector<SampleResult> results;
    for (size_t i = 0; i < samples.size(); ++i) results.push_back(score_encoded(samples[i], static_cast<int>(i + 1)));
    return results;
  }
  CallCtx ctx{sb_.get(), &refs_};
  ctx.encoded_group = samples.data();
  ctx.count = samples.size();
  return score_many(&ctx, samples.size());
}

std::vector<SampleResult> RewardScript::score_many(void* context, size_t count) {
  CallCtx& ctx = *static_cast<CallCtx*>(context);
  std::vector<SampleResult> results;
  const auto t0 = std::chrono::steady_clock::now();
  lua_State* L = sb_->L();
  sb_->reseed(options_.seed);
  lua_pushcfunction(L, call_reward_group);
  lua_pushlightuserdata(L, &ctx);
  // The group call gets the per-sample limits times the group size.
  const long long n = static_cast<long long>(count == 0 ? 1 : count);
  CallOutcome out = sb_->pcall_with(1, 1, sb_->limits().instructions * n,
                                    t0 + std::chrono::milliseconds(sb_->limits().timeout_ms * n),
                                    kPrintCapBytes * static_cast<size_t>(n));
  results.resize(count);
  bool state_failed = false;
  if (out.status != CallStatus::ok) {
    for (auto& r : results) {
      r.status = from_call(out.status);
      r.error = out.message;
    }
    state_failed = true;
  } else if (lua_type(L, -1) != LUA_TTABLE || lua_rawlen(L, -1) > count) {
    const std::string why = lua_type(L, -1) != LUA_TTABLE
                                ? std::string("reward_group(samples) returned a ") + luaL_typename(L, -1) +
                                      " value; expected a table with one score per sample"
                                : "reward_group(samples) returned " + std::to_string(lua_rawlen(L, -1)) +
                                      " scores for " + std::to_string(count) + " samples";
    for (auto& r : results) {
      r.status = ScoreStatus::bad_return;
      r.error = why;
    }
  } else {
    const int table = lua_gettop(L);
    for (size_t i = 0; i < count; ++i) {
      lua_rawgeti(L, table, static_cast<lua_Integer>(i + 1));
      results[i] = convert(L, -1, ("reward_group(samples)[" + std::to_string(i + 1) + "]").c_str());
      lua_pop(L, 1);
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (auto& r : results) {
    if (r.failed()) r.score = options_.fallback;
    r.seconds = seconds / static_cast<double>(n);
  }
  after_call(state_failed);
  return results;
}

}  // namespace grpo::rewards
