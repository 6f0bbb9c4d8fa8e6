// Where this process stands in a multi-process run, read from the environment an existing
// launcher sets (runtime.md §5). No scheduler of our own: torchrun, SLURM's srun, Open MPI's
// mpirun or MPICH/PMI start the processes, and each learns its rank here.
// Precedence: GRPO_* variables (or the CLI) > torchrun > SLURM > Open MPI > PMI > single process.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

namespace grpo::actor {

struct LaunchEnv {
  std::string launcher = "single";  // "grpo" | "torchrun" | "slurm" | "openmpi" | "pmi" | "single"
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_world_size = 1;
  int node_rank = 0;
  std::string master_addr = "127.0.0.1";  // where rank 0 (the learner) listens for the rendezvous
  int master_port = 29500;
  bool master_known = true;  // false: no launcher said where rank 0 is (Open MPI, PMI): rank 0 must publish it
};

// Looks up a variable; nullopt when unset. Tests pass a map, the program passes getenv.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
EnvLookup process_env();
EnvLookup map_env(const std::map<std::string, std::string>& vars);

// Throws grpo::Error naming the variable when a value is not a number or is inconsistent
// (rank >= world size, local rank >= local size, port out of range).
LaunchEnv detect_launch_env(const EnvLookup& env);

// The first host of a SLURM node list: "gpu[07-09,12],cpu1" → "gpu07".
std::string first_slurm_host(const std::string& nodelist);

}  // namespace grpo::actor
