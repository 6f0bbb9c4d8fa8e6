#include "rewards/scorer.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>

#include "common/atomic_file.h"
#include "common/error.h"
#include "rewards/wire.h"

namespace grpo::rewards {
namespace {

using Clock = std::chrono::steady_clock;

// Frames on the worker socket: 4-byte little-endian length, then JSON text.
void append_frame(std::string& out, const std::string& payload) {
  const uint32_t n = static_cast<uint32_t>(payload.size());
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  out += payload;
}

// Takes one complete frame off the front of `in`, if there is one.
bool take_frame(std::string& in, size_t& offset, std::string* payload) {
  if (in.size() - offset < 4) return false;
  uint32_t n = 0;
  for (int i = 0; i < 4; ++i) n |= static_cast<uint32_t>(static_cast<unsigned char>(in[offset + i])) << (8 * i);
  if (in.size() - offset - 4 < n) return false;
  payload->assign(in, offset + 4, n);
  offset += 4 + n;
  if (offset > (1u << 20) || offset == in.size()) {
    in.erase(0, offset);
    offset = 0;
  }
  return true;
}

bool write_all(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t w = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    off += static_cast<size_t>(w);
  }
  return true;
}

// The worker process: one compiled script, jobs in, results out, until the socket closes.
[[noreturn]] void worker_main(int fd, const std::string& source, const std::string& path,
                              const ScriptOptions& options) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the scorer's process
  ::dup2(2, 1);                        // stdout belongs to the parent (JSONL output)
  try {
    RewardScript script(source, path, options);
    std::string in, frame, out;
    size_t in_off = 0;
    std::vector<char> buf(1 << 16);
    for (;;) {
      // Buffered: one read usually brings several queued jobs.
      while (!take_frame(in, in_off, &frame)) {
        ssize_t r = ::read(fd, buf.data(), buf.size());
        if (r == 0 || (r < 0 && errno != EINTR)) ::_exit(0);
        if (r > 0) in.append(buf.data(), static_cast<size_t>(r));
      }
      // Job: u64 id, u8 kind (0 one sample, 1 a group), u32 index, u32 count, samples.
      std::string_view in_job(frame);
      uint64_t id = 0;
      uint32_t index = 0, count = 0;
      if (!wire::get_u64(in_job, &id) || in_job.empty()) throw Error("malformed job");
      const bool group = in_job[0] == 1;
      in_job.remove_prefix(1);
      if (!wire::get_u32(in_job, &index) || !wire::get_u32(in_job, &count)) throw Error("malformed job");
      std::vector<std::string_view> samples;
      for (uint32_t i = 0; i < count; ++i) samples.push_back(wire::take_value(in_job));
      std::string reply;
      wire::put_u64(reply, id);
      if (group) {
        auto results = script.score_group_encoded(samples);
        wire::put_u32(reply, static_cast<uint32_t>(results.size()));
        for (const auto& r : results) wire::encode_result(r, reply);
      } else {
        wire::put_u32(reply, 1);
        wire::encode_result(script.score_encoded(samples.at(0), static_cast<int>(index)), reply);
      }
      out.clear();
      append_frame(out, reply);
      if (!write_all(fd, out)) ::_exit(0);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "grpo reward worker: %s\n", e.what());
  }
  ::_exit(3);
}

}  // namespace

struct Job {
  size_t group = 0;
  int sample = -1;  // -1: the whole group through reward_group
};

struct Scorer::Pool {
  struct Worker {
    pid_t pid = -1;
    int fd = -1;
    std::string out;
    size_t out_off = 0;
    std::string in;
    size_t in_off = 0;
    std::deque<size_t> inflight;  // job ids, in the order the worker runs them
    Clock::time_point head_since{};
  };

  const std::string* source;
  const std::string* path;
  ScriptOptions options;
  std::vector<Worker> workers;

  void spawn(Worker& w) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
      throw Error(std::string("reward scorer: socketpair failed: ") + std::strerror(errno));
    std::fflush(nullptr);  // no buffered output is duplicated into the child
    pid_t pid = ::fork();
    if (pid < 0) {
      ::close(sv[0]);
      ::close(sv[1]);
      throw Error(std::string("reward scorer: fork failed: ") + std::strerror(errno));
    }
    if (pid == 0) {
      // Keep only stdio and our end of the socket (as fd 3): the worker holds no other
      // worker's socket open, nor anything else of the parent's.
      if (sv[1] != 3) ::dup2(sv[1], 3);
      ::close_range(4, ~0U, 0);
      worker_main(3, *source, *path, options);
    }
    ::close(sv[1]);
    ::fcntl(sv[0], F_SETFL, ::fcntl(sv[0], F_GETFL) | O_NONBLOCK);
    w = Worker{};
    w.pid = pid;
    w.fd = sv[0];
  }

  static int reap(Worker& w, bool kill_first) {
    int status = 0;
    if (w.pid > 0) {
      if (kill_first) ::kill(w.pid, SIGKILL);
      while (::waitpid(w.pid, &status, 0) < 0 && errno == EINTR) {
      }
    }
    if (w.fd >= 0) ::close(w.fd);
    w.pid = -1;
    w.fd = -1;
    return status;
  }

  ~Pool() {
    for (auto& w : workers) reap(w, true);
  }
};

Scorer::Scorer(const std::string& script_path, ScorerOptions options)
    : Scorer(read_file(script_path), script_path, options) {}

Scorer::Scorer(std::string source, std::string path, ScorerOptions options)
    : options_(options), source_(std::move(source)), path_(std::move(path)) {
  local_ = std::make_unique<RewardScript>(source_, path_, options_.script);
  if (options_.workers > 0) {
    pool_ = std::make_unique<Pool>();
    pool_->source = &source_;
    pool_->path = &path_;
    pool_->options = options_.script;
    pool_->workers.resize(static_cast<size_t>(options_.workers));
    for (auto& w : pool_->workers) pool_->spawn(w);
  }
}

Scorer::~Scorer() = default;

const std::string& Scorer::script_sha256() const { return local_->sha256(); }

ScoredBatch Scorer::score(const std::vector<SampleGroup>& groups) {
  ScoredBatch batch;
  batch.script_sha256 = local_->sha256();
  batch.groups.resize(groups.size());
  for (size_t g = 0; g < groups.size(); ++g) batch.groups[g].resize(groups[g].size());
  auto count = [&] {
    for (const auto& g : batch.groups)
      for (const auto& r : g) {
        ++stats_.samples;
        if (r.failed()) ++stats_.failures;
      }
  };
  if (!pool_) {
    for (size_t g = 0; g < groups.size(); ++g) batch.groups[g] = local_->score_group(groups[g]);
    count();
    return batch;
  }

  // Jobs: a whole group when the script has reward_group, else one sample each.
  std::vector<Job> jobs;
  for (size_t g = 0; g < groups.size(); ++g) {
    if (groups[g].empty()) continue;
    if (local_->has_reward_group())
      jobs.push_back({g, -1});
    else
      for (size_t s = 0; s < groups[g].size(); ++s) jobs.push_back({g, static_cast<int>(s)});
  }
  auto job_limit = [&](const Job& j) {
    const long long n = j.sample < 0 ? static_cast<long long>(groups[j.group].size()) : 1;
    return std::chrono::milliseconds(options_.script.limits.timeout_ms * n + options_.kill_grace_ms);
  };
  auto fail_job = [&](const Job& j, ScoreStatus status, const std::string& why) {
    auto& out = batch.groups[j.group];
    for (size_t s = 0; s < out.size(); ++s) {
      if (j.sample >= 0 && static_cast<int>(s) != j.sample) continue;
      out[s] = SampleResult{};
      out[s].status = status;
      out[s].score = options_.script.fallback;
      out[s].error = why;
      out[s].seconds = std::chrono::duration<double>(job_limit(j)).count();
    }
  };

  std::deque<size_t> pending;
  for (size_t i = 0; i < jobs.size(); ++i) pending.push_back(i);
  size_t done = 0;
  std::string payload;
  auto& workers = pool_->workers;

  // A worker died or was killed: its running job is charged, the rest go back in the queue.
  auto lose_worker = [&](Pool::Worker& w, bool killed) {
    const int status = Pool::reap(w, killed);
    {
      auto& inflight = w.inflight;
      if (!inflight.empty()) {
        const Job& head = jobs[inflight.front()];
        if (killed) {
          ++stats_.workers_killed;
          fail_job(head, ScoreStatus::timeout,
                   "wall-clock limit of " + std::to_string(options_.script.limits.timeout_ms) +
                       " ms exceeded inside a C function (e.g. a pathological string pattern); the reward worker "
                       "process was killed and restarted");
        } else {
          ++stats_.workers_crashed;
          std::string how = WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                                                : "exited with code " + std::to_string(WEXITSTATUS(status));
          fail_job(head, ScoreStatus::crashed,
                   "the reward worker process died while scoring this sample (" + how + ")");
        }
        ++done;
        inflight.pop_front();
        for (auto it = inflight.rbegin(); it != inflight.rend(); ++it) pending.push_front(*it);
      }
    }
    Pool::Worker fresh;
    w = std::move(fresh);
  };

  while (done < jobs.size()) {
    const auto now = Clock::now();
    // Hand out work.
    for (auto& w : workers) {
      // Refill only below half the pipeline, so jobs go out in bunches: fewer sends and
      // wake-ups per sample.
      if (w.inflight.size() * 2 > static_cast<size_t>(options_.pipeline)) continue;
      while (w.inflight.size() < static_cast<size_t>(options_.pipeline) && !pending.empty()) {
        if (w.pid < 0) pool_->spawn(w);
        const size_t id = pending.front();
        pending.pop_front();
        const Job& j = jobs[id];
        std::string msg;
        wire::put_u64(msg, id);
        msg.push_back(j.sample < 0 ? 1 : 0);
        wire::put_u32(msg, static_cast<uint32_t>(j.sample + 1));
        try {
          if (j.sample < 0) {
            wire::put_u32(msg, static_cast<uint32_t>(groups[j.group].size()));
            for (const auto& sample : groups[j.group]) wire::encode_value(sample, msg);
          } else {
            wire::put_u32(msg, 1);
            wire::encode_value(groups[j.group][static_cast<size_t>(j.sample)], msg);
          }
        } catch (const Error& e) {
          // A row the worker cannot take (nested too deep) fails here, on its own, with the
          // same message the in-process path gives; the worker never sees it.
          fail_job(j, ScoreStatus::error, e.what());
          for (auto& r : batch.groups[j.group])
            if (j.sample < 0 || &r == &batch.groups[j.group][static_cast<size_t>(j.sample)]) r.seconds = 0;
          ++done;
          continue;
        }
        append_frame(w.out, msg);
        if (w.inflight.empty()) w.head_since = now;
        w.inflight.push_back(id);
      }
    }
    if (done == jobs.size()) break;  // the last jobs failed before they were sent
    // Wait for replies, room to write, or the nearest deadline.
    std::vector<pollfd> fds;
    std::vector<size_t> which;
    auto wait = std::chrono::milliseconds(1000);
    for (size_t k = 0; k < workers.size(); ++k) {
      auto& w = workers[k];
      if (w.pid < 0) continue;
      short ev = POLLIN;
      if (w.out_off < w.out.size()) ev |= POLLOUT;
      fds.push_back({w.fd, ev, 0});
      which.push_back(k);
      if (!w.inflight.empty()) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(w.head_since +
                                                                          job_limit(jobs[w.inflight.front()]) - now);
        if (left < wait) wait = left;
      }
    }
    if (wait.count() < 0) wait = std::chrono::milliseconds(0);
    int pr = ::poll(fds.data(), fds.size(), static_cast<int>(wait.count()) + 1);
    if (pr < 0 && errno != EINTR) throw Error(std::string("reward scorer: poll failed: ") + std::strerror(errno));
    const auto after = Clock::now();
    for (size_t k = 0; pr > 0 && k < fds.size(); ++k) {
      auto& w = workers[which[k]];
      bool dead = false;
      if (fds[k].revents & POLLOUT) {
        ssize_t n = ::send(w.fd, w.out.data() + w.out_off, w.out.size() - w.out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
          w.out_off += static_cast<size_t>(n);
          // A job's clock starts no earlier than the worker could have read it.
          w.head_since = std::max(w.head_since, after);
          if (w.out_off == w.out.size()) {
            w.out.clear();
            w.out_off = 0;
          }
        } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
          dead = true;
        }
      }
      if (fds[k].revents & (POLLIN | POLLHUP | POLLERR)) {
        char buf[65536];
        for (;;) {
          ssize_t n = ::recv(w.fd, buf, sizeof buf, MSG_DONTWAIT);
          if (n > 0) {
            w.in.append(buf, static_cast<size_t>(n));
            continue;
          }
          if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) dead = true;
          break;
        }
        while (take_frame(w.in, w.in_off, &payload)) {
          std::string_view reply(payload);
          uint64_t id = 0;
          uint32_t count = 0;
          if (!wire::get_u64(reply, &id) || !wire::get_u32(reply, &count) || w.inflight.empty() ||
              id != w.inflight.front()) {
            dead = true;  // protocol out of step: treat the worker as broken
            break;
          }
          const Job& j = jobs[w.inflight.front()];
          auto& out = batch.groups[j.group];
          try {
            if (j.sample < 0) {
              for (size_t s = 0; s < count && s < out.size(); ++s) out[s] = wire::take_result(reply);
            } else {
              out[static_cast<size_t>(j.sample)] = wire::take_result(reply);
            }
          } catch (const Error&) {
            dead = true;
            break;
          }
          w.inflight.pop_front();
          w.head_since = after;
          ++done;
        }
      }
      if (dead) lose_worker(w, false);
    }
    // Deadlines: kill a worker whose running sample is past its limit.
    for (auto& w : workers) {
      if (w.pid < 0 || w.inflight.empty()) continue;
      if (Clock::now() > w.head_since + job_limit(jobs[w.inflight.front()])) lose_worker(w, true);
    }
  }
  count();
  return batch;
}

}  // namespace grpo::rewards
