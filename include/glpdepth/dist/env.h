// Where this process sits in a distributed job, read from the variables that torchrun or Slurm's
// srun set. A process started by neither is a job of one.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace glpdepth::dist {

struct DistEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;        // index of this process on its machine: picks the GPU
  int local_world_size = 1;  // processes on this machine (1 when the launcher does not say)
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  std::string source = "none";  // "torchrun" | "slurm" | "none"
  // torchrun of torch 2.x serves the rendezvous TCPStore itself on master_port and says so with
  // TORCHELASTIC_USE_AGENT_STORE=True: then every rank, rank 0 too, connects as a client.
  bool agent_store = false;

  bool distributed() const { return world_size > 1; }
  bool is_main() const { return rank == 0; }
};

// Reads one environment variable; nullopt when unset. Tests pass a map instead of the process
// environment.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
EnvLookup process_env();

struct DetectOptions {
  // Rendezvous port when MASTER_PORT is unset (Slurm jobs usually leave it unset).
  int default_port = 29500;
};

// torchrun's RANK/WORLD_SIZE/LOCAL_RANK/LOCAL_WORLD_SIZE/MASTER_ADDR/MASTER_PORT win over Slurm's
// SLURM_PROCID/SLURM_NTASKS/SLURM_LOCALID/SLURM_NTASKS_PER_NODE, because torchrun inside a Slurm
// job sets its own ranks for its children while the SLURM_* ones still describe the srun task.
// Under Slurm, MASTER_ADDR (when set) wins over the first host of SLURM_JOB_NODELIST (or
// SLURM_NODELIST). Throws Error naming the variable for values that are not integers, out of
// range or inconsistent with each other.
DistEnv detect_env(const EnvLookup& env, const DetectOptions& options = {});
DistEnv detect_env(const DetectOptions& options = {});

// The GPU index of this rank among the `device_count` GPUs it sees: LOCAL_RANK, wrapped when a
// launcher shows each rank fewer GPUs (e.g. srun --gpus-per-task=1 shows one, as cuda:0).
int local_device_index(const DistEnv& env, int device_count);

// Expands Slurm's compressed host list: "node[01-03,07],gpu5" -> node01 node02 node03 node07
// gpu5. Keeps zero padding, handles several bracket groups per name ("r[1-2]n[3-4]") and
// throws Error naming the list for malformed input.
std::vector<std::string> expand_slurm_nodelist(const std::string& list);
std::string first_slurm_host(const std::string& list);

}  // namespace glpdepth::dist
