// Faults survived (issue "trust"): training killed with SIGKILL at random moments and resumed ends with the
// weights of an uninterrupted run, bit for bit; a write that fails (file size limit, as a full disk) stops with
// one error and leaves the previous checkpoint intact; an unwritable run directory fails before training;
// corrupt or truncated checkpoints and maps give one error naming the file.
//
// SPHAERA_CRASH_KILLS sets the number of kills (default 3; scripts/crash_test.sh runs 20).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>

#include "sphaera/models/registry.h"
#include "sphaera/train/checkpoint.h"
#include "sphaera/train/config.h"
#include "sphaera/train/experiment.h"
#include "sphaera/train/experiment_model.h"
#include "tests/support/process.h"

namespace fs = std::filesystem;
using sphaera::testing::cli_path;
using sphaera::testing::lines_in;
using sphaera::testing::run_command;

namespace {

class FaultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sphaera_faults_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    // Every stateful part of a run: cosine schedule with warm-up, dropout, batch norm, noise augmentation.
    std::ofstream(dir_ / "exp.yaml") << "seed: 7\nthreads: 2\n"
        "data:\n  source: synth-cosmo\n  dir: " << (dir_ / "synth").string() << "\n  nside: 8\n  order: 1\n"
        "  synth: {train: 4, val: 2, test: 2, seed: 5}\n  batch_size: 4\n  augment_noise: 0.1\n"
        "model:\n  graph: {construction: v2, k: 8}\n  layers:\n"
        "    - {type: cheb_conv, out: 8, K: 3}\n    - {type: batch_norm}\n    - {type: relu}\n"
        "    - {type: dropout, p: 0.2}\n    - {type: cheb_conv, out: 2, K: 3}\n    - {type: global_avg_pool}\n"
        "solver:\n  optimizer: {type: adam, lr: 0.01}\n  schedule: {type: cosine, warmup_epochs: 2}\n"
        "  epochs: 8\n  checkpoint_every: 3\n";
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string train(const std::string& out, const std::string& extra = "") const {
    return cli_path() + " train " + (dir_ / "exp.yaml").string() + " --out " + (dir_ / out).string() + " " + extra;
  }
  fs::path dir_;
};

// Parameters and buffers of a checkpoint as one float64 tensor.
at::Tensor weights_of(const fs::path& checkpoint) {
  const auto meta = sphaera::train::read_checkpoint_meta(checkpoint.string());
  auto model = sphaera::train::build_experiment_model(
      sphaera::train::parse_experiment(sphaera::train::Config::from_json(meta["config"], checkpoint.string())));
  sphaera::train::load_checkpoint_state(checkpoint.string(), *model.net, nullptr);
  std::vector<at::Tensor> parts;
  for (const auto& p : model.net->parameters()) parts.push_back(p.detach().flatten().to(torch::kDouble));
  for (const auto& b : model.net->buffers()) parts.push_back(b.detach().flatten().to(torch::kDouble));
  return torch::cat(parts);
}

// Files of a run directory that a reader could mistake for results: none may be partial.
void expect_every_checkpoint_complete(const fs::path& run) {
  if (!fs::exists(run / "checkpoints")) return;
  for (const auto& entry : fs::directory_iterator(run / "checkpoints")) {
    const std::string name = entry.path().filename().string();
    if (name[0] == '.') continue;  // a temporary of the killed run (removed by the next run)
    EXPECT_NO_THROW(sphaera::train::read_checkpoint_meta(entry.path().string())) << entry.path();
  }
}

int temporaries_in(const fs::path& run) {
  int n = 0;
  for (const fs::path& dir : {run, run / "checkpoints"}) {
    if (!fs::exists(dir)) continue;
    for (const auto& entry : fs::directory_iterator(dir)) n += entry.path().filename().string().find(".tmp-") != std::string::npos;
  }
  return n;
}

TEST_F(FaultsTest, KilledAtRandomMomentsAndResumedEndsBitIdentical) {
  const auto full = run_command(train("full"));
  ASSERT_EQ(full.exit_code, 0) << full.err;
  const char* env = std::getenv("SPHAERA_CRASH_KILLS");
  const int kills = env != nullptr ? std::atoi(env) : 3;
  // The uninterrupted run's wall time (LibTorch's start-up included) spans the kill times.
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(run_command(train("timing")).exit_code, 0);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::mt19937 rng(20261203);
  // Kill moments drawn over most of a run (LibTorch's start-up, data loading, epochs, checkpoint writes).
  std::uniform_real_distribution<double> when(0.2 * seconds, 0.9 * seconds);
  int killed = 0;
  for (int k = 0; k < kills; ++k) {
    const fs::path run = dir_ / ("killed" + std::to_string(k));
    // Kill at a random moment, then resume (or start over when no epoch was saved) until the run is done;
    // later attempts are killed too, at random moments, while it is not. A run that finished before its
    // first kill (the machine got faster than during the timing run) is done again from scratch with the
    // kill moments scaled down, so that every run is killed at least once.
    double scale = 1;
    int kills_of_run = 0;
    for (int redo = 0; kills_of_run == 0; ++redo, scale *= 0.5) {
      ASSERT_LT(redo, 8) << "the run always finished before its kill";
      fs::remove_all(run);
      for (int attempt = 0; !fs::exists(run / "summary.json"); ++attempt) {
        ASSERT_LT(attempt, 50) << "the run never finished";
        const bool resume = fs::exists(run / "checkpoints" / "last.pt");
        const std::string flags = resume ? "--resume" : "--overwrite";
        char limit[32];
        std::snprintf(limit, sizeof limit, "%.3f", scale * (attempt == 0 ? when(rng) : 2 * when(rng)));
        const auto r = run_command("timeout -s KILL " + std::string(limit) + " " + train(run.filename().string(), flags));
        if (r.exit_code == 137) ++kills_of_run;
        else ASSERT_EQ(r.exit_code, 0) << r.err;
        expect_every_checkpoint_complete(run);
      }
    }
    killed += kills_of_run;
    EXPECT_EQ(temporaries_in(run), 0) << run;
    EXPECT_TRUE(torch::equal(weights_of(run / "checkpoints" / "last.pt"), weights_of(dir_ / "full" / "checkpoints" / "last.pt")))
        << run;
    EXPECT_TRUE(torch::equal(weights_of(run / "checkpoints" / "epoch_6.pt"), weights_of(dir_ / "full" / "checkpoints" / "epoch_6.pt")))
        << run;
  }
  std::cout << "[          ] " << killed << " kills over " << kills << " runs, each run killed at least once\n";
  EXPECT_GE(killed, kills);
}

// A file size limit (ulimit -f; SIGXFSZ ignored, so writes fail with EFBIG as on a full disk) smaller than a
// checkpoint: the resumed run stops at its first write with one error; the previous checkpoint is intact.
TEST_F(FaultsTest, AFailedWriteStopsWithOneErrorAndKeepsThePreviousCheckpoint) {
  ASSERT_EQ(run_command(train("run", "--set solver.epochs=1")).exit_code, 0);
  const fs::path last = dir_ / "run" / "checkpoints" / "last.pt";
  const auto before = weights_of(last);
  const auto blocks = fs::file_size(last) / 1024 / 2;  // half a checkpoint, in ulimit's 1 KiB blocks
  const auto r = run_command("bash -c \"trap '' XFSZ; ulimit -f " + std::to_string(blocks) + "; " +
                             train("run", "--resume --set solver.epochs=2") + "\"");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  const std::string last_line = r.err.substr(r.err.rfind('\n', r.err.size() - 2) + 1);
  EXPECT_EQ(last_line.rfind("sphaera train: error: " + (dir_ / "run").string() + "/", 0), 0u) << r.err;
  EXPECT_NE(last_line.find("File too large"), std::string::npos) << r.err;
  EXPECT_EQ(sphaera::train::read_checkpoint_meta(last.string())["epochs_done"], 1);
  EXPECT_TRUE(torch::equal(weights_of(last), before));
  EXPECT_EQ(temporaries_in(dir_ / "run"), 0);
}

TEST_F(FaultsTest, AnUnwritableRunDirectoryFailsBeforeTraining) {
  const auto r = run_command(cli_path() + " train " + (dir_ / "exp.yaml").string() + " --out /proc/sphaera_run");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("sphaera train: error: /proc/sphaera_run: cannot create the run directory ("), std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("epoch 1/"), std::string::npos) << r.err;
}

TEST_F(FaultsTest, TruncatedOrCorruptCheckpointsAndMapsAreOneErrorNamingTheFile) {
  ASSERT_EQ(run_command(train("run", "--set solver.epochs=1")).exit_code, 0);
  const fs::path last = dir_ / "run" / "checkpoints" / "last.pt";
  std::string bytes;
  {
    std::ifstream in(last, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const fs::path map = dir_ / "synth" / "train" / "gaussian_0000.fits";
  std::string map_bytes;
  {
    std::ifstream in(map, std::ios::binary);
    map_bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const std::vector<std::pair<std::string, std::string>> broken = {
      {"truncated.pt", bytes.substr(0, bytes.size() / 2)},
      {"zeroed.pt", std::string(bytes.size(), '\0')},
      {"empty.pt", ""},
      {"truncated.fits", map_bytes.substr(0, map_bytes.size() / 2)},
      {"header_only.fits", map_bytes.substr(0, 2880)},
  };
  for (const auto& [name, content] : broken) {
    const fs::path path = dir_ / name;
    std::ofstream(path, std::ios::binary) << content;
    const std::string command = name.size() > 3 && name.substr(name.size() - 3) == ".pt"
                                    ? cli_path() + " eval " + path.string()
                                    : cli_path() + " plot " + path.string() + " --out " + (dir_ / "x.png").string();
    const auto r = run_command(command);
    EXPECT_EQ(r.exit_code, 1) << name << ": " << r.err;
    EXPECT_EQ(lines_in(r.err), 1) << name << ":\n" << r.err;
    EXPECT_NE(r.err.find(path.string()), std::string::npos) << name << ": " << r.err;
  }
  // Resuming from a corrupt last.pt says so too, and changes nothing.
  std::ofstream(last, std::ios::binary) << bytes.substr(0, bytes.size() / 3);
  const auto r = run_command(train("run", "--resume"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(last.string()), std::string::npos) << r.err;
  EXPECT_EQ(lines_in(r.err), 1) << r.err;
}

}  // namespace
