#include "sphaera/train/experiment.h"

#include <filesystem>

#include "sphaera/core/check.h"

namespace sphaera::train {

namespace {

void parse_data(Section data, DataConfig& out, int64_t seed) {
  out.source = data.text("source", std::nullopt, {"synth-cosmo", "manifest"});
  out.nside = data.integer("nside", std::nullopt, 1, 8192);
  if ((out.nside & (out.nside - 1)) != 0) data.fail("nside", "must be a power of two, got " + std::to_string(out.nside));
  out.channels = data.integer("channels", 1, 1, 4096);
  out.order = data.integer("order", 0, 0, 8192);
  if (out.order > 0) {
    if ((out.order & (out.order - 1)) != 0 || out.order > out.nside) {
      data.fail("order", "must be 0 (full sky) or a power of two ≤ nside = " + std::to_string(out.nside) +
                             ", got " + std::to_string(out.order));
    }
  }
  out.mask_invalid = data.boolean("mask_invalid", false);
  out.normalize = data.boolean("normalize", true);
  out.augment_noise = data.number("augment_noise", 0.0, 0.0, 1e6);
  out.batch_size = data.integer("batch_size", 16, 1, 1 << 20);
  if (out.source == "synth-cosmo") {
    out.dir = data.text("dir", std::nullopt);
    out.classes = data.texts("classes", std::vector<std::string>{"gaussian", "lognormal"});
    Section synth = data.section("synth");
    nlohmann::json s;
    s["nside"] = out.nside;
    s["lmax"] = synth.integer("lmax", 3 * out.nside - 1, 1, 3 * out.nside - 1);
    s["train"] = synth.integer("train", 32, 1, 1000000);
    s["val"] = synth.integer("val", 8, 1, 1000000);
    s["test"] = synth.integer("test", 16, 1, 1000000);
    s["seed"] = synth.integer("seed", seed, 0);
    s["noise"] = synth.number("noise", 0.1, 0.0, 1e6);
    s["skewness"] = synth.number("skewness", 0.4, 0.0, 10.0);
    s["spectrum"] = synth.text("spectrum", "camb");
    synth.finish();
    out.synth = s;
    out.train = (std::filesystem::path(out.dir) / "train.csv").string();
    out.val = (std::filesystem::path(out.dir) / "val.csv").string();
    out.test = (std::filesystem::path(out.dir) / "test.csv").string();
    if (out.classes.size() != 2) data.fail("classes", "synth-cosmo makes 2 classes; give 2 names");
  } else {
    out.train = data.text("train", std::nullopt);
    out.val = data.text("val", std::nullopt);
    out.test = data.text("test", std::nullopt);
    out.classes = data.texts("classes", std::nullopt);
    if (out.classes.size() < 2) data.fail("classes", "need at least 2 class names");
  }
  data.finish();
}

void parse_solver(Section solver, SolverConfig& out) {
  Section opt = solver.section("optimizer");
  out.optimizer = opt.text("type", "adam", {"adam", "sgd"});
  out.lr = opt.number("lr", 1e-3, 1e-12, 10.0);
  out.weight_decay = opt.number("weight_decay", 0.0, 0.0, 1.0);
  if (out.optimizer == "sgd") out.momentum = opt.number("momentum", 0.9, 0.0, 1.0);
  opt.finish();
  Section sched = solver.section("schedule");
  out.schedule = sched.text("type", "constant", {"constant", "step", "cosine", "plateau"});
  out.warmup_epochs = sched.integer("warmup_epochs", 0, 0, 1000000);
  if (out.schedule == "step") out.step_size = sched.integer("step_size", 10, 1, 1000000);
  if (out.schedule == "step" || out.schedule == "plateau") out.gamma = sched.number("gamma", 0.1, 1e-6, 1.0);
  if (out.schedule == "plateau") out.plateau_patience = sched.integer("patience", 3, 1, 1000000);
  if (out.schedule == "cosine" || out.schedule == "plateau") out.min_lr = sched.number("min_lr", 0.0, 0.0, 10.0);
  sched.finish();
  out.epochs = solver.integer("epochs", 10, 1, 1000000);
  out.checkpoint_every = solver.integer("checkpoint_every", 0, 0, 1000000);
  out.monitor = solver.text("monitor", "val.accuracy", {"val.accuracy", "val.loss"});
  out.amp = solver.text("amp", "none", {"none", "bf16", "fp16"});
  out.on_non_finite = solver.text("on_non_finite", "stop", {"stop", "skip"});
  Section early = solver.section("early_stopping");
  out.early_stopping_patience = early.integer("patience", 0, 0, 1000000);
  early.finish();
  solver.finish();
}

}  // namespace

ExperimentConfig parse_experiment(Config config) {
  ExperimentConfig out;
  Section top(config, "");
  out.seed = top.integer("seed", 0, 0);
  out.device = top.text("device", "cpu");
  out.threads = top.integer("threads", 0, 0, 4096);
  parse_data(Section(config, "data", /*required=*/true), out.data, out.seed);
  top.section("data");
  const auto& model = top.raw("model");
  if (!model.is_object()) top.fail("model", "the model section is required (a mapping with `layers`)");
  out.model = model;
  parse_solver(top.section("solver"), out.solver);
  Section output = top.section("output");
  out.output_dir = output.text("dir", "runs/experiment");
  output.finish();
  top.finish();
  out.config = std::move(config);
  return out;
}

}  // namespace sphaera::train
