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
  std::string message;  // error message with a Lua traceback (empty when ok), at most kMaxErrorBytes
};

// What one protected call may print to stderr (nested run_lua states charge their parent's).
constexpr size_t kPrintCapBytes = 64 * 1024;
// An error message kept out of a call is cut to this size: a script can raise a string as large
// as its memory cap, and the copy lives outside the cap.
constexpr size_t kMaxErrorBytes = 8 * 1024;
// coroutine.close nested deeper than this is refused: Debian's Lua 5.4.4 overflows the C stack
// (segfault) on deeply nested closes (fixed upstream in 5.4.5 by counting C calls there).
constexpr int kMaxCloseDepth = 100;

// Cuts `text` to at most `max` bytes, saying how much was cut.
std::string cap_message(std::string_view text, size_t max = kMaxErrorBytes);

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
  // limits to what the outer call has left) and the print cap (a group call gets n caps).
  CallOutcome pcall_with(int nargs, int nresults, long long instructions,
                         std::chrono::steady_clock::time_point deadline, size_t print_cap = kPrintCapBytes);

  // Prints of this sandbox count against `parent`'s cap for its current call (grpo.run_lua's
  // nested states: the cap is per sample, not per test).
  void charge_prints_to(Sandbox* parent) { print_owner_ = parent ? parent->print_owner_ : this; }

  // Must run inside a protected call (it allocates). Replaces every table reachable from the
  // table at `index` (values, nested tables and the upvalues of Lua functions) with a read-only
  // proxy, and records every upvalue so restore_upvalues() can put it back after a call:
  // top-level setup stays read-only and nothing one sample does is seen by the next. The
  // function at `chunk` is the main chunk: the `_ENV` it shares with the functions it defined
  // is set per call by the caller; any other `_ENV` (a `local _ENV`, a function made by load())
  // gets a fresh table over its frozen value on every call. Coroutines and C closures with
  // state (coroutine.wrap, string.gmatch) are refused: they would carry state between calls.
  void freeze_setup(int index, int chunk);
  void restore_upvalues();

  // Reseeds math.random so a score never depends on which samples ran before.
  void reseed(long long seed);

  size_t memory_used() const { return used_; }
  size_t memory_peak() const { return peak_; }

  // Pushes a read-only proxy of the table at `index` (memoised only within freeze_setup).
  void push_readonly(int index);

  // Pushes a new table with the base globals and fresh, writable copies of the library tables:
  // what grpo.run_lua's tests run in, out of the solution's reach.
  void push_fresh_base();

  // Charges `n` instructions of work done inside a C function (table.move and the like, where
  // the hook cannot count) and raises the budget or deadline error when they run out.
  static void charge(lua_State* L, long long n);

  // The Sandbox that owns `L` (any thread of it).
  static Sandbox* of(lua_State* L);

  // Internal state the C callbacks reach through of(); not for callers.
  long long budget_left_ = 0;
  std::chrono::steady_clock::time_point deadline_{};
  CallStatus tripped_ = CallStatus::ok;
  bool memory_refused_ = false;        // some allocation was refused during this call
  bool memory_failed_ = false;         // ... and refused again after Lua's emergency collection: an error was raised
  const void* refused_ptr_ = nullptr;  // the last refused request, to recognise Lua's retry
  size_t refused_size_ = 0;
  bool in_call_ = false;
  size_t used_ = 0;
  size_t peak_ = 0;  // the most this state has held (tests)
  size_t print_bytes_ = 0;
  size_t print_cap_ = kPrintCapBytes;
  Sandbox* print_owner_ = this;
  int close_depth_ = 0;  // nesting of coroutine.close / coroutine.wrap's error close

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
