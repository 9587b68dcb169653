#include "sphaera/train/bench.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <sstream>

#include <unistd.h>

#include <torch/torch.h>

#include "sphaera/core/check.h"
#include "sphaera/core/process_memory.h"
#include "sphaera/core/runtime.h"
#include "sphaera/data_tools/atomic_file.h"
#include "sphaera/data_tools/matrix_market.h"
#include "sphaera/data_tools/plot.h"
#include "sphaera/models/cheb_conv.h"
#include "sphaera/models/spectral_conv.h"
#include "sphaera/train/progress.h"
#include "sphaera/transforms/graph.h"
#include "sphaera/transforms/healpix_grid.h"
#include "sphaera/transforms/ring_grids.h"
#include "sphaera/transforms/sht.h"
#include "sphaera/transforms/wigner.h"

namespace sphaera::train {

using json = nlohmann::json;

std::string BenchLayer::label() const {
  std::string s;
  if (type == "chebconv") {
    s = "ChebConv k=" + std::to_string(k) + " K=" + std::to_string(kernel_size);
  } else if (lmax_fixed >= 0) {
    s = "SpectralConv lmax=" + std::to_string(lmax_fixed);
  } else {
    s = "SpectralConv lmax=" + std::to_string(lmax_per_nside) + "nside";
    if (lmax_offset != 0) s += (lmax_offset > 0 ? "+" : "") + std::to_string(lmax_offset);
  }
  if (type == "spectral" && iterations > 0) s += " iter=" + std::to_string(iterations);
  return grid == "healpix" ? s : s + " (GL)";
}

int64_t BenchLayer::lmax(int64_t nside) const {
  return lmax_fixed >= 0 ? lmax_fixed : lmax_per_nside * nside + lmax_offset;
}

namespace {

// "2nside", "3nside-1", "3 nside - 1" or an integer.
void parse_lmax(Section& s, BenchLayer& layer) {
  const json& v = s.raw("lmax");
  if (v.is_null()) return;
  if (v.is_number_integer()) {
    layer.lmax_fixed = v.get<int64_t>();
    if (layer.lmax_fixed < 0) s.fail("lmax", "expected ≥ 0, got " + std::to_string(layer.lmax_fixed));
    return;
  }
  std::string text = v.is_string() ? v.get<std::string>() : "";
  text.erase(std::remove(text.begin(), text.end(), ' '), text.end());
  const size_t at = text.find("nside");
  bool ok = at != std::string::npos;
  try {
    if (ok) {
      layer.lmax_per_nside = at == 0 ? 1 : std::stoll(text.substr(0, at));
      const std::string rest = text.substr(at + 5);
      layer.lmax_offset = rest.empty() ? 0 : std::stoll(rest);
      ok = layer.lmax_per_nside >= 1 && (rest.empty() || rest[0] == '+' || rest[0] == '-');
    }
  } catch (const std::exception&) {
    ok = false;
  }
  if (!ok) s.fail("lmax", "expected an integer or a multiple of nside such as 2nside or 3nside-1, got " + v.dump());
}

// Gauss–Legendre rings with about as many pixels as HEALPix at nside: 2 R² ≈ 12 nside².
int64_t gauss_legendre_rings(int64_t nside) { return std::llround(std::sqrt(6.0) * static_cast<double>(nside)); }

transforms::GridPtr make_grid(const std::string& kind, int64_t nside) {
  if (kind == "healpix") return std::make_shared<transforms::HealpixGrid>(nside);
  const int64_t rings = gauss_legendre_rings(nside);
  return std::make_shared<transforms::GaussLegendreGrid>(rings, 2 * rings - 1);
}

// The band limit a rotation of maps through the transform uses on this grid: HEALPix's 3 nside − 1 (healpy's
// default), a Gauss–Legendre grid's exact one.
int64_t rotation_lmax(const std::string& kind, int64_t nside) {
  return kind == "healpix" ? 3 * nside - 1 : gauss_legendre_rings(nside) - 1;
}

// The largest lmax a spectral layer may have on this grid: 4 nside on HEALPix (beyond, its maps no longer resolve
// the degrees), the sampling theorem on Gauss–Legendre.
int64_t lmax_limit(const std::string& kind, int64_t nside) {
  return kind == "healpix" ? 4 * nside : gauss_legendre_rings(nside) - 1;
}

double seconds_of(const std::function<void()>& work) {
  const auto start = std::chrono::steady_clock::now();
  work();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Warm-up runs, then timed runs: median, fastest, slowest and every run.
json timing(int warmup, int repeats, const std::function<void()>& work) {
  for (int w = 0; w < warmup; ++w) work();
  std::vector<double> runs;
  for (int r = 0; r < repeats; ++r) runs.push_back(seconds_of(work));
  std::vector<double> sorted = runs;
  std::sort(sorted.begin(), sorted.end());
  const size_t n = sorted.size();
  const double median = n % 2 == 1 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
  return {{"median_s", median}, {"min_s", sorted.front()}, {"max_s", sorted.back()}, {"runs_s", runs}};
}

double available_memory_bytes() {
  std::ifstream meminfo("/proc/meminfo");
  for (std::string line; std::getline(meminfo, line);) {
    if (line.rfind("MemAvailable:", 0) == 0) return std::stod(line.substr(13)) * 1e3;
  }
  return 0.0;  // unknown: no case is skipped
}

// What a case needs at most, roughly: the maps in, out and their gradients with the layer's work buffers (about
// eight map-sized arrays), plus the geometry: a Laplacian of (k + 1) entries per row, or the harmonic coefficients
// of every map (a square [lmax + 1]² complex array per map, a few alive at once) and the Legendre tables (the
// SHT's 1 GiB budget at most).
double estimated_bytes(const BenchLayer& layer, int64_t pixels, int64_t lmax, const BenchPlan& plan) {
  const double element = plan.dtype == "float32" ? 4.0 : 8.0;
  const double maps = static_cast<double>(plan.batch * plan.channels);
  double bytes = 8.0 * maps * static_cast<double>(pixels) * element;
  if (layer.type == "chebconv") {
    bytes += static_cast<double>(pixels) * (layer.k + 2) * (4.0 + element + 8.0);  // float64 copy while building
  } else {
    const double l1 = static_cast<double>(lmax + 1);
    bytes += 4.0 * maps * l1 * l1 * 2.0 * element + static_cast<double>(int64_t{1} << 30);
  }
  return bytes;
}

struct BuiltLayer {
  std::shared_ptr<torch::nn::Module> module;
  std::function<at::Tensor(const at::Tensor&)> forward;
  double geometry_bytes = 0;
  double setup_s = 0;
};

// The graph of a chebconv variant at one nside.
transforms::GraphOptions graph_options(const BenchLayer& layer, int64_t nside) {
  transforms::GraphOptions graph;
  graph.k = layer.k;
  // Off HEALPix there is no published kernel width: the HEALPix one of as many pixels (the mean spacing).
  if (layer.grid != "healpix") graph.kernel_width = transforms::v2_kernel_width(nside, layer.k);
  return graph;
}

BuiltLayer build_layer(const BenchLayer& layer, const transforms::GridPtr& grid, int64_t nside, int64_t channels,
                       c10::ScalarType dtype) {
  BuiltLayer b;
  if (layer.type == "chebconv") {
    const transforms::GraphOptions graph = graph_options(layer, nside);
    std::shared_ptr<const core::CsrMatrix> laplacian;
    b.setup_s = seconds_of([&] { laplacian = transforms::cached_rescaled_laplacian(grid, graph, dtype, torch::kCPU); });
    b.geometry_bytes = static_cast<double>(laplacian->storage_bytes());
    models::ChebConv conv(models::ChebConvOptions(channels, channels, layer.kernel_size), laplacian);
    conv->to(dtype);
    b.module = conv.ptr();
    b.forward = [conv](const at::Tensor& x) mutable { return conv->forward(x); };
  } else {
    transforms::ShtOptions sht;
    sht.lmax = layer.lmax(nside);
    sht.iterations = layer.grid == "healpix" ? layer.iterations : 0;
    std::shared_ptr<const transforms::Sht> plan;
    b.setup_s = seconds_of([&] { plan = transforms::cached_sht(grid, sht); });
    b.geometry_bytes = static_cast<double>(plan->table_bytes());
    models::SpectralConv conv(models::SpectralConvOptions(channels, channels, sht.lmax), grid, sht);
    conv->to(dtype);
    b.module = conv.ptr();
    b.forward = [conv, plan](const at::Tensor& x) mutable { return conv->forward(x); };  // plan: keeps the cached tables
  }
  return b;
}

int64_t parameter_count(const torch::nn::Module& module) {
  int64_t n = 0;
  for (const auto& p : module.parameters()) n += p.numel();
  return n;
}

// Why a layer variant is not measured at this nside, or "".
std::string skip_reason(const BenchLayer& layer, int64_t nside, int64_t pixels, const BenchPlan& plan,
                        double available) {
  if (layer.max_nside > 0 && nside > layer.max_nside) return "above its max_nside " + std::to_string(layer.max_nside);
  if (layer.type == "spectral") {
    const int64_t lmax = layer.lmax(nside), limit = lmax_limit(layer.grid, nside);
    if (lmax > limit) {
      return "lmax " + std::to_string(lmax) + " exceeds the grid's " + std::to_string(limit) +
             (layer.grid == "healpix" ? " (4 nside)" : " (its sampling theorem)");
    }
  }
  const double need = estimated_bytes(layer, pixels, layer.type == "spectral" ? layer.lmax(nside) : 0, plan);
  if (available > 0 && need > plan.memory_fraction * available) {
    char text[160];
    std::snprintf(text, sizeof text, "needs about %.1f GB, more than %.0f%% of the %.1f GB available", need / 1e9,
                  plan.memory_fraction * 100, available / 1e9);
    return text;
  }
  return "";
}

// ---- peers (`--peers`): bench/peers/layer_peers.py in the peers' environment, one process per case ----

struct PeerTool {
  std::string python, script;
};

PeerTool peer_tool() {
  namespace fs = std::filesystem;
  const char* env = std::getenv("SPHAERA_PEERS_PYTHON");
  PeerTool t{env != nullptr && *env != '\0' ? env : std::string(SPHAERA_SOURCE_DIR) + "/.venv-peers/bin/python",
             std::string(SPHAERA_SOURCE_DIR) + "/bench/peers/layer_peers.py"};
  SPHAERA_CHECK(fs::exists(t.python), "bench --peers: no peers' environment at ", t.python,
                " (bash scripts/bench_peers.sh --install makes it; SPHAERA_PEERS_PYTHON names another interpreter)");
  SPHAERA_CHECK(fs::exists(t.script), "bench --peers: the peers' script ", t.script, " is missing (it lives in the "
                "source tree this sphaera was built from)");
  return t;
}

std::string peer_of(const BenchLayer& layer) {
  if (layer.type == "chebconv") return "torch_geometric";
  return layer.grid == "healpix" ? "healpy" : "torch_harmonics";
}

std::string shell_quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// The peer's row for a case (run after Sphaera's measurement has freed its memory): its JSON line, or {"peer",
// "failed": why} (e.g. out of memory), or {"peer", "unavailable": why} when it is not installed.
json run_peer(const PeerTool& tool, const BenchLayer& layer, int64_t nside, const BenchPlan& plan) {
  namespace fs = std::filesystem;
  const std::string peer = peer_of(layer);
  const auto grid = make_grid(layer.grid, nside);
  const fs::path dir = fs::temp_directory_path() / ("sphaera-peer-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup{dir};
  std::string cmd = shell_quoted(tool.python) + " " + shell_quoted(tool.script) + " --peer " + peer +
                    " --pixels " + std::to_string(grid->size()) + " --batch " + std::to_string(plan.batch) +
                    " --channels " + std::to_string(plan.channels) + " --dtype " + plan.dtype + " --threads " +
                    std::to_string(torch::get_num_threads()) + " --warmup " + std::to_string(plan.warmup) +
                    " --repeats " + std::to_string(plan.repeats) + " --seed " + std::to_string(plan.seed);
  if (layer.type == "chebconv") {
    const std::string path = (dir / "laplacian.mtx").string();
    data_tools::write_matrix_market(
        path, transforms::cached_rescaled_laplacian(grid, graph_options(layer, nside), torch::kDouble, torch::kCPU)->view());
    transforms::release_cached_laplacians();
    cmd += " --laplacian " + shell_quoted(path) + " --K " + std::to_string(layer.kernel_size);
  } else {
    cmd += " --lmax " + std::to_string(layer.lmax(nside)) + " --iter " + std::to_string(layer.iterations);
    if (layer.grid != "healpix") cmd += " --rings " + std::to_string(gauss_legendre_rings(nside));
  }
  const std::string err = (dir / "stderr.txt").string();
  cmd += " 2> " + shell_quoted(err);
  std::string out;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  SPHAERA_CHECK(pipe != nullptr, "bench --peers: cannot start ", tool.python);
  std::array<char, 4096> chunk{};
  for (size_t n; (n = std::fread(chunk.data(), 1, chunk.size(), pipe)) > 0;) out.append(chunk.data(), n);
  const int status = ::pclose(pipe);
  const std::string last = out.substr(out.find_last_of('\n', out.size() >= 2 ? out.size() - 2 : 0) + 1);
  json row = json::parse(last, nullptr, false);
  if (status == 0 && row.is_object() && (row.contains("unavailable") || row.contains("forward"))) return row;
  std::ifstream in(err);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.size() > 400) text = "..." + text.substr(text.size() - 400);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return {{"peer", peer},
          {"failed", "exit status " + std::to_string(code) + (code == 137 ? " (killed: out of memory?)" : "") +
                         (text.empty() ? "" : ": " + text)}};
}

// One case: a layer variant at one nside.
json measure_case(const BenchLayer& layer, int64_t nside, const BenchPlan& plan, c10::ScalarType dtype) {
  transforms::release_cached_laplacians();  // the previous case's geometry neither stays resident nor is reused
  const auto grid = make_grid(layer.grid, nside);
  json r = {{"layer", layer.label()}, {"type", layer.type}, {"grid", layer.grid}, {"nside", nside},
            {"pixels", grid->size()}};
  if (layer.type == "chebconv") {
    r["k"] = layer.k;
    r["K"] = layer.kernel_size;
  } else {
    r["lmax"] = layer.lmax(nside);
  }
  const std::string skip = skip_reason(layer, nside, grid->size(), plan, available_memory_bytes());
  if (!skip.empty()) {
    r["skipped"] = skip;
    return r;
  }
  core::seed_everything(plan.seed);
  const at::Tensor x = torch::randn({plan.batch, plan.channels, grid->size()}, torch::TensorOptions(dtype));
  BuiltLayer b = build_layer(layer, grid, nside, plan.channels, dtype);
  r["parameters"] = parameter_count(*b.module);
  r["geometry_bytes"] = b.geometry_bytes;
  r["setup_s"] = b.setup_s;
  {
    torch::NoGradGuard no_grad;
    core::reset_peak_memory();
    const double before = core::resident_memory_bytes();
    r["forward"] = timing(plan.warmup, plan.repeats, [&] { b.forward(x); });
    const double peak = core::peak_memory_bytes();
    r["forward"]["peak_bytes"] = peak;
    r["forward"]["added_bytes"] = peak - before;
  }
  const at::Tensor input = x.clone().requires_grad_(true);
  at::Tensor grad_output;
  {
    torch::NoGradGuard no_grad;
    grad_output = torch::randn_like(b.forward(x));
  }
  core::reset_peak_memory();
  const double before = core::resident_memory_bytes();
  r["forward_backward"] = timing(plan.warmup, plan.repeats, [&] {
    b.module->zero_grad();
    input.mutable_grad() = at::Tensor();
    b.forward(input).backward(grad_output);
  });
  const double peak = core::peak_memory_bytes();
  r["forward_backward"]["peak_bytes"] = peak;
  r["forward_backward"]["added_bytes"] = peak - before;
  return r;
}

// Random real maps whose harmonics all have degree l: coefficients [maps, channels, l + 1, l + 1] (a_l0 real).
at::Tensor degree_alm(int64_t maps, int64_t channels, int64_t l) {
  const at::Tensor row = torch::zeros({l + 1, 1}, torch::kDouble).index_fill_(0, torch::tensor({l}), 1.0);
  const at::Tensor mask = row * torch::ones({1, l + 1}, torch::kDouble);
  at::Tensor im = torch::randn({maps, channels, l + 1, l + 1}, torch::kDouble);
  im.select(-1, 0).zero_();
  return at::complex(torch::randn({maps, channels, l + 1, l + 1}, torch::kDouble) * mask, im * mask);
}

// E ||A R f − R A f||² / ||A f||² over maps f of degree l (one random rotation R per map, drawn from `rng`
// uniformly on SO(3)). R acts on maps through the transform: exactly on the band-limited input, through the
// grid's rotation band limit (rotation_lmax) on the output, which a graph layer does not keep band-limited.
// NaN where A f = 0 (a spectral layer above its band limit).
double equivariance_error(const std::function<at::Tensor(const at::Tensor&)>& layer, const transforms::GridPtr& grid,
                          int64_t l, int64_t wide_lmax, int64_t maps, int64_t channels, std::mt19937_64& rng) {
  transforms::ShtOptions options;
  options.lmax = l;
  const transforms::Sht band(grid, options);
  options.lmax = wide_lmax;
  const auto wide = transforms::cached_sht(grid, options);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  const at::Tensor f_alm = degree_alm(maps, channels, l);
  double sum = 0;
  int counted = 0;
  for (int64_t s = 0; s < maps; ++s) {
    const double psi = 2 * M_PI * uniform(rng), theta = std::acos(1 - 2 * uniform(rng)), phi = 2 * M_PI * uniform(rng);
    auto rotate = [&](const at::Tensor& alm) { return transforms::rotate_alm(alm, psi, theta, phi); };
    const at::Tensor fs = f_alm.slice(0, s, s + 1);
    const at::Tensor af = layer(band.inverse(fs));
    const at::Tensor arf = layer(band.inverse(rotate(fs)));
    const at::Tensor raf = wide->inverse(rotate(wide->forward(af)));
    const double norm = af.square().sum().item<double>();
    if (norm <= 0) continue;
    sum += (arf - raf).square().sum().item<double>() / norm;
    ++counted;
  }
  return counted > 0 ? sum / counted : std::nan("");
}

// The grids of the plan's variants, in order of first use.
std::vector<std::string> grids_of(const BenchPlan& plan) {
  std::vector<std::string> grids;
  for (const auto& layer : plan.layers) {
    if (std::find(grids.begin(), grids.end(), layer.grid) == grids.end()) grids.push_back(layer.grid);
  }
  return grids;
}

json measure_equivariance(const BenchPlan& plan, const std::function<void()>& row_done) {
  const int64_t nside = plan.equivariance_nside;
  std::vector<int64_t> degrees = plan.degrees;
  if (degrees.empty()) {
    for (int64_t l : {1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 80, 96, 128, 160, 192}) {
      if (l <= 3 * nside - 1) degrees.push_back(l);
    }
    if (degrees.back() != 3 * nside - 1) degrees.push_back(3 * nside - 1);
  }
  json out = {{"nside", nside}, {"degrees", degrees}, {"samples", plan.equivariance_samples},
              {"definition", "mean over maps of ||A R f - R A f||^2 / ||A f||^2, f of degree l, R uniform on SO(3)"},
              {"layers", json::array()}};
  torch::NoGradGuard no_grad;
  std::mt19937_64 rng(plan.seed);
  // The floor of the measurement on each grid: the identity, whose error is the transform's own (the forward
  // HEALPix transform is not exact).
  std::vector<std::pair<BenchLayer, bool>> rows;  // (variant, is the identity)
  for (const auto& g : grids_of(plan)) {
    BenchLayer identity;
    identity.grid = g;
    rows.emplace_back(identity, true);
  }
  for (const auto& layer : plan.layers) rows.emplace_back(layer, false);
  for (const auto& [layer, identity] : rows) {
    const auto grid = make_grid(layer.grid, nside);
    const int64_t wide = rotation_lmax(layer.grid, nside);
    json row = {{"layer", identity ? std::string(layer.grid == "healpix" ? "identity" : "identity (GL)")
                                   : layer.label()},
                {"grid", layer.grid}, {"errors", json::array()}};
    std::string skip = identity ? "" : skip_reason(layer, nside, grid->size(), plan, 0.0);
    if (!skip.empty()) {
      row["skipped"] = skip;
      for (size_t i = 0; i < degrees.size(); ++i) row["errors"].push_back(nullptr);
    } else {
      std::function<at::Tensor(const at::Tensor&)> apply = [](const at::Tensor& x) { return x; };
      BuiltLayer b;
      if (!identity) {
        b = build_layer(layer, grid, nside, plan.channels, torch::kDouble);
        apply = b.forward;
      }
      for (int64_t l : degrees) {
        const double e = l <= wide ? equivariance_error(apply, grid, l, wide, plan.equivariance_samples,
                                                        identity ? 1 : plan.channels, rng)
                                   : std::nan("");
        row["errors"].push_back(std::isfinite(e) ? json(e) : json(nullptr));
      }
    }
    out["layers"].push_back(row);
    row_done();
  }
  return out;
}

std::string fixed(double v, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, v);
  return text;
}

std::string scientific(double v) {
  char text[64];
  std::snprintf(text, sizeof text, "%.2e", v);
  return text;
}

}  // namespace

BenchPlan read_bench_plan(Config& config) {
  BenchPlan plan;
  plan.source = config.source();
  Section top(config, "");
  {
    Section maps = top.section("maps");
    plan.nsides = maps.integers("nsides", plan.nsides);
    if (plan.nsides.empty()) maps.fail("nsides", "expected at least one nside");
    for (size_t i = 0; i < plan.nsides.size(); ++i) {
      const int64_t n = plan.nsides[i];
      if (n < 1 || n > (1 << 29) || (n & (n - 1)) != 0) {
        maps.fail("nsides", "expected powers of two, got " + std::to_string(n));
      }
    }
    plan.batch = maps.integer("batch", plan.batch, 1, 4096);
    plan.channels = maps.integer("channels", plan.channels, 1, 4096);
    plan.dtype = maps.text("dtype", plan.dtype, {"float32", "float64"});
    plan.seed = static_cast<uint64_t>(maps.integer("seed", 0, 0));
    maps.finish();
  }
  {
    Section timing = top.section("timing");
    plan.warmup = static_cast<int>(timing.integer("warmup", plan.warmup, 0, 100));
    plan.repeats = static_cast<int>(timing.integer("repeats", plan.repeats, 1, 1000));
    plan.memory_fraction = timing.number("memory_fraction", plan.memory_fraction, 0.01, 1.0);
    plan.peers = timing.boolean("peers", false);
    timing.finish();
  }
  {
    Section eq = top.section("equivariance");
    plan.equivariance_nside = eq.integer("nside", plan.equivariance_nside, 0, 1 << 13);
    if (plan.equivariance_nside > 0 && (plan.equivariance_nside & (plan.equivariance_nside - 1)) != 0) {
      eq.fail("nside", "expected a power of two (or 0: not measured), got " + std::to_string(plan.equivariance_nside));
    }
    plan.degrees = eq.integers("degrees", std::vector<int64_t>{});
    for (int64_t l : plan.degrees) {
      if (plan.equivariance_nside > 0 && (l < 0 || l > 3 * plan.equivariance_nside - 1)) {
        eq.fail("degrees", std::to_string(l) + " is outside [0, 3 nside - 1 = " +
                               std::to_string(3 * plan.equivariance_nside - 1) + "]");
      }
    }
    plan.equivariance_samples = static_cast<int>(eq.integer("samples", plan.equivariance_samples, 1, 1000));
    eq.finish();
  }
  const json& layers = top.raw("layers");
  if (!layers.is_array() || layers.empty()) top.fail("layers", "expected a list of layer variants");
  for (size_t i = 0; i < layers.size(); ++i) {
    Section s(config, "layers[" + std::to_string(i) + "]");
    BenchLayer layer;
    layer.type = s.text("type", std::nullopt, {"chebconv", "spectral"});
    layer.grid = s.text("grid", layer.grid, {"healpix", "gauss_legendre"});
    if (layer.type == "chebconv") {
      layer.k = static_cast<int>(s.integer("k", layer.k, 1));
      layer.kernel_size = s.integer("K", layer.kernel_size, 1, 1000);
      try {
        transforms::v2_kernel_width(plan.nsides.front(), layer.k);
      } catch (const core::InvalidArgument& e) {
        s.fail("k", e.what());
      }
    } else {
      parse_lmax(s, layer);
    }
    if (layer.type == "spectral") layer.iterations = static_cast<int>(s.integer("iterations", 0, 0, 100));
    layer.max_nside = s.integer("max_nside", 0, 0);
    s.finish();
    plan.layers.push_back(layer);
  }
  top.finish();
  plan.config = config.tree();
  return plan;
}

json run_bench(const BenchPlan& plan) {
  const auto dtype = plan.dtype == "float32" ? torch::kFloat : torch::kDouble;
  // Located (or refused) once, before the first case.
  const std::optional<PeerTool> peers = plan.peers ? std::optional<PeerTool>(peer_tool()) : std::nullopt;
  json results = {{"config", plan.config},
                  {"source", plan.source},
                  {"machine", {{"threads", torch::get_num_threads()}, {"hardware_threads", core::hardware_threads()},
                               {"torch", TORCH_VERSION}}},
                  {"maps", {{"batch", plan.batch}, {"channels", plan.channels}, {"dtype", plan.dtype},
                            {"seed", plan.seed}}},
                  {"timing", {{"warmup", plan.warmup}, {"repeats", plan.repeats}, {"peers", plan.peers}}},
                  {"cases", json::array()}};
  // Progress in units of work: a case costs about its pixels (times K or lmax/nside), an equivariance row a
  // fixed share, so the ETA does not promise nside 256 at the pace of nside 32.
  std::vector<std::pair<const BenchLayer*, int64_t>> cases;
  for (int64_t nside : plan.nsides) {
    for (const auto& layer : plan.layers) cases.emplace_back(&layer, nside);
  }
  auto cost = [&](const BenchLayer& layer, int64_t nside) {
    const int64_t pixels = 12 * nside * nside / 1024 + 1;
    return layer.type == "chebconv" ? pixels * layer.kernel_size * (layer.k + 1) / 9
                                    : pixels * std::max<int64_t>(1, layer.lmax(nside) / std::max<int64_t>(1, nside)) * 4;
  };
  int64_t total = 0;
  for (const auto& [layer, nside] : cases) total += cost(*layer, nside);
  // Equivariance rows: one per variant and one identity per grid.
  const int64_t eq_rows =
      plan.equivariance_nside > 0 ? static_cast<int64_t>(plan.layers.size() + grids_of(plan).size()) : 0;
  const int64_t eq_unit = std::max<int64_t>(1, total / 20);
  Progress progress("bench", total + eq_rows * eq_unit);
  int64_t done = 0;
  for (const auto& [layer, nside] : cases) {
    progress.update(done, "nside " + std::to_string(nside) + " " + layer->label());
    json r = measure_case(*layer, nside, plan, dtype);
    if (r.contains("skipped")) {
      std::fprintf(stderr, "bench: nside %lld %s: skipped, %s\n", static_cast<long long>(nside),
                   layer->label().c_str(), r["skipped"].get<std::string>().c_str());
    } else if (peers) {
      progress.update(done, "nside " + std::to_string(nside) + " " + layer->label() + ": peer " + peer_of(*layer));
      r["peer"] = run_peer(*peers, *layer, nside, plan);
      const json& p = r["peer"];
      if (!p.contains("forward")) {
        std::fprintf(stderr, "bench: nside %lld %s: peer %s %s\n", static_cast<long long>(nside),
                     layer->label().c_str(), p["peer"].get<std::string>().c_str(),
                     (p.contains("failed") ? "failed, " + p["failed"].get<std::string>()
                                           : "unavailable, " + p["unavailable"].get<std::string>())
                         .c_str());
      }
    }
    results["cases"].push_back(r);
    done += cost(*layer, nside);
  }
  if (plan.equivariance_nside > 0) {
    const std::string status = "equivariance at nside " + std::to_string(plan.equivariance_nside);
    progress.update(done, status);
    results["equivariance"] = measure_equivariance(plan, [&] { progress.update(done += eq_unit, status); });
  }
  progress.finish("cases " + std::to_string(cases.size()));
  return results;
}

std::string bench_markdown(const json& results) {
  std::ostringstream md;
  const auto& maps = results["maps"];
  md << "# Graph against spectral convolution\n\n"
     << "Maps: " << maps["batch"].get<int64_t>() << " x " << maps["channels"].get<int64_t>() << " channels to "
     << maps["channels"].get<int64_t>() << ", " << maps["dtype"].get<std::string>() << "; "
     << results["machine"]["threads"].get<int>() << " threads; times: median of "
     << results["timing"]["repeats"].get<int>() << " runs after " << results["timing"]["warmup"].get<int>()
     << " warm-up (fastest-slowest in brackets); peak: the process's resident memory while the layer ran "
        "forward + backward.\n\n";
  md << "| nside | layer | pixels | parameters | geometry MB | set-up s | forward ms | forward+backward ms | peak GB |\n"
     << "|---:|---|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& c : results["cases"]) {
    md << "| " << c["nside"].get<int64_t>() << " | " << c["layer"].get<std::string>() << " | "
       << c["pixels"].get<int64_t>() << " | ";
    if (c.contains("skipped")) {
      md << "skipped: " << c["skipped"].get<std::string>() << " | | | | | |\n";
      continue;
    }
    auto ms = [&](const json& t) {
      return fixed(t["median_s"].get<double>() * 1e3, 1) + " (" + fixed(t["min_s"].get<double>() * 1e3, 1) + "-" +
             fixed(t["max_s"].get<double>() * 1e3, 1) + ")";
    };
    md << c["parameters"].get<int64_t>() << " | " << fixed(c["geometry_bytes"].get<double>() / 1e6, 1) << " | "
       << fixed(c["setup_s"].get<double>(), 2) << " | " << ms(c["forward"]) << " | " << ms(c["forward_backward"])
       << " | " << fixed(c["forward_backward"]["peak_bytes"].get<double>() / 1e9, 2) << " |\n";
  }
  bool peers = false;
  for (const auto& c : results["cases"]) peers = peers || c.contains("peer");
  if (peers) {
    md << "\n## Peers in the same run\n\nRandom maps of the same shape and dtype (healpy: float64, its only type), the "
          "same threads, warm-up and repeats; median times; speed-up: the peer's time over Sphaera's; peak: resident memory while each ran.\n\n"
       << "| nside | layer | peer | forward ms | speed-up | forward+backward ms | speed-up | peer peak GB | "
          "Sphaera peak GB |\n|---:|---|---|---:|---:|---:|---:|---:|---:|\n";
    for (const auto& c : results["cases"]) {
      if (!c.contains("peer")) continue;
      const auto& p = c["peer"];
      md << "| " << c["nside"].get<int64_t>() << " | " << c["layer"].get<std::string>() << " | ";
      if (!p.contains("forward")) {
        md << p["peer"].get<std::string>() << ": "
           << (p.contains("failed") ? "failed, " + p["failed"].get<std::string>()
                                    : "unavailable, " + p["unavailable"].get<std::string>())
           << " | | | | | | |\n";
        continue;
      }
      auto ratio = [&](const char* pass) {
        return fixed(p[pass]["median_s"].get<double>() / c[pass]["median_s"].get<double>(), 2) + "x";
      };
      md << p["what"].get<std::string>() << " | " << fixed(p["forward"]["median_s"].get<double>() * 1e3, 1) << " | "
         << ratio("forward") << " | " << fixed(p["forward_backward"]["median_s"].get<double>() * 1e3, 1) << " | "
         << ratio("forward_backward") << " | " << fixed(p["peak_bytes"].get<double>() / 1e9, 2) << " | "
         << fixed(c["forward_backward"]["peak_bytes"].get<double>() / 1e9, 2) << " |\n";
    }
  }
  if (results.contains("equivariance")) {
    const auto& eq = results["equivariance"];
    md << "\n## Rotation equivariance at nside " << eq["nside"].get<int64_t>() << "\n\n"
       << "E ||A R f - R A f||^2 / ||A f||^2 over " << eq["samples"].get<int>()
       << " random maps of degree l, each with its own random rotation, in float64. The identity rows are the "
          "floor of the measurement on each grid (R applied through the transform).\n\n| l |";
    for (const auto& row : eq["layers"]) md << " " << row["layer"].get<std::string>() << " |";
    md << "\n|---:|";
    for (size_t i = 0; i < eq["layers"].size(); ++i) md << "---:|";
    md << "\n";
    const auto& degrees = eq["degrees"];
    for (size_t d = 0; d < degrees.size(); ++d) {
      md << "| " << degrees[d].get<int64_t>() << " |";
      for (const auto& row : eq["layers"]) {
        const auto& e = row["errors"][d];
        md << " " << (e.is_null() ? std::string("-") : scientific(e.get<double>())) << " |";
      }
      md << "\n";
    }
  }
  return md.str();
}

std::vector<BenchFigure> bench_figures(const json& results) {
  std::vector<BenchFigure> figures;
  // One series per layer variant against nside, then (with --peers) one per peer and variant: "peer (variant)",
  // the value read from the peer's row (missing where it failed or is not installed).
  using Value = std::function<double(const json&)>;
  auto by_layer = [&](const Value& value, const Value& peer_value = nullptr) {
    std::vector<data_tools::Series> series;
    auto add = [&](const std::string& name, double x, double y) {
      auto it = std::find_if(series.begin(), series.end(), [&](const auto& s) { return s.name == name; });
      if (it == series.end()) {
        series.push_back({name, {}, {}});
        it = series.end() - 1;
      }
      it->x.push_back(x);
      it->y.push_back(y);
    };
    for (const auto& c : results["cases"]) {
      add(c["layer"].get<std::string>(), c["nside"].get<double>(), c.contains("skipped") ? std::nan("") : value(c));
    }
    for (const auto& c : results["cases"]) {
      if (!peer_value || !c.contains("peer")) continue;
      const json& p = c["peer"];
      add(p["peer"].get<std::string>() + " (" + c["layer"].get<std::string>() + ")", c["nside"].get<double>(),
          p.contains("forward") ? peer_value(p) : std::nan(""));
    }
    return series;
  };
  auto seconds = [](const char* pass) {
    return [pass](const json& c) { return c[pass]["median_s"].get<double>(); };
  };
  data_tools::Panel forward{"forward (s)", "nside", by_layer(seconds("forward"), seconds("forward")), true, true};
  data_tools::Panel backward{"forward + backward (s)", "nside",
                             by_layer(seconds("forward_backward"), seconds("forward_backward")), true, true};
  figures.push_back({"time_vs_nside.png", {forward, backward}, 520, 380});
  data_tools::Panel peak{"peak memory, forward + backward (GB)", "nside",
                         by_layer([](const json& c) { return c["forward_backward"]["peak_bytes"].get<double>() / 1e9; },
                                  [](const json& p) { return p["peak_bytes"].get<double>() / 1e9; }),
                         true, true};
  data_tools::Panel geometry{"geometry (MB)", "nside",
                             by_layer([](const json& c) { return c["geometry_bytes"].get<double>() / 1e6; }), true,
                             true};
  figures.push_back({"memory_vs_nside.png", {peak, geometry}, 520, 380});
  if (results.contains("equivariance")) {
    const auto& eq = results["equivariance"];
    data_tools::Panel panel{"equivariance error at nside " + std::to_string(eq["nside"].get<int64_t>()),
                            "degree l", {}, false, true};
    for (const auto& row : eq["layers"]) {
      data_tools::Series s{row["layer"].get<std::string>(), {}, {}};
      for (size_t d = 0; d < eq["degrees"].size(); ++d) {
        s.x.push_back(eq["degrees"][d].get<double>());
        s.y.push_back(row["errors"][d].is_null() ? std::nan("") : row["errors"][d].get<double>());
      }
      panel.series.push_back(s);
    }
    figures.push_back({"equivariance_vs_degree.png", {panel}, 720, 420});
  }
  return figures;
}

std::vector<std::string> write_bench_outputs(const json& results, const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  SPHAERA_CHECK(!ec && fs::is_directory(dir), dir, ": cannot create the output directory (", ec.message(), ")");
  std::vector<std::string> written;
  auto path = [&](const std::string& name) { return (fs::path(dir) / name).string(); };
  data_tools::write_text_atomic(path("results.json"), results.dump(2) + "\n");
  written.push_back(path("results.json"));
  data_tools::write_text_atomic(path("results.md"), bench_markdown(results));
  written.push_back(path("results.md"));

  for (const BenchFigure& f : bench_figures(results)) {
    data_tools::write_line_chart_png(path(f.file), f.panels, f.panel_width, f.height);
    written.push_back(path(f.file));
  }
  return written;
}

}  // namespace sphaera::train
