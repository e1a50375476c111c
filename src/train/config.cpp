#include "glpdepth/train/config.h"

#include <cfloat>
#include <cmath>
#include <nlohmann/json.hpp>

#include "glpdepth/data/dataset.h"
#include "glpdepth/util/error.h"
#include "glpdepth/util/strings.h"

namespace glpdepth {

// Enums as their names, with the library's own parsers (which reject unknown names, where
// NLOHMANN_JSON_SERIALIZE_ENUM would silently pick the first value).
#define GLPDEPTH_JSON_BY_NAME(Type, parse)                                         \
  void to_json(nlohmann::json& j, Type v) { j = to_string(v); }                   \
  void from_json(const nlohmann::json& j, Type& v) { v = parse(j.get<std::string>()); }

GLPDEPTH_JSON_BY_NAME(OptimizerKind, parse_optimizer_kind)
GLPDEPTH_JSON_BY_NAME(ScheduleKind, parse_schedule_kind)
GLPDEPTH_JSON_BY_NAME(Precision, parse_precision)
GLPDEPTH_JSON_BY_NAME(WindowChoice, parse_window_choice)
GLPDEPTH_JSON_BY_NAME(EvalCrop, parse_kitti_crop)
GLPDEPTH_JSON_BY_NAME(KittiProtocol, parse_protocol)
GLPDEPTH_JSON_BY_NAME(PlateauMode, parse_plateau_mode)
GLPDEPTH_JSON_BY_NAME(ThresholdMode, parse_threshold_mode)
GLPDEPTH_JSON_BY_NAME(CyclicMode, parse_cyclic_mode)
}  // namespace glpdepth
// torch::Device has no default constructor: nlohmann needs a serializer that returns it.
namespace nlohmann {
template <>
struct adl_serializer<c10::Device> {
  static void to_json(json& j, const c10::Device& device) { j = device.str(); }
  static c10::Device from_json(const json& j) {
    const std::string name = j.get<std::string>();
    try {
      const c10::Device device(name);
      if (device.is_cpu() || device.is_cuda()) return device;
    } catch (const std::exception&) {
    }
    throw glpdepth::Error(glpdepth::cat("device '", name, "': expected cpu, cuda or cuda:N"));
  }
};
}  // namespace nlohmann
namespace glpdepth::dist {
void to_json(nlohmann::json& j, Backend v) { j = backend_name(v); }
void from_json(const nlohmann::json& j, Backend& v) { v = parse_backend(j.get<std::string>()); }
}  // namespace glpdepth::dist
namespace glpdepth {

GLPDEPTH_JSON_BY_NAME(Recipe, parse_recipe)
GLPDEPTH_JSON_BY_NAME(Figure, parse_figure)
GLPDEPTH_JSON_BY_NAME(DatasetKind, parse_dataset)

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(
    AugmentOptions, crop_h, crop_w, flip_p, brightness_contrast_p, brightness_limit,
    contrast_limit, gamma_p, gamma_min, gamma_max, hsv_p, hue_shift, sat_shift, val_shift,
    cutdepth_p, cutdepth_fraction, cutdepth_max_depth, scale_p, scale_min, scale_max,
    scale_divides_depth)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(TrainDataOptions, dataset, data_path, train_list,
                                                val_list, window, window_h, window_w, workers,
                                                skip_bad_samples)
// The encoder is "" when the weights file decides.
void to_json(nlohmann::json& j, const ModelChoice& v) {
  j = {{"encoder", v.encoder ? to_string(*v.encoder) : std::string()},
       {"max_depth", v.max_depth},
       {"canonical_focal", v.canonical_focal}};
}
void from_json(const nlohmann::json& j, ModelChoice& v) {
  const std::string encoder = j.value("encoder", std::string());
  v.encoder = encoder.empty() ? std::nullopt : std::optional<MitEncoder>(parse_encoder(encoder));
  v.max_depth = j.value("max_depth", v.max_depth);
  v.canonical_focal = j.value("canonical_focal", v.canonical_focal);
}
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(TrainModelOptions, model, pretrained, drop_path_rate)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(OptimOptions, kind, lr, weight_decay, beta1, beta2,
                                                eps, amsgrad, momentum, nesterov,
                                                no_decay_norm_bias)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(PolyScheduleOptions, min_lr, max_lr, power,
                                                clamp_to_min)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(StepScheduleOptions, step_size, gamma)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(PlateauScheduleOptions, mode, factor, patience,
                                                threshold, threshold_mode, cooldown, min_lr, eps,
                                                steps_per_epoch)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(CyclicScheduleOptions, base_lr, max_lr,
                                                step_size_up, step_size_down, mode, gamma,
                                                cycle_momentum, base_momentum, max_momentum)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(CosineScheduleOptions, warmup_steps,
                                                warmup_start_factor, min_lr)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ScheduleOptions, kind, poly, step, plateau, cyclic,
                                                cosine)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(LoopOptions, recipe, epochs, batch_size, clip_grad,
                                                max_nonfinite, silog_lambda, max_steps_per_epoch,
                                                stop_after_steps)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(EvalSettings, dataset, kitti_crop, protocol,
                                                nyu_crop, min_depth_eval, max_depth_eval)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ValidationOptions, val_freq, val_batch_size, eval,
                                                best_metric, plateau_monitor)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(CheckpointOptions, save_freq, save_model,
                                                save_result, save_every_steps,
                                                save_every_minutes, resume)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(LogOptions, log_dir, exp_name, log_every)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(RuntimeOptions, device, precision, channels_last,
                                                seed, threads)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(DistOptions, backend, port, timeout, sync_bn,
                                                verify_replicas)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(TrainConfig, data, augment, model, optim, schedule,
                                                loop, validation, checkpoint, log, runtime, dist)

namespace {

// Names every key of `given` that `known` (a serialised config) lacks, with its path.
void check_known_keys(const nlohmann::json& given, const nlohmann::json& known,
                      const std::string& path) {
  for (const auto& [key, value] : given.items()) {
    const std::string where = path.empty() ? key : path + "." + key;
    if (!known.contains(key)) {
      std::vector<std::string> names;
      for (const auto& entry : known.items()) names.push_back(entry.key());
      const std::string guess = closest_match(key, names);
      throw Error(cat("config: unknown key \"", where, "\"",
                      guess.empty() ? std::string() : cat(" (did you mean \"", guess, "\"?)")));
    }
    const nlohmann::json& expected = known.at(key);
    if (value.is_object() && expected.is_object()) check_known_keys(value, expected, where);
    // A number with a fraction or an exponent for a whole-number option would be cast to it
    // (undefined beyond the type's range, silently truncated within it).
    if (expected.is_number_integer() && value.is_number_float())
      throw Error(cat("config: key \"", where, "\" must be a whole number, got ", value.dump()));
    // Some options are floats: a larger magnitude could not be converted at all.
    if (value.is_number_float() && !(std::abs(value.get<double>()) <= FLT_MAX))
      throw Error(cat("config: key \"", where, "\": ", value.dump(), " is out of range"));
  }
}

// Numbers that did not survive the conversion to the option's type (a whole number too large for
// it, a negative one for an unsigned count) name their key instead of running with another value.
void check_numbers_kept(const nlohmann::json& given, const nlohmann::json& read,
                        const std::string& path) {
  for (const auto& [key, value] : given.items()) {
    const std::string where = path.empty() ? key : path + "." + key;
    if (!read.contains(key)) continue;
    const nlohmann::json& kept = read.at(key);
    if (value.is_object() && kept.is_object()) check_numbers_kept(value, kept, where);
    const bool same = !value.is_number() || !kept.is_number() ||
                      (value.is_number_integer() && kept.is_number_integer()
                           ? value.dump() == kept.dump()  // json's == takes 2^64-1 for -1
                           : std::abs(value.get<double>() - kept.get<double>()) <=
                                 1e-6 * std::abs(value.get<double>()));
    if (!same)
      throw Error(cat("config: key \"", where, "\": ", value.dump(), " is out of range (read as ",
                      kept.dump(), ")"));
  }
}

void usage_check(bool condition, const std::string& message) {
  if (!condition) throw UsageError(message);
}

}  // namespace

namespace {
// Measured in bench/learning.sh (docs/PERFORMANCE.md, "Learning"): on 1,600 frames of 400 synthetic
// streets at quarter size (synth --count 2000 --frames_per_drive 4 --scale 0.25), 8 epochs reach
// d1 ~0.8 on held-out drives in about 5 minutes on 2 cores. Beyond the optimiser and schedule it
// sets the network and augmentation, because from scratch on small frames these decide whether
// the model learns in minutes: no drop path, CutDepth or colour jitter; crops the frame's height.
void apply_demo_recipe(TrainConfig& config) {
  config.model.model.encoder = MitEncoder::kB0;
  config.model.pretrained = "none";
  config.model.drop_path_rate = 0.0;
  AugmentOptions& augment = config.augment;
  augment.crop_h = 94;
  augment.crop_w = 256;
  augment.brightness_contrast_p = 0.0;
  augment.gamma_p = 0.0;
  augment.hsv_p = 0.0;
  augment.cutdepth_p = 0.0;
  config.optim.kind = OptimizerKind::kAdamW;
  config.optim.lr = 1e-3;
  config.optim.weight_decay = 0.0;
  config.schedule.kind = ScheduleKind::kCosine;
  config.schedule.cosine = CosineScheduleOptions{};
  config.schedule.cosine.warmup_steps = 100;
  config.loop.clip_grad = 0.0;
  config.loop.batch_size = 4;
  config.loop.epochs = 8;
  config.validation.val_freq = 4;
}
}  // namespace

const NameTable<Recipe>& recipe_names() {
  static const NameTable<Recipe> names = {
      {"auto", Recipe::kAuto},       {"glp", Recipe::kGlp},       {"plateau", Recipe::kPlateau},
      {"plateau-l2", Recipe::kPlateauL2}, {"cyclic", Recipe::kCyclic}, {"demo", Recipe::kDemo}};
  return names;
}

Recipe parse_recipe(const std::string& name) {
  if (name.empty()) return Recipe::kAuto;  // configs before "auto"
  return parse_name(recipe_names(), to_lower(name), "recipe");
}

std::string to_string(Recipe recipe) { return name_of(recipe_names(), recipe); }

Recipe default_recipe(DatasetKind dataset) {
  return dataset == DatasetKind::kDrivingStereo ? Recipe::kCyclic : Recipe::kGlp;
}

void apply_recipe(TrainConfig& config, Recipe recipe) {
  if (recipe == Recipe::kAuto) return;
  config.loop.recipe = recipe;
  OptimOptions& optim = config.optim;
  ScheduleOptions& schedule = config.schedule;
  if (recipe == Recipe::kGlp) {  // GLPDepth's paper setting (spec §5.2)
    optim.kind = OptimizerKind::kAdam;
    optim.weight_decay = 0.0;
    schedule.kind = ScheduleKind::kPoly;
    schedule.poly = PolyScheduleOptions{};
    config.loop.clip_grad = 0.0;
    config.loop.batch_size = 12;
    return;
  }
  if (recipe == Recipe::kPlateau || recipe == Recipe::kPlateauL2) {  // the fork's (spec §5.3, a and b)
    optim.kind = OptimizerKind::kAdam;
    optim.weight_decay = recipe == Recipe::kPlateauL2 ? 5e-5 : 0.0;
    schedule.kind = ScheduleKind::kPlateau;
    schedule.plateau = PlateauScheduleOptions{};
    schedule.plateau.factor = 0.5;
    schedule.plateau.patience = 10;
    schedule.plateau.threshold = 3e-4;
    schedule.plateau.threshold_mode = ThresholdMode::kAbs;
    schedule.plateau.steps_per_epoch = 30;
    config.loop.clip_grad = 1.0;
    config.loop.batch_size = 32;
    return;
  }
  if (recipe == Recipe::kCyclic) {  // the fork's last one, HEAD f866283 (spec §5.3, c)
    optim.kind = OptimizerKind::kSGD;
    optim.momentum = 0.9;
    optim.lr = 0.005;  // CyclicLR sets the lr itself
    schedule.kind = ScheduleKind::kCyclic;
    schedule.cyclic = CyclicScheduleOptions{};
    schedule.cyclic.base_lr = 0.005;
    schedule.cyclic.max_lr = 0.05;
    schedule.cyclic.step_size_up = 2500;
    schedule.cyclic.mode = CyclicMode::kTriangular2;
    schedule.cyclic.base_momentum = 0.8;
    schedule.cyclic.max_momentum = 0.9;
    config.loop.clip_grad = 1.0;
    config.loop.batch_size = 32;
    return;
  }
  // make demo's: a MiT-b0 from scratch on quarter-size synthetic scenes
  if (recipe == Recipe::kDemo) apply_demo_recipe(config);
}

std::vector<std::string> unused_by_schedule(const TrainConfig& config,
                                            const std::vector<std::string>& given) {
  auto was_given = [&given](const std::string& flag) {
    for (const std::string& g : given)
      if (g == flag) return true;
    return false;
  };
  auto any_given_with_prefix = [&given](const std::string& prefix) {
    for (const std::string& g : given)
      if (g.rfind(prefix, 0) == 0) return g;
    return std::string();
  };
  std::vector<std::string> notes;
  const ScheduleKind kind = config.schedule.kind;
  const std::string name = to_string(kind);
  if (was_given("lr") && kind == ScheduleKind::kCyclic)
    notes.push_back(cat("--lr ", config.optim.lr, " is not used by the cyclic schedule: its lr runs "
                        "between --cyclic_base_lr ", config.schedule.cyclic.base_lr,
                        " and --cyclic_max_lr ", config.schedule.cyclic.max_lr));
  if (was_given("lr") && kind == ScheduleKind::kPoly)
    notes.push_back(cat("--lr ", config.optim.lr, " is not used by the poly schedule: its lr runs "
                        "from --poly_min_lr ", config.schedule.poly.min_lr, " to --poly_max_lr ",
                        config.schedule.poly.max_lr, " and back"));
  const std::pair<const char*, ScheduleKind> families[] = {
      {"poly_", ScheduleKind::kPoly},         {"step_", ScheduleKind::kStep},
      {"plateau_", ScheduleKind::kPlateau},   {"cyclic_", ScheduleKind::kCyclic},
      {"cosine_", ScheduleKind::kCosine},     {"warmup_", ScheduleKind::kCosine}};
  for (const auto& [prefix, owner] : families) {
    const std::string flag = any_given_with_prefix(prefix);
    if (!flag.empty() && kind != owner)
      notes.push_back(cat("--", flag, " is not used: the schedule is ", name, ", not ",
                          to_string(owner), " (--schedule ", to_string(owner), " uses it)"));
  }
  const bool adam = config.optim.kind != OptimizerKind::kSGD;
  for (const char* flag : {"momentum", "nesterov"}) {
    if (!was_given(flag)) continue;
    if (adam)
      notes.push_back(cat("--", flag, " is not used by ", to_string(config.optim.kind),
                          " (SGD only; Adam's momentum is beta1)"));
    else if (kind == ScheduleKind::kCyclic && config.schedule.cyclic.cycle_momentum &&
             std::string(flag) == "momentum")
      notes.push_back(cat("--momentum is not used: the cyclic schedule cycles momentum between "
                          "--cyclic_base_momentum ", config.schedule.cyclic.base_momentum,
                          " and --cyclic_max_momentum ", config.schedule.cyclic.max_momentum));
  }
  return notes;
}

void validate(const TrainConfig& c) {
  usage_check(!c.data.data_path.empty(), "--data_path: the dataset folder is required");
  usage_check(from_validation(c.validation.best_metric),
              "--best_metric train_loss: best.ckpt is picked by validation (val_loss or a metric)");
  try {
  } catch (const UsageError&) {
    throw;
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
  usage_check(c.data.workers >= 0, cat("--workers ", c.data.workers, ": must be >= 0"));
  usage_check(c.loop.epochs >= 1, cat("--epochs ", c.loop.epochs, ": must be at least 1"));
  usage_check(c.loop.batch_size >= 1, cat("--batch_size ", c.loop.batch_size, ": must be at least 1"));
  usage_check(c.validation.val_freq >= 0, cat("--val_freq ", c.validation.val_freq, ": must be >= 0"));
  usage_check(c.validation.val_batch_size >= 1,
              cat("--val_batch_size ", c.validation.val_batch_size, ": must be at least 1"));
  usage_check(c.optim.lr > 0, cat("--lr ", c.optim.lr, ": must be > 0"));
  usage_check(c.optim.weight_decay >= 0, cat("--weight_decay ", c.optim.weight_decay, ": must be >= 0"));
  usage_check(c.loop.clip_grad >= 0, cat("--clip_grad ", c.loop.clip_grad, ": must be >= 0 (0 = off)"));
  usage_check(c.loop.max_nonfinite >= 1, cat("--max_nonfinite ", c.loop.max_nonfinite, ": must be at least 1"));
  usage_check(c.model.model.max_depth >= 0, cat("--max_depth ", c.model.model.max_depth, ": must be >= 0"));
  usage_check(c.model.model.canonical_focal >= 0 && std::isfinite(c.model.model.canonical_focal),
              cat("--canonical_focal ", c.model.model.canonical_focal, ": must be >= 0 (0 = off)"));
  usage_check(c.checkpoint.save_every_steps >= 0,
              cat("--save_every_steps ", c.checkpoint.save_every_steps, ": must be >= 0"));
  usage_check(c.checkpoint.save_every_minutes >= 0,
              cat("--save_every_minutes ", c.checkpoint.save_every_minutes, ": must be >= 0"));
  usage_check(c.log.log_every >= 0, cat("--log_every ", c.log.log_every, ": must be >= 0"));
  usage_check(c.dist.timeout > 0, cat("--dist_timeout ", c.dist.timeout, ": must be > 0"));
}

nlohmann::json train_config_to_json(const TrainConfig& config) { return config; }

TrainConfig train_config_from_json(const nlohmann::json& json, TrainConfig base) {
  check(json.is_object(), "config: expected a JSON object");
  check_known_keys(json, train_config_to_json(base), "");
  try {
    nlohmann::json merged = train_config_to_json(base);
    merged.merge_patch(json);
    TrainConfig config = merged.get<TrainConfig>();
    check_numbers_kept(json, train_config_to_json(config), "");
    return config;
  } catch (const nlohmann::json::exception& e) {
    throw Error(cat("config: ", e.what()));
  }
}

}  // namespace glpdepth
