#include "sphaera/train/trainer.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "sphaera/core/check.h"
#include "sphaera/data_tools/healpix_fits.h"
#include "sphaera/data_tools/manifest.h"
#include "sphaera/models/registry.h"
#include "sphaera/train/checkpoint.h"
#include "sphaera/train/config.h"
#include "sphaera/train/experiment.h"
#include "sphaera/train/experiment_model.h"
#include "sphaera/train/solver.h"
#include "sphaera/transforms/healpix_grid.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// A scratch directory per test, removed afterwards; tests run with it as the working directory.
class TrainerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    old_cwd_ = fs::current_path();
    dir_ = fs::temp_directory_path() /
           ("sphaera_trainer_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    fs::current_path(dir_);
  }
  void TearDown() override {
    fs::current_path(old_cwd_);
    fs::remove_all(dir_);
  }
  void write(const std::string& name, const std::string& text) { std::ofstream(dir_ / name) << text; }
  std::string read(const std::string& name) {
    std::ifstream in(dir_ / name);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  // A small but complete experiment: nside 8 maps, 12 patches each, 2 epochs, constant learning rate.
  std::string tiny_config(const std::string& data_section = "") {
    const std::string data = data_section.empty() ? R"(data:
  source: synth-cosmo
  dir: synth
  nside: 8
  order: 1
  synth: {train: 4, val: 2, test: 2, seed: 5}
  batch_size: 8
)"
                                                  : data_section;
    return "seed: 1\nthreads: 1\n" + data + R"(model:
  graph: {construction: v2, k: 8}
  layers:
    - {type: deepsphere_classifier, variant: fcn, channels: [4, 4], K: 3}
solver:
  optimizer: {type: adam, lr: 0.01}
  epochs: 2
  checkpoint_every: 1
output:
  dir: run
)";
  }

  fs::path old_cwd_;
  fs::path dir_;
};

std::vector<json> jsonl(const fs::path& path) {
  std::vector<json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) out.push_back(json::parse(line));
  return out;
}

// The model weights and buffers of a checkpoint as one flat float64 tensor (for exact comparisons),
// loaded the way eval loads them: into the network its stored config describes.
at::Tensor weights_of(const std::string& checkpoint) {
  const auto meta = sphaera::train::read_checkpoint_meta(checkpoint);
  const auto exp = sphaera::train::parse_experiment(sphaera::train::Config::from_json(meta["config"], checkpoint));
  sphaera::models::ModelInputs inputs;
  inputs.grid = sphaera::transforms::HealpixGrid::patch(exp.data.nside, exp.data.order, 0);
  inputs.in_channels = exp.data.channels;
  inputs.num_classes = static_cast<int64_t>(exp.data.classes.size());
  auto net = sphaera::models::build_network(exp.model, inputs);
  sphaera::train::load_checkpoint_state(checkpoint, *net, nullptr);
  std::vector<at::Tensor> parts;
  for (const auto& p : net->parameters()) parts.push_back(p.detach().flatten().to(torch::kDouble));
  for (const auto& b : net->buffers()) parts.push_back(b.detach().flatten().to(torch::kDouble));
  return torch::cat(parts);
}

TEST_F(TrainerTest, WritesACompleteRunDirectory) {
  write("exp.yaml", tiny_config());
  sphaera::train::TrainRequest request;
  request.config_path = "exp.yaml";
  const auto result = sphaera::train::run_training(request);
  EXPECT_EQ(result.run_dir, "run");
  for (const char* f : {"run/config.yaml", "run/metrics.jsonl", "run/summary.json", "run/checkpoints/last.pt",
                        "run/checkpoints/best.pt", "run/checkpoints/epoch_1.pt", "run/training_curves.png", "run/checkpoints/epoch_2.pt",
                        "synth/train.csv"}) {
    EXPECT_TRUE(fs::exists(f)) << f;
  }
  const auto lines = jsonl("run/metrics.jsonl");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["epoch"], 1);  // epochs count from 1
  EXPECT_EQ(lines[1]["epoch"], 2);
  EXPECT_TRUE(lines[1]["val"].contains("confusion"));
  json summary;
  std::ifstream("run/summary.json") >> summary;
  EXPECT_EQ(summary["epochs_run"], 2);
  const double accuracy = summary["test"]["accuracy"].get<double>();
  EXPECT_GE(accuracy, 0.0);
  EXPECT_LE(accuracy, 1.0);
  EXPECT_EQ(summary["test"]["samples"], 2 * 2 * 12);  // 2 maps per class, 12 patches each
  // The checkpoint carries everything eval needs, and eval reproduces the summary's test metrics.
  const auto meta = sphaera::train::read_checkpoint_meta("run/checkpoints/best.pt");
  EXPECT_EQ(meta["classes"], json::array({"gaussian", "lognormal"}));
  EXPECT_EQ(meta["config"]["solver"]["epochs"], 2);
  sphaera::train::EvalRequest eval;
  eval.checkpoint = "run/checkpoints/best.pt";
  const auto metrics = sphaera::train::run_evaluation(eval);
  EXPECT_DOUBLE_EQ(metrics["accuracy"].get<double>(), accuracy);
  EXPECT_NEAR(metrics["loss"].get<double>(), summary["test"]["loss"].get<double>(), 1e-6);
}

TEST_F(TrainerTest, ResumingContinuesExactlyWhereTheRunStopped) {
  write("exp.yaml", tiny_config());
  sphaera::train::TrainRequest full;
  full.config_path = "exp.yaml";
  full.out = "full";
  sphaera::train::run_training(full);

  sphaera::train::TrainRequest first = full;
  first.out = "split";
  first.overrides = {"solver.epochs=1"};
  sphaera::train::run_training(first);
  sphaera::train::TrainRequest rest = full;
  rest.out = "split";
  rest.resume = true;
  sphaera::train::run_training(rest);

  const auto a = weights_of("full/checkpoints/last.pt");
  const auto b = weights_of("split/checkpoints/last.pt");
  ASSERT_EQ(a.numel(), b.numel());
  EXPECT_TRUE(torch::equal(a, b)) << "max difference " << (a - b).abs().max().item<double>();
  const auto la = jsonl("full/metrics.jsonl");
  const auto lb = jsonl("split/metrics.jsonl");
  ASSERT_EQ(lb.size(), 2u);
  EXPECT_EQ(la[1]["val"], lb[1]["val"]);
}

TEST_F(TrainerTest, AnExistingRunIsNeverOverwrittenSilently) {
  write("exp.yaml", tiny_config());
  sphaera::train::TrainRequest request;
  request.config_path = "exp.yaml";
  request.overrides = {"solver.epochs=1"};
  EXPECT_EQ(sphaera::train::run_training(request).run_dir, "run");
  EXPECT_EQ(sphaera::train::run_training(request).run_dir, "run-2");
  request.overwrite = true;
  EXPECT_EQ(sphaera::train::run_training(request).run_dir, "run");
  EXPECT_FALSE(fs::exists("run-3"));
}

// --overwrite clears the old run only once config, model and data are valid: a typo destroys nothing.
TEST_F(TrainerTest, OverwriteWithABadConfigLeavesTheOldRunIntact) {
  write("exp.yaml", tiny_config());
  sphaera::train::TrainRequest request;
  request.config_path = "exp.yaml";
  request.overrides = {"solver.epochs=1"};
  ASSERT_EQ(sphaera::train::run_training(request).run_dir, "run");
  const auto before = weights_of("run/checkpoints/last.pt");
  const std::string summary = read("run/summary.json");
  request.overwrite = true;
  write("missing.csv", "input,label\nnowhere.fits,0\n");
  // A bad value found by the config schema, a bad model found when it is built, a missing map found when
  // the data are read.
  const std::vector<std::vector<std::string>> bad_runs = {
      {"solver.epochs=0"},
      {"model.layers[0].K=0"},
      {"data={source: manifest, train: missing.csv, val: missing.csv, test: missing.csv, nside: 8, order: 1, "
       "classes: [gaussian, lognormal]}"}};
  for (const auto& bad : bad_runs) {
    request.overrides = {"solver.epochs=1"};
    request.overrides.insert(request.overrides.end(), bad.begin(), bad.end());
    EXPECT_THROW(sphaera::train::run_training(request), std::exception) << bad[0];
    ASSERT_TRUE(fs::exists("run/checkpoints/last.pt")) << bad[0];
    EXPECT_TRUE(torch::equal(weights_of("run/checkpoints/last.pt"), before)) << bad[0];
    EXPECT_EQ(read("run/summary.json"), summary) << bad[0];
  }
}

TEST_F(TrainerTest, SameSeedGivesTheSameRun) {
  write("exp.yaml", tiny_config());
  sphaera::train::TrainRequest request;
  request.config_path = "exp.yaml";
  request.overrides = {"solver.epochs=1"};
  request.out = "a";
  sphaera::train::run_training(request);
  request.out = "b";
  sphaera::train::run_training(request);
  EXPECT_TRUE(torch::equal(weights_of("a/checkpoints/last.pt"), weights_of("b/checkpoints/last.pt")));
}

// The schedule's rate is what each epoch ran at (metrics.jsonl), and the monitor's best epoch is the one with
// the lowest validation loss when it monitors val.loss.
TEST_F(TrainerTest, EpochsRunAtTheScheduledRateAndTheBestEpochIsTheMonitoredOne) {
  write("exp.yaml", tiny_config());
  sphaera::train::TrainRequest request;
  request.config_path = "exp.yaml";
  request.overrides = {"solver.epochs=5", "solver.schedule={type: cosine, warmup_epochs: 2, min_lr: 0.001}",
                       "solver.monitor=val.loss"};
  sphaera::train::run_training(request);
  const auto lines = jsonl("run/metrics.jsonl");
  ASSERT_EQ(lines.size(), 5u);
  sphaera::train::SolverConfig s;
  s.lr = 0.01;
  s.schedule = "cosine";
  s.warmup_epochs = 2;
  s.min_lr = 0.001;
  s.epochs = 5;
  int64_t argmin = 0;
  for (int64_t e = 0; e < 5; ++e) {
    EXPECT_DOUBLE_EQ(lines[e]["lr"].get<double>(), sphaera::train::scheduled_lr(s, e, s.lr)) << e;
    if (lines[e]["val"]["loss"].get<double>() < lines[argmin]["val"]["loss"].get<double>()) argmin = e;
  }
  EXPECT_DOUBLE_EQ(lines[0]["lr"].get<double>(), 0.01 / 3);  // warm-up: lr·1/3, lr·2/3, then lr
  EXPECT_DOUBLE_EQ(lines[2]["lr"].get<double>(), 0.01);
  json summary;
  std::ifstream("run/summary.json") >> summary;
  EXPECT_EQ(summary["best_epoch"], argmin + 1);
  EXPECT_EQ(summary["best_val_loss"].get<double>(), lines[argmin]["val"]["loss"].get<double>());
  EXPECT_FALSE(summary.contains("best_val_accuracy"));
  // best.pt holds the weights of that epoch: its meta says so.
  EXPECT_EQ(sphaera::train::read_checkpoint_meta("run/checkpoints/best.pt")["epochs_done"], argmin + 1);
}

// A model without batch statistics, at a learning rate too small to change a prediction: the validation
// accuracy never improves after the first epoch, so training stops `patience` epochs later.
TEST_F(TrainerTest, EarlyStoppingStopsAfterPatienceEpochsWithoutImprovement) {
  write("exp.yaml", tiny_config());
  sphaera::train::TrainRequest request;
  request.config_path = "exp.yaml";
  request.overrides = {"solver.epochs=10", "solver.optimizer.lr=1e-12", "solver.early_stopping.patience=2",
                       "model.layers=[{type: cheb_conv, out: 2, K: 3}, {type: global_avg_pool}]"};
  const auto result = sphaera::train::run_training(request);
  EXPECT_EQ(jsonl("run/metrics.jsonl").size(), 3u);
  EXPECT_EQ(result.summary["epochs_run"], 3);
  EXPECT_EQ(result.summary["best_epoch"], 1);
}

// SGD with momentum trains (the optimizer section reaches the run) and its state resumes exactly.
TEST_F(TrainerTest, SgdWithMomentumResumesBitForBit) {
  write("exp.yaml", tiny_config());
  sphaera::train::TrainRequest full;
  full.config_path = "exp.yaml";
  full.out = "full";
  full.overrides = {"solver.optimizer={type: sgd, lr: 0.05, momentum: 0.9}",
                    "solver.schedule={type: step, step_size: 1, gamma: 0.5}"};
  sphaera::train::run_training(full);
  auto first = full;
  first.out = "split";
  first.overrides.push_back("solver.epochs=1");
  sphaera::train::run_training(first);
  auto rest = full;
  rest.out = "split";
  rest.resume = true;
  sphaera::train::run_training(rest);
  const auto lines = jsonl("full/metrics.jsonl");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_DOUBLE_EQ(lines[1]["lr"].get<double>(), 0.025);
  EXPECT_EQ(sphaera::train::read_checkpoint_meta("full/checkpoints/last.pt")["config"]["solver"]["optimizer"]["type"],
            "sgd");
  EXPECT_TRUE(torch::equal(weights_of("full/checkpoints/last.pt"), weights_of("split/checkpoints/last.pt")));
  EXPECT_FALSE(torch::equal(weights_of("full/checkpoints/epoch_1.pt"), weights_of("full/checkpoints/last.pt")));
}

// eval rebuilds the network from the checkpoint's stored config; a checkpoint whose recorded inputs disagree
// with that config is refused, naming the file and what differs.
TEST_F(TrainerTest, EvalRefusesACheckpointWhoseRecordedInputsDisagreeWithItsConfig) {
  write("exp.yaml", tiny_config());
  sphaera::train::TrainRequest request;
  request.config_path = "exp.yaml";
  request.overrides = {"solver.epochs=1"};
  sphaera::train::run_training(request);
  const json meta = sphaera::train::read_checkpoint_meta("run/checkpoints/best.pt");
  auto model = sphaera::train::build_experiment_model(
      sphaera::train::parse_experiment(sphaera::train::Config::from_json(meta["config"], "best.pt")));
  sphaera::train::load_checkpoint_state("run/checkpoints/best.pt", *model.net, nullptr);
  const std::vector<std::pair<std::string, json>> edits = {
      {"channels", 3}, {"classes", json::array({"a", "b", "c"})}, {"grid", "healpix(nside=16,nest)"}};
  for (const auto& [key, value] : edits) {
    json edited = meta;
    edited[key] = value;
    sphaera::train::save_checkpoint("edited.pt", *model.net, nullptr, edited);
    sphaera::train::EvalRequest eval;
    eval.checkpoint = "edited.pt";
    try {
      sphaera::train::run_evaluation(eval);
      ADD_FAILURE() << key << ": accepted";
    } catch (const sphaera::core::InvalidArgument& e) {
      const std::string message = e.what();
      EXPECT_EQ(message.rfind("edited.pt: the checkpoint was trained with " + key + " " + value.dump(), 0), 0u)
          << message;
    }
  }
}

// Maps written by the test itself: a manifest data set with controllable defects.
class ManifestDataTest : public TrainerTest {
 protected:
  void make_maps(int64_t nside, bool with_nan) {
    std::ostringstream csv;
    csv << "input,label\n";
    for (int i = 0; i < 4; ++i) {
      auto map = torch::randn({12 * nside * nside}, torch::kDouble) + (i % 2);
      if (with_nan && i == 1) map[3] = std::nan("");
      const std::string name = "map" + std::to_string(i) + ".fits";
      sphaera::data_tools::write_healpix_map((dir_ / name).string(), map);
      csv << name << "," << (i % 2) << "\n";
    }
    write("maps.csv", csv.str());
  }
  std::string manifest_data(const std::string& extra = "") {
    return "data:\n  source: manifest\n  train: maps.csv\n  val: maps.csv\n  test: maps.csv\n  nside: 8\n"
           "  order: 1\n  classes: [low, high]\n" + extra;
  }
  std::string error_of_training() {
    sphaera::train::TrainRequest request;
    request.config_path = "exp.yaml";
    request.overrides = {"solver.epochs=1"};
    try {
      sphaera::train::run_training(request);
    } catch (const sphaera::core::InvalidArgument& e) {
      return e.what();
    }
    return "";
  }
};

TEST_F(ManifestDataTest, TrainsFromFitsMapsListedInAManifest) {
  make_maps(8, false);
  write("exp.yaml", tiny_config(manifest_data()));
  EXPECT_EQ(error_of_training(), "");
  EXPECT_TRUE(fs::exists("run/summary.json"));
}

TEST_F(ManifestDataTest, NanPixelsAreAnErrorUnlessMasked) {
  make_maps(8, true);
  write("exp.yaml", tiny_config(manifest_data()));
  const auto message = error_of_training();
  EXPECT_NE(message.find("map1.fits"), std::string::npos) << message;
  EXPECT_NE(message.find("NaN or UNSEEN"), std::string::npos) << message;
  write("exp.yaml", tiny_config(manifest_data("  mask_invalid: true\n")));
  EXPECT_EQ(error_of_training(), "");
}

TEST_F(ManifestDataTest, MapsOfAnotherNsideAreRejected) {
  make_maps(16, false);
  write("exp.yaml", tiny_config(manifest_data()));
  const auto message = error_of_training();
  EXPECT_NE(message.find("map0.fits"), std::string::npos) << message;
  EXPECT_NE(message.find("16"), std::string::npos) << message;
}

TEST_F(ManifestDataTest, LabelsOutsideTheClassListAreRejected) {
  make_maps(8, false);
  write("maps.csv", "input,label\nmap0.fits,0\nmap1.fits,2\n");
  write("exp.yaml", tiny_config(manifest_data()));
  EXPECT_NE(error_of_training().find("label 2 is outside [0, 2)"), std::string::npos);
}

TEST_F(ManifestDataTest, ModelErrorsPointAtTheConfigLine) {
  make_maps(8, false);
  auto config = tiny_config(manifest_data());
  config.replace(config.find("K: 3"), 4, "K: 0");
  write("exp.yaml", config);
  const auto message = error_of_training();
  EXPECT_EQ(message.rfind("exp.yaml:", 0), 0u) << message;
  EXPECT_NE(message.find("model.layers[0]"), std::string::npos) << message;
}

// A learnable task: class 1 maps are shifted by one standard deviation. Trained on 8 maps (96 patches) it
// must classify 4 unseen maps almost perfectly; a model that does not learn scores 0.5.
TEST_F(ManifestDataTest, AModelLearnsASeparableTask) {
  torch::manual_seed(11);
  auto write_split = [&](const std::string& name, int maps) {
    std::ostringstream csv;
    csv << "input,label\n";
    for (int i = 0; i < maps; ++i) {
      const std::string file = name + std::to_string(i) + ".fits";
      sphaera::data_tools::write_healpix_map((dir_ / file).string(), torch::randn({12 * 8 * 8}, torch::kDouble) + (i % 2));
      csv << file << "," << (i % 2) << "\n";
    }
    write(name + ".csv", csv.str());
  };
  write_split("train", 8);
  write_split("val", 4);
  write_split("test", 4);
  write("exp.yaml", tiny_config("data:\n  source: manifest\n  train: train.csv\n  val: val.csv\n  test: test.csv\n"
                                "  nside: 8\n  order: 1\n  classes: [low, high]\n  batch_size: 8\n"));
  sphaera::train::TrainRequest request;
  request.config_path = "exp.yaml";
  request.overrides = {"solver.epochs=8", "solver.optimizer.lr=0.02"};
  const auto result = sphaera::train::run_training(request);
  const auto lines = jsonl("run/metrics.jsonl");
  ASSERT_EQ(lines.size(), 8u);
  EXPECT_LT(lines.back()["train"]["loss"].get<double>(), 0.5 * lines.front()["train"]["loss"].get<double>());
  EXPECT_GE(result.summary["test"]["accuracy"].get<double>(), 0.95) << result.summary.dump();
}

TEST_F(ManifestDataTest, LabelMapsAreRefusedByTheClassificationTrainerAtTheirRow) {
  make_maps(8, false);
  write("maps.csv", "input,label\nmap0.fits,0\nmap1.fits,labels1.fits\n");
  write("exp.yaml", tiny_config(manifest_data()));
  const auto message = error_of_training();
  EXPECT_NE(message.find("maps.csv:3: the label is a map ("), std::string::npos) << message;
  EXPECT_NE(message.find("one integer class per map"), std::string::npos) << message;
}

TEST_F(ManifestDataTest, AMissingMapIsReportedAtItsManifestRow) {
  make_maps(8, false);
  write("maps.csv", "input,label\nmap0.fits,0\n\nnowhere.fits,1\n");
  write("exp.yaml", tiny_config(manifest_data()));
  const auto message = error_of_training();
  EXPECT_EQ(message.rfind("maps.csv:4: ", 0), 0u) << message;
  EXPECT_NE(message.find("nowhere.fits"), std::string::npos) << message;
}

// A map whose pixels are ±3e38 (finite in float32) makes the graph filter overflow: the loss is NaN.
class NonFiniteTest : public ManifestDataTest {
 protected:
  void SetUp() override {
    ManifestDataTest::SetUp();
    torch::manual_seed(3);
    make_maps(8, false);
    write("good.csv", "input,label\nmap0.fits,0\nmap1.fits,1\n");
    write("train.csv", "input,label\nmap0.fits,0\nmap1.fits,1\nmap2.fits,0\nmap3.fits,1\n");
    write("exp.yaml", tiny_config(
        "data:\n  source: manifest\n  train: train.csv\n  val: good.csv\n  test: good.csv\n  nside: 8\n"
        "  order: 1\n  classes: [low, high]\n  normalize: false\n  batch_size: 2\n"));
  }
  void poison(const std::string& map) {
    sphaera::data_tools::write_healpix_map((dir_ / map).string(),
                                           3e38 * torch::randn({12 * 8 * 8}, torch::kDouble).sign());
  }
  sphaera::train::TrainRequest request(std::vector<std::string> overrides) {
    sphaera::train::TrainRequest r;
    r.config_path = "exp.yaml";
    r.overrides = {"model.layers=[{type: cheb_conv, out: 2, K: 3}, {type: global_avg_pool}]"};
    r.overrides.insert(r.overrides.end(), overrides.begin(), overrides.end());
    return r;
  }
};

TEST_F(NonFiniteTest, StopsNamingEpochStepAndLayerAndKeepsTheLastGoodCheckpoint) {
  sphaera::train::run_training(request({"solver.epochs=1"}));
  const auto good = weights_of("run/checkpoints/last.pt");
  poison("map2.fits");
  auto resume = request({"solver.epochs=3"});
  resume.resume = true;
  std::string message;
  try {
    sphaera::train::run_training(resume);
  } catch (const sphaera::core::InvalidArgument& e) {
    message = e.what();
  }
  EXPECT_EQ(message.rfind("epoch 2, step ", 0), 0u) << message;
  EXPECT_NE(message.find(" of 24): the loss is "), std::string::npos) << message;
  EXPECT_NE(message.find("first non-finite output: model.layers[0] (cheb_conv)"), std::string::npos) << message;
  EXPECT_NE(message.find("run/checkpoints/last.pt holds the last good epoch, 1)"), std::string::npos) << message;
  EXPECT_EQ(sphaera::train::read_checkpoint_meta("run/checkpoints/last.pt")["epochs_done"], 1);
  EXPECT_TRUE(torch::equal(weights_of("run/checkpoints/last.pt"), good));
  EXPECT_EQ(jsonl("run/metrics.jsonl").size(), 1u);
}

TEST_F(NonFiniteTest, SkipPolicySkipsTheBadStepsAndTrainsOnTheRest) {
  poison("map2.fits");
  const auto result = sphaera::train::run_training(request({"solver.epochs=2", "solver.on_non_finite=skip"}));
  // Map 2's 12 patches spoil at least 6 and at most 12 of each epoch's 24 steps of 2 samples.
  const int64_t skipped = result.summary["skipped_steps"].get<int64_t>();
  EXPECT_GE(skipped, 2 * 6);
  EXPECT_LE(skipped, 2 * 12);
  EXPECT_TRUE(weights_of("run/checkpoints/last.pt").isfinite().all().item<bool>());
  const auto lines = jsonl("run/metrics.jsonl");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_TRUE(std::isfinite(lines[1]["train"]["loss"].get<double>()));
}

}  // namespace
