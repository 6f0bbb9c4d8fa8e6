// The worker's peak RSS stays within the configured caps plus a constant while attacks try to
// put memory outside them (issue 21): json_decode of a huge document, run_lua with many tests
// that are one big string and raise huge errors, caught memory errors, deep nesting. Measured
// in a forked child that owns the Scorer, so the peak is that of its reward worker alone.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "rewards/scorer.h"

using namespace grpo::rewards;
using nlohmann::json;

namespace {

long status_kib(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field, 0) == 0) return std::stol(line.substr(std::string(field).size()));
  return -1;
}

const char* kHungry = R"lua(
function reward(s)
  if s.attack == "json" then
    -- ~24 MiB of JSON text; the old decoder built a tree 10x its size outside the cap.
    local doc = "[" .. ('{"k":[1,2,3,4,5,6,7,8],"s":"abcdefgh"},'):rep(600000) .. "0]"
    local v = grpo.json_decode(doc)
    return v and 1 or 0
  elseif s.attack == "run_lua" then
    local big = "--" .. ("c"):rep(24 << 20) .. "\nreturn f(1)"
    local tests = {}
    for i = 1, 32 do tests[i] = big end
    local r = grpo.run_lua("function f(x) error(('e'):rep(8 << 20)) end", tests,
                           { memory_mb = 32, instructions = 1e8, timeout_ms = 20000 })
    return r.passed
  elseif s.attack == "pcall" then
    for i = 1, 20 do pcall(string.rep, "x", 1 << 40) end
    local ok = pcall(function() local t = {} for i = 1, 1e9 do t[i] = {} end end)
    return 1
  end
  return s.n
end
)lua";

}  // namespace

TEST(WorkerMemory, PeakRssStaysWithinTheCaps) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    long base_kib = -1, worst_kib = -1, statuses_ok = 1;
    {
      ScorerOptions o;
      o.workers = 1;
      o.script.limits.memory_bytes = 64u << 20;  // the default cap
      o.script.limits.instructions = 1'000'000'000;
      o.script.limits.timeout_ms = 30000;
      o.script.fallback = -1;
      base_kib = status_kib("VmRSS:");  // what the worker starts from (it is forked from here)
      Scorer scorer(kHungry, "hungry.lua", o);
      std::vector<SampleGroup> groups(1);
      for (const char* attack : {"json", "run_lua", "pcall"}) groups[0].push_back(json{{"attack", attack}, {"n", 0}});
      groups[0].push_back(json{{"n", 5}});
      ScoredBatch b = scorer.score(groups);
      // json: memory (24 MiB of text plus its tables pass 64 MiB) or 1; never a crash.
      for (size_t i = 0; i < 3; ++i)
        if (b.groups[0][i].status == ScoreStatus::crashed || b.groups[0][i].status == ScoreStatus::timeout)
          statuses_ok = 0;
      if (b.groups[0][1].status != ScoreStatus::ok || b.groups[0][1].score != 0) statuses_ok = 0;
      if (b.groups[0][2].status != ScoreStatus::memory) statuses_ok = 0;
      if (b.groups[0][3].status != ScoreStatus::ok || b.groups[0][3].score != 5) statuses_ok = 0;
    }  // the scorer reaps its worker here
    rusage ru{};
    ::getrusage(RUSAGE_CHILDREN, &ru);
    worst_kib = ru.ru_maxrss;
    char buf[128];
    const int n = std::snprintf(buf, sizeof buf, "%ld %ld %ld", base_kib, worst_kib, statuses_ok);
    if (::write(fds[1], buf, static_cast<size_t>(n)) != n) ::_exit(2);
    ::_exit(0);
  }
  ::close(fds[1]);
  char buf[128] = {};
  const ssize_t n = ::read(fds[0], buf, sizeof buf - 1);
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  ASSERT_GT(n, 0);
  long base = 0, worst = 0, ok = 0;
  ASSERT_EQ(std::sscanf(buf, "%ld %ld %ld", &base, &worst, &ok), 3);
  EXPECT_EQ(ok, 1) << "an attack crashed the worker or scored wrongly";
  const long growth_mib = (worst - base) / 1024;
  std::printf("worker peak RSS %ld MiB, %ld MiB above its start (caps: 64 MiB outer + 32 MiB nested)\n", worst / 1024,
              growth_mib);
  // The caps (64 + 32 MiB) plus 32 MiB for the worker's buffers, stacks and allocator slack.
  EXPECT_LE(growth_mib, 64 + 32 + 32);
}
