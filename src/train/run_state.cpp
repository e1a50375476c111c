// Phase 5: the run folder and the state a run starts from (run_setup.h).
#include "run_setup.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <optional>

#include "glpdepth/data/dataset.h"
#include "glpdepth/data/loader.h"
#include "glpdepth/data/location.h"
#include "glpdepth/dist/env.h"
#include "glpdepth/dist/group.h"
#include "glpdepth/dist/sync_batchnorm.h"
#include "glpdepth/eval/evaluator.h"
#include "glpdepth/eval/setup.h"
#include "glpdepth/infer/predictor.h"
#include "glpdepth/io/depth_outputs.h"
#include "glpdepth/io/weights.h"
#include "glpdepth/model/inference.h"
#include "glpdepth/train/checkpoint.h"
#include "glpdepth/train/log.h"
#include "glpdepth/train/phases.h"
#include "glpdepth/train/run_dir.h"
#include "glpdepth/train/step.h"
#include "glpdepth/util/atomic_file.h"
#include "glpdepth/util/error.h"
#include "glpdepth/util/progress.h"
#include "glpdepth/version.h"

namespace glpdepth::training {

namespace {

// What identifies a run for an exact continuation. Checkpoints before the typed configuration
// stored a flat JSON; both forms are read.
struct RunIdentity {
  std::string dataset;
  int64_t batch_size = 0;
  uint64_t seed = 0;
};

// The main name of a dataset saved in a checkpoint (older ones kept the name as typed).
std::string saved_dataset_name(const std::string& saved) {
  try {
    return to_string(parse_dataset(saved));
  } catch (const UsageError&) {
    return saved;  // reported as a mismatch by the caller
  }
}

RunIdentity identity_of(const std::string& config_json) {
  const nlohmann::json j = nlohmann::json::parse(config_json);
  if (j.contains("loop"))
    return {saved_dataset_name(j.at("data").at("dataset").get<std::string>()),
            j.at("loop").at("batch_size").get<int64_t>(), j.at("runtime").at("seed").get<uint64_t>()};
  return {saved_dataset_name(j.value("dataset", std::string())), j.value("batch_size", int64_t{0}),
          j.value("seed", uint64_t{0})};
}

// The run folder's config.json: the configuration (what --config reads back) plus a "run"
// record of where and how it ran.
nlohmann::json run_config_json(const RunContext& ctx) {
  nlohmann::json j = train_config_to_json(ctx.config);
  j["run"] = {{"glpdepth_version", version()},
              {"source_commit", source_commit()},
              {"libtorch_version", libtorch_version()},
              {"device", ctx.device.str()},
              {"world_size", ctx.group->size()},
              {"command_line", ctx.hooks.command_line}};
  return j;
}

fs::path choose_run_dir(RunContext& ctx, const std::string& signature) {
  const TrainConfig& c = ctx.config;
  const std::string dataset = to_string(c.data.dataset);
  const std::string& resume = c.checkpoint.resume;
  fs::path run_dir;
  if (!ctx.is_main()) {
    // Rank 0 picks the folder and tells the others.
  } else if (resume == "auto") {
    run_dir = prepare_run_dir(c.log.log_dir, dataset, c.log.exp_name, RunDirOptions{true, signature});
  } else if (!resume.empty()) {
    check(fs::exists(resume), "--resume ", resume, ": no such file");
    run_dir = fs::path(resume).parent_path().empty() ? fs::path(".") : fs::path(resume).parent_path();
  } else {
    run_dir = prepare_run_dir(c.log.log_dir, dataset, c.log.exp_name, RunDirOptions{false, signature});
  }
  if (ctx.distributed()) run_dir = ctx.group->broadcast_string(run_dir.string());
  return run_dir;
}

void restore(RunContext& ctx, const fs::path& from, GLPDepth& model, Optimisation& o,
             RunState& state) {
  const TrainConfig& c = ctx.config;
  CheckpointData data = load_checkpoint(from, model, o.optimizer.get());
  const RunIdentity saved = identity_of(data.config_json);
  check(saved.batch_size == c.loop.batch_size &&
            saved.dataset == to_string(c.data.dataset) && saved.seed == c.runtime.seed,
        "--resume ", from.string(), ": the checkpoint was made with another dataset, batch size or "
        "seed (", saved.dataset, ", ", saved.batch_size, ", ", saved.seed,
        "): an exact continuation needs the same ones");
  check(data.model_options.canonical_focal == c.model.model.canonical_focal, "--resume ",
        from.string(), ": the checkpoint was trained with canonical focal ",
        data.model_options.canonical_focal, " (0 = off), this run asks for ",
        c.model.model.canonical_focal);
  o.schedule->load_state(data.schedule);
  o.schedule->apply(*o.optimizer);
  restore_rng_state(data.rng, state.seeds);
  state.progress = data.progress;
  o.step->guard().restore(state.progress.skipped_steps, state.progress.consecutive_skipped);
  if (!data.loss_scaler.empty()) o.step->scaler().load_state(data.loss_scaler);
  ctx.log() << "train: resumed from " << from.string() << " at epoch " << state.progress.epoch
            << ", batch " << state.progress.batch_in_epoch << " (step "
            << state.progress.global_step << ")\n";
}

// A process killed while writing a checkpoint leaves its temporary file; the run folder is
// this run's own, so whatever is there is left over.
void remove_unfinished_writes(RunContext& ctx, const fs::path& run_dir) {
  for (const fs::path& file : remove_stale_temporaries(run_dir))
    ctx.log() << "train: removed " << file.filename().string()
              << ", left by a checkpoint write that was killed\n";
}

// A run killed after its last checkpoint (or before its first: then everything goes) had logged
// steps that the continuation does again.
void drop_rows_after_checkpoint(RunContext& ctx, const RunState& state) {
  const auto last = static_cast<double>(state.progress.global_step);
  for (const auto& [file, step_column] : {std::pair{"train.csv", 0}, std::pair{"metrics.csv", 1}}) {
    if (const int64_t dropped = drop_csv_rows_after(state.run_dir / file, step_column, last))
      ctx.log() << "train: dropped " << dropped << " rows of " << file << " logged after step "
                << state.progress.global_step << " (they are done again)\n";
  }
}

}  // namespace

RunState open_or_resume(RunContext& ctx, GLPDepth& model, Optimisation& o) {
  const TrainConfig& c = ctx.config;
  RunState state;
  state.seeds = SeedCounter(c.runtime.seed);
  state.config_json = run_config_json(ctx);
  state.run_dir = choose_run_dir(ctx, train_config_to_json(c).dump());
  if (ctx.is_main()) remove_unfinished_writes(ctx, state.run_dir);
  fs::path from;
  if (c.checkpoint.resume == "auto") {
    if (fs::exists(state.run_dir / "last.ckpt")) from = state.run_dir / "last.ckpt";
    else ctx.log() << "train: --resume auto: no last.ckpt in " << state.run_dir.string()
                   << ", starting fresh\n";
  } else if (!c.checkpoint.resume.empty()) {
    from = c.checkpoint.resume;
  }
  if (ctx.is_main())
    write_bytes_atomic(state.run_dir / "config.json", state.config_json.dump(2) + "\n");
  if (!from.empty()) restore(ctx, from, model, o, state);
  if (!c.checkpoint.resume.empty() && ctx.is_main()) drop_rows_after_checkpoint(ctx, state);
  return state;
}

}  // namespace glpdepth::training
