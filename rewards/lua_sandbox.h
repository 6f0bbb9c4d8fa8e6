// One Lua 5.4 state with the sandbox around it: allowlisted standard library, read-only
// library tables, a memory cap in the allocator, an instruction budget and an in-process
// wall-clock check in a count hook, text-only `load`, and a traceback on every error.
// See docs/lua_sandbox.md for why each piece exists and what it cannot stop (C functions
// that run long: the worker process around the sandbox is killed for those, worker_pool.h).
#pragma once

#include <chrono>
#include <cstddef>
#include <lua.hpp>
#include <string>
#include <string_view>

namespace grpo::rewards {

struct SandboxLimits {
  long long instructions = 20'000'000;  // per call, counted by the hook (~5 ns each)
  size_t memory_bytes = 64u << 20;      // the whole state, counted by the allocator
  int timeout_ms = 2000;                // wall clock per call
};

// Why a protected call ended. Everything but `ok` is a recorded failure.
enum class CallStatus { ok, error, budget, memory, timeout };
const char* call_status_name(CallStatus status);

struct CallOutcome {
  CallStatus status = CallStatus::ok;
  std::string message;  // error message with a Lua traceback (empty when ok)
};

class Sandbox {
 public:
  // `with_helpers`: expose the `grpo` helper table (helper_lib.h). The nested sandbox of
  // grpo.run_lua is built without it.
  Sandbox(const SandboxLimits& limits, bool with_helpers);
  ~Sandbox();
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;

  lua_State* L() const { return L_; }
  const SandboxLimits& limits() const { return limits_; }

  // Compiles a text chunk (binary chunks are refused) and pushes the function; on a syntax
  // error pushes nothing, fills `error` and returns false.
  bool load_text(std::string_view source, const std::string& chunk_name, std::string* error);

  // Pushes a new environment table for one call: writes land in it, reads go through the
  // metatable `metatable_ref` (from env_metatable_ref) or, for LUA_NOREF, to the sandbox
  // base. Its metatable is hidden from the script.
  void push_env(int metatable_ref);
  // Registers the metatable of environments that read through the table at `parent_index`.
  int env_metatable_ref(int parent_index);
  // Pushes the base environment (libraries and safe globals).
  void push_base();

  // lua_pcall with the budget, memory and deadline armed and a traceback handler. The
  // function and its `nargs` arguments are on top of the stack; leaves `nresults` values
  // when ok and nothing otherwise.
  CallOutcome pcall(int nargs, int nresults);

  // Like pcall, but the caller gives the budget and deadline (the nested sandbox caps its
  // limits to what the outer call has left).
  CallOutcome pcall_with(int nargs, int nresults, long long instructions,
                         std::chrono::steady_clock::time_point deadline);

  // Must run inside a protected call (it allocates). Replaces every table reachable from the table at `index` (values,
  // nested tables and the upvalues of Lua functions) with a read-only proxy, and records every upvalue so
  // restore_upvalues() can put it back after a call: top-level setup stays read-only and
  // nothing one sample does is seen by the next.
  void freeze_setup(int index);
  void restore_upvalues();

  // Reseeds math.random so a score never depends on which samples ran before.
  void reseed(long long seed);

  size_t memory_used() const { return used_; }

  // Pushes a read-only proxy of the table at `index` (memoised only within freeze_setup).
  void push_readonly(int index);

  // The Sandbox that owns `L` (any thread of it).
  static Sandbox* of(lua_State* L);

  // Internal state the C callbacks reach through of(); not for callers.
  long long budget_left_ = 0;
  std::chrono::steady_clock::time_point deadline_{};
  CallStatus tripped_ = CallStatus::ok;
  bool memory_refused_ = false;
  bool in_call_ = false;
  size_t used_ = 0;
  size_t print_bytes_ = 0;

 private:
  void build_base(bool with_helpers);

  SandboxLimits limits_;
  lua_State* L_ = nullptr;
  int base_ref_ = LUA_NOREF;     // the frozen base environment
  int env_mt_ref_ = LUA_NOREF;   // metatable of per-call environments over the base
  int restore_ref_ = LUA_NOREF;  // flat array f1, i1, v1, f2, i2, v2, ... of upvalues
  int randomseed_ref_ = LUA_NOREF;
};

}  // namespace grpo::rewards
