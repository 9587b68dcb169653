#include "sphaera/train/trainer.h"

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>

#include <torch/torch.h>

#include "sphaera/core/check.h"
#include "sphaera/core/runtime.h"
#include "sphaera/data_tools/atomic_file.h"
#include "sphaera/data_tools/plot.h"
#include "sphaera/data_tools/synth.h"
#include "sphaera/models/network.h"
#include "sphaera/train/amp.h"
#include "sphaera/train/checkpoint.h"
#include "sphaera/train/config.h"
#include "sphaera/train/dataset.h"
#include "sphaera/train/experiment.h"
#include "sphaera/train/experiment_model.h"
#include "sphaera/train/metrics.h"
#include "sphaera/train/progress.h"
#include "sphaera/train/solver.h"

namespace sphaera::train {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// A batch from host memory onto the device: on CUDA through pinned memory and an asynchronous copy (the caching
// host allocator keeps the pinned buffer until the copy is done).
at::Tensor to_device(const at::Tensor& host, const c10::Device& device) {
  if (!device.is_cuda()) return host.to(device);
  return host.pin_memory().to(device, /*non_blocking=*/true);
}

struct EvalResult {
  double loss = 0;
  json metrics;
};

// `label`: a progress line of that name (eval), none when empty (validation, inside an epoch's line).
EvalResult evaluate(ExperimentModel& b, const Split& split, const std::vector<std::string>& classes, int64_t batch_size,
                    const std::string& label = "") {
  torch::NoGradGuard no_grad;
  const AmpMode amp = parse_amp(b.exp.solver.amp);
  b.net->eval();
  ConfusionMatrix cm(static_cast<int64_t>(classes.size()));
  double loss_sum = 0;
  const auto dtype = torch::kFloat;
  std::optional<Progress> progress;
  if (!label.empty()) progress.emplace(label, split.size());
  for (int64_t start = 0; start < split.size(); start += batch_size) {
    const int64_t end = std::min(split.size(), start + batch_size);
    auto x = to_device(split.inputs.slice(0, start, end).to(dtype), b.device);
    auto y = to_device(split.labels.slice(0, start, end), b.device);
    at::Tensor logits, loss;
    {
      const AutocastGuard autocast(amp, b.device.type());
      logits = b.net->forward(x);
      loss = torch::nn::functional::cross_entropy(
          logits, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
    }
    loss_sum += loss.item<double>();
    cm.add(logits, y);
    if (progress) progress->update(end);
  }
  if (progress) progress->finish();
  EvalResult r;
  r.loss = loss_sum / std::max<int64_t>(1, split.size());
  r.metrics = cm.to_json(classes);
  r.metrics["loss"] = r.loss;
  return r;
}

bool holds_run(const fs::path& dir) {
  return fs::exists(dir / "config.yaml") || fs::exists(dir / "metrics.jsonl") || fs::exists(dir / "checkpoints");
}

// Where a run goes. Nothing is changed on disk here: a run to be overwritten is cleared only once the config,
// the model and the data have all been validated (clear_previous_run), so a bad config destroys nothing.
struct RunDir {
  fs::path path;
  bool clear_previous = false;  // --overwrite of a directory that holds a run
};

RunDir choose_run_dir(const fs::path& wanted, bool resume, bool overwrite) {
  if (resume) {
    SPHAERA_CHECK(fs::exists(wanted / "checkpoints" / "last.pt"), "--resume: ", (wanted / "checkpoints/last.pt").string(),
                  " does not exist (nothing to resume in ", wanted.string(), ")");
    return {wanted, false};
  }
  if (!holds_run(wanted)) return {wanted, false};
  if (overwrite) return {wanted, true};
  for (int n = 2;; ++n) {
    fs::path sibling = wanted.string() + "-" + std::to_string(n);
    if (!holds_run(sibling)) {
      std::cerr << "run directory " << wanted.string() << " already holds a run: this run goes to "
                << sibling.string() << " (use --resume or --overwrite to reuse it)\n";
      return {sibling, false};
    }
  }
}

void clear_previous_run(const fs::path& dir) {
  for (const char* name : {"config.yaml", "metrics.jsonl", "summary.json", "checkpoints", "training_curves.png"}) {
    fs::remove_all(dir / name);
  }
  std::cerr << "run directory " << dir.string() << " held a run: overwritten (--overwrite)\n";
}

std::vector<int64_t> rng_state() {
  auto state = at::detail::getDefaultCPUGenerator().get_state();
  std::vector<int64_t> out(state.numel());
  const uint8_t* p = state.data_ptr<uint8_t>();
  for (int64_t i = 0; i < state.numel(); ++i) out[i] = p[i];
  return out;
}

void set_rng_state(const std::vector<int64_t>& bytes) {
  auto state = torch::empty({static_cast<int64_t>(bytes.size())}, torch::kUInt8);
  uint8_t* p = state.data_ptr<uint8_t>();
  for (size_t i = 0; i < bytes.size(); ++i) p[i] = static_cast<uint8_t>(bytes[i]);
  at::Generator generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  generator.set_state(state);
}

// Loads and normalises the three splits (normalisation from the training split, or as given).
struct Data {
  Split train, val, test;
  data_tools::NormalizationStats norm;
};

void prepare_synthetic(const DataConfig& d) {
  if (d.source != "synth-cosmo") return;
  data_tools::SynthCosmoOptions o;
  o.out_dir = d.dir;
  o.nside = d.synth["nside"].get<int64_t>();
  o.lmax = d.synth["lmax"].get<int64_t>();
  o.train = d.synth["train"].get<int64_t>();
  o.val = d.synth["val"].get<int64_t>();
  o.test = d.synth["test"].get<int64_t>();
  o.seed = d.synth["seed"].get<uint64_t>();
  o.noise = d.synth["noise"].get<double>();
  o.skewness = d.synth["skewness"].get<double>();
  o.spectrum = d.synth["spectrum"].get<std::string>();
  auto progress = std::make_shared<Progress>("data: synth-cosmo maps", 2 * (o.train + o.val + o.test));
  o.progress = [progress](int64_t done, int64_t total) { progress->update(done); };
  if (data_tools::ensure_synth_cosmo(o)) {
    progress->finish();
    std::cerr << "data: generated synthetic cosmology maps in " << d.dir << "\n";
  } else {
    std::cerr << "data: reusing " << d.dir << "\n";
  }
}

Data load_data(const DataConfig& d, const data_tools::NormalizationStats* given) {
  prepare_synthetic(d);
  Data data;
  data.train = load_split(d.train, d, d.channels, "data.train");
  data.val = load_split(d.val, d, d.channels, "data.val");
  data.test = load_split(d.test, d, d.channels, "data.test");
  data.norm = given != nullptr ? *given : split_statistics(data.train);
  for (Split* split : {&data.train, &data.val, &data.test}) finalize_split(*split, data.norm, d.normalize);
  std::cerr << "data: " << data.train.size() << " train, " << data.val.size() << " val, " << data.test.size()
            << " test samples of " << d.channels << " x " << data.train.inputs.size(2) << " pixels (nside "
            << d.nside << (d.order > 0 ? ", order " + std::to_string(d.order) + " patches" : ", full sky") << ")\n";
  return data;
}

// training_curves.png: loss and accuracy per epoch, train and validation.
void write_curves(const fs::path& path, const std::vector<json>& history) {
  data_tools::Series train_loss{"train", {}, {}}, val_loss{"val", {}, {}}, train_acc{"train", {}, {}},
      val_acc{"val", {}, {}};
  for (const auto& line : history) {
    const double epoch = line["epoch"].get<double>();
    for (auto* s : {&train_loss, &val_loss, &train_acc, &val_acc}) s->x.push_back(epoch);
    train_loss.y.push_back(line["train"]["loss"].get<double>());
    val_loss.y.push_back(line["val"]["loss"].get<double>());
    train_acc.y.push_back(line["train"]["accuracy"].get<double>());
    val_acc.y.push_back(line["val"]["accuracy"].get<double>());
  }
  data_tools::write_line_chart_png(path.string(), {{"loss", "epoch", {train_loss, val_loss}},
                                                   {"accuracy", "epoch", {train_acc, val_acc}}});
}

void write_jsonl(const fs::path& path, const std::vector<json>& lines) {
  std::string text;
  for (const auto& line : lines) text += line.dump() + "\n";
  data_tools::write_text_atomic(path.string(), text);
}

std::vector<json> read_jsonl(const fs::path& path) {
  std::vector<json> lines;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) lines.push_back(json::parse(line));
  }
  return lines;
}

// The first layer whose output on `x` is not finite, as "model.layers[2] (cheb_conv)", for a batch whose loss
// was not finite (the forward is run again, without gradients, under the same autocast).
std::string first_non_finite_layer(ExperimentModel& b, const at::Tensor& x, AmpMode amp) {
  if (!x.isfinite().all().item<bool>()) return "the input batch itself holds NaN or Inf";
  torch::NoGradGuard no_grad;
  const AutocastGuard autocast(amp, b.device.type());
  std::optional<size_t> first;
  b.net->forward_observed(x, [&](size_t i, const at::Tensor& y) {
    if (!first && !y.isfinite().all().item<bool>()) first = i;
  });
  if (!first) return "every layer's output is finite: the loss itself overflowed";
  const auto& layer = b.net->layers()[*first];
  return "first non-finite output: " + layer.where + " (" + layer.type + ")";
}

// Whether every gradient is finite, as a 0-d tensor on the device (true when there are none): read back
// with the step's other values, so checking costs no synchronisation of its own.
at::Tensor all_gradients_finite(models::Network& net) {
  std::vector<at::Tensor> finite;
  for (const auto& p : net->parameters()) {
    if (p.grad().defined()) finite.push_back(p.grad().isfinite().all());
  }
  return finite.empty() ? torch::tensor(true) : torch::stack(finite).all();
}

// The first parameter (in the network's order) whose gradient holds NaN or Inf, or "" when all are finite
// (looked for only once all_gradients_finite said one is not).
std::string first_non_finite_gradient(models::Network& net) {
  for (const auto& item : net->named_parameters()) {
    const at::Tensor& g = item.value().grad();
    if (g.defined() && !g.isfinite().all().item<bool>()) return item.key();
  }
  return "";
}

// A checkpoint records the grid, channels and classes its network was trained on; the network rebuilt from
// its stored config must take the same (a checkpoint edited by hand, or written by a version that read its
// config otherwise, would otherwise be evaluated on the wrong inputs).
void check_checkpoint_inputs(const json& meta, const ExperimentModel& b, const std::string& checkpoint) {
  const json expected = {{"grid", b.grid->key()}, {"channels", b.exp.data.channels}, {"classes", b.exp.data.classes}};
  for (const auto& [key, value] : expected.items()) {
    SPHAERA_CHECK(meta.contains(key), checkpoint, ": the checkpoint does not record its ", key);
    SPHAERA_CHECK(meta[key] == value, checkpoint, ": the checkpoint was trained with ", key, " ", meta[key].dump(),
                  " but its stored config gives ", value.dump());
  }
}

}  // namespace

TrainResult run_training(const TrainRequest& request) {
  // 1. Validate everything before any work.
  Config config = Config::load(request.config_path, request.overrides);
  ExperimentConfig exp = parse_experiment(std::move(config));
  if (request.threads) exp.threads = *request.threads;
  const int threads = core::set_num_threads(static_cast<int>(exp.threads));
  core::seed_everything(exp.seed);
  const RunDir chosen = choose_run_dir(request.out.empty() ? exp.output_dir : request.out, request.resume,
                                       request.overwrite);
  const fs::path run_dir = chosen.path;
  exp.config.mutable_tree()["output"]["dir"] = run_dir.string();
  exp.output_dir = run_dir.string();
  // 2. Resume state, if any, must be readable and describe the same experiment.
  json state;
  if (request.resume) {
    state = read_checkpoint_meta((run_dir / "checkpoints" / "last.pt").string());
    const json& old = state["config"];
    SPHAERA_CHECK(old["model"] == exp.config.tree()["model"] && old["data"] == exp.config.tree()["data"],
                  "--resume: the config's data or model section differs from the run in ", run_dir.string());
  }
  ExperimentModel b = build_experiment_model(std::move(exp));
  const ExperimentConfig& e = b.exp;
  const SolverConfig& s = e.solver;
  const AmpMode amp = parse_amp(s.amp);
  GradScaler scaler(amp == AmpMode::kFp16);
  std::cerr << "device: " << core::describe_device(b.device) << ", " << threads << " CPU thread" << (threads == 1 ? "" : "s")
            << (amp == AmpMode::kNone ? "" : ", mixed precision " + s.amp) << "\n";
  std::cerr << "model:\n" << b.net->summary();


  // 3. Data.
  data_tools::NormalizationStats stored;
  if (request.resume) stored = data_tools::NormalizationStats::from_json(state["normalization"]);
  Data data = load_data(e.data, request.resume ? &stored : nullptr);

  // 4. Run directory and trainer state: everything is validated by now.
  if (chosen.clear_previous) clear_previous_run(run_dir);
  {
    std::error_code ec;
    fs::create_directories(run_dir / "checkpoints", ec);
    SPHAERA_CHECK(!ec, run_dir.string(), ": cannot create the run directory (", ec.message(),
                  "); nothing was trained");
  }
  // A run killed while writing left its temporaries (the targets themselves are never partial).
  for (const fs::path& dir : {run_dir, run_dir / "checkpoints"}) data_tools::remove_stale_temporaries(dir.string());
  data_tools::write_text_atomic((run_dir / "config.yaml").string(), e.config.to_yaml());
  auto optimizer = make_optimizer(s, b.net->parameters());
  int64_t first_epoch = 0;
  int64_t step = 0;
  MonitorState monitor(s);
  int64_t skipped_steps = 0;  // on_non_finite: skip (the whole run: carried by checkpoints)
  std::vector<json> history;
  if (request.resume) {
    load_checkpoint_state((run_dir / "checkpoints" / "last.pt").string(), *b.net, optimizer.get());
    first_epoch = state["epochs_done"].get<int64_t>();
    step = state["step"].get<int64_t>();
    monitor.from_json(state);
    skipped_steps = state.value("skipped_steps", int64_t{0});
    set_rng_state(state["rng"].get<std::vector<int64_t>>());
    scaler.load_state(state.value("grad_scaler", json()));
    for (auto& line : read_jsonl(run_dir / "metrics.jsonl")) {
      if (line.value("epoch", int64_t{0}) <= first_epoch) history.push_back(line);
    }
    std::cerr << "resuming " << run_dir.string() << " after epoch " << first_epoch << "\n";
  }
  // Epochs are counted from 1 in everything written (metrics.jsonl, checkpoints, summary).
  auto meta_for = [&](int64_t epochs_done) {
    json meta;
    meta["format_version"] = kCheckpointFormatVersion;
    meta["config"] = e.config.tree();
    meta["epochs_done"] = epochs_done;
    meta["step"] = step;
    meta.update(monitor.to_json());
    meta["skipped_steps"] = skipped_steps;
    meta["normalization"] = data.norm.to_json();
    meta["classes"] = e.data.classes;
    meta["channels"] = e.data.channels;
    meta["grid"] = b.grid->key();
    meta["rng"] = rng_state();
    meta["grad_scaler"] = scaler.state();
    return meta;
  };

  // 5. Epochs.
  const int64_t n = data.train.size();
  const int64_t batches = (n + e.data.batch_size - 1) / e.data.batch_size;
  const auto wall_start = std::chrono::steady_clock::now();
  for (int64_t epoch = first_epoch; epoch < s.epochs; ++epoch) {
    const double lr = scheduled_lr(s, epoch, monitor.plateau_lr);
    set_lr(*optimizer, lr);
    b.net->train();
    // Per-epoch generators: a resumed run draws exactly what an uninterrupted one would.
    std::mt19937_64 shuffle_rng(e.seed * 1000003ULL + static_cast<uint64_t>(epoch));
    std::vector<int64_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), shuffle_rng);
    auto noise_gen = at::make_generator<at::CPUGeneratorImpl>(e.seed * 7919ULL + static_cast<uint64_t>(epoch) + 1);
    Progress progress("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(s.epochs), batches);
    double loss_sum = 0;
    int64_t right = 0;
    int64_t seen = 0;  // samples of the steps taken (skipped ones aside)
    for (int64_t bi = 0; bi < batches; ++bi) {
      const int64_t start = bi * e.data.batch_size;
      const int64_t end = std::min(n, start + e.data.batch_size);
      auto idx = torch::from_blob(order.data() + start, {end - start}, torch::kLong).clone();
      auto x = data.train.inputs.index_select(0, idx);
      if (e.data.augment_noise > 0) {
        x = x + e.data.augment_noise * at::randn(x.sizes(), noise_gen, x.options());
        x.masked_fill_(data.train.valid.index_select(0, idx).logical_not(), 0.0f);
      }
      x = to_device(x, b.device);
      auto y = to_device(data.train.labels.index_select(0, idx), b.device);
      at::Tensor logits, loss;
      {
        const AutocastGuard autocast(amp, b.device.type());
        logits = b.net->forward(x);
        loss = torch::nn::functional::cross_entropy(logits, y);
      }
      optimizer->zero_grad();
      scaler.scale(loss).backward();
      // One readback per step: the loss, the number of right answers and, unless the fp16 scaler finds and
      // skips inf/NaN gradients itself (lowering its scale), whether every gradient is finite.
      std::vector<at::Tensor> readback = {loss.detach().to(at::kDouble).reshape({1}),
                                          logits.argmax(1).eq(y).sum().to(at::kDouble).reshape({1})};
      if (!scaler.enabled()) readback.push_back(all_gradients_finite(b.net).to(at::kDouble).reshape({1}));
      const at::Tensor values = torch::cat(readback).cpu();
      const double loss_value = values[0].item<double>();
      const auto right_in_batch = static_cast<int64_t>(values[1].item<double>());
      const bool gradients_finite = readback.size() < 3 || values[2].item<double>() != 0;
      std::string problem;
      if (!std::isfinite(loss_value)) {
        problem = std::string("the loss is ") + (std::isnan(loss_value) ? "NaN" : "infinite") + "; " +
                  first_non_finite_layer(b, x, amp);
      } else if (!gradients_finite) {
        problem = "the gradient of " + first_non_finite_gradient(b.net) + " holds NaN or Inf";
      }
      ++step;
      if (!problem.empty()) {
        const std::string where = "epoch " + std::to_string(epoch + 1) + ", step " + std::to_string(step) +
                                  " (batch " + std::to_string(bi + 1) + " of " + std::to_string(batches) + ")";
        if (s.on_non_finite == "stop") {
          const std::string kept = epoch == 0 ? "no checkpoint was written yet"
                                              : (run_dir / "checkpoints" / "last.pt").string() +
                                                    " holds the last good epoch, " + std::to_string(epoch);
          throw core::InvalidArgument(where + ": " + problem + "; training stopped (solver.on_non_finite: stop; " +
                                      kept + ")");
        }
        ++skipped_steps;
        std::cerr << (::isatty(STDERR_FILENO) ? "\n" : "") << where << ": " << problem
                  << "; step skipped (solver.on_non_finite: skip)\n";
        continue;
      }
      scaler.step(*optimizer);
      seen += end - start;
      loss_sum += loss_value * (end - start);
      right += right_in_batch;
      std::ostringstream status;
      status.precision(4);
      status << "loss " << loss_sum / seen << " acc " << static_cast<double>(right) / seen;
      progress.update(bi + 1, status.str());
    }
    SPHAERA_CHECK(seen > 0, "epoch ", epoch + 1, ": every step was skipped (NaN or Inf each time, "
                  "solver.on_non_finite: skip): nothing to learn from; check the data and the learning rate");
    const double train_loss = loss_sum / seen;
    const double train_acc = static_cast<double>(right) / seen;
    auto val = evaluate(b, data.val, e.data.classes, e.data.batch_size);
    const double monitored = s.monitor == "val.loss" ? val.loss : val.metrics["accuracy"].get<double>();
    std::ostringstream status;
    status.precision(4);
    status << "lr " << lr << " train loss " << train_loss << " acc " << train_acc << " | val loss " << val.loss
           << " acc " << val.metrics["accuracy"].get<double>();
    progress.finish(status.str());

    const bool better = monitor.record(s, epoch, monitored);
    json line;
    line["epoch"] = epoch + 1;
    line["lr"] = lr;
    line["train"] = {{"loss", train_loss}, {"accuracy", train_acc}};
    line["val"] = val.metrics;
    line["seconds"] = progress.elapsed_seconds();
    history.push_back(line);
    write_jsonl(run_dir / "metrics.jsonl", history);
    write_curves(run_dir / "training_curves.png", history);
    const json meta = meta_for(epoch + 1);
    if (better) save_checkpoint((run_dir / "checkpoints" / "best.pt").string(), *b.net, nullptr, meta);
    if (s.checkpoint_every > 0 && (epoch + 1) % s.checkpoint_every == 0) {
      save_checkpoint((run_dir / "checkpoints" / ("epoch_" + std::to_string(epoch + 1) + ".pt")).string(), *b.net,
                      optimizer.get(), meta);
    }
    save_checkpoint((run_dir / "checkpoints" / "last.pt").string(), *b.net, optimizer.get(), meta);
    if (monitor.should_stop(s)) {
      std::cerr << "early stopping: " << s.monitor << " did not improve for " << monitor.stale_epochs << " epochs\n";
      break;
    }
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();

  // 6. Test with the best weights.
  if (fs::exists(run_dir / "checkpoints" / "best.pt")) {
    load_checkpoint_state((run_dir / "checkpoints" / "best.pt").string(), *b.net, nullptr);
  }
  auto test = evaluate(b, data.test, e.data.classes, e.data.batch_size);
  json summary;
  summary["test"] = test.metrics;
  summary["best_epoch"] = monitor.best_epoch + 1;
  summary["best_" + std::string(s.monitor == "val.loss" ? "val_loss" : "val_accuracy")] = monitor.best;
  summary["skipped_steps"] = skipped_steps;
  summary["epochs_run"] = history.empty() ? 0 : history.back()["epoch"].get<int64_t>();
  summary["train_seconds_this_session"] = wall;
  summary["threads"] = threads;
  summary["device"] = core::describe_device(b.device);
  summary["run_dir"] = run_dir.string();
  data_tools::write_text_atomic((run_dir / "summary.json").string(), summary.dump(2) + "\n");
  std::cout << "test accuracy: " << test.metrics["accuracy"].get<double>() << " (" << test.metrics["samples"]
            << " samples, best epoch " << monitor.best_epoch + 1 << ")\n"
            << "run directory: " << run_dir.string() << "\n";
  return {run_dir.string(), summary};
}

json run_evaluation(const EvalRequest& request) {
  const json meta = read_checkpoint_meta(request.checkpoint);
  Config config = Config::from_json(meta["config"], request.checkpoint + " (stored config)");
  ExperimentConfig exp = parse_experiment(std::move(config));
  if (request.threads) exp.threads = *request.threads;
  const int threads = core::set_num_threads(static_cast<int>(exp.threads));
  ExperimentModel b = build_experiment_model(std::move(exp));
  check_checkpoint_inputs(meta, b, request.checkpoint);
  load_checkpoint_state(request.checkpoint, *b.net, nullptr);
  std::cerr << "device: " << core::describe_device(b.device) << ", " << threads << " CPU thread"
            << (threads == 1 ? "" : "s") << "\n";
  const auto norm = data_tools::NormalizationStats::from_json(meta["normalization"]);
  const DataConfig& d = b.exp.data;
  std::string manifest = request.manifest;
  if (manifest.empty()) {
    prepare_synthetic(d);
    manifest = d.test;
  }
  Split split = load_split(manifest, d, d.channels, manifest);
  finalize_split(split, norm, d.normalize);
  auto result = evaluate(b, split, d.classes, d.batch_size, "eval: samples");
  json out = result.metrics;
  out["manifest"] = manifest;
  out["checkpoint"] = request.checkpoint;
  return out;
}

}  // namespace sphaera::train
