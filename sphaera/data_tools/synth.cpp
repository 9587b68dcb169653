#include "sphaera/data_tools/synth.h"

#include <alm.h>
#include <alm_healpix_tools.h>
#include <healpix_map.h>
#include <omp.h>
#include <signal.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <vector>

#include "sphaera/core/check.h"
#include "sphaera/data_tools/atomic_file.h"
#include "sphaera/data_tools/healpix_fits.h"
#include "sphaera/data_tools/healpix_order.h"
#include "sphaera/data_tools/manifest.h"
#include "sphaera/transforms/ring_grids.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace sphaera::data_tools {

namespace {

constexpr int kFormatVersion = 1;
constexpr const char* kCambFile = "/usr/share/healpy/data/totcls.dat";
constexpr double kPi = 3.14159265358979323846;
const char* const kClassNames[2] = {"gaussian", "lognormal"};
const char* const kSplitNames[3] = {"train", "val", "test"};

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Standard normal deviates by Box–Muller on std::mt19937_64 (whose output the C++ standard fixes, unlike
// std::normal_distribution's algorithm): the same seed gives the same numbers with any standard library.
class NormalRng {
 public:
  explicit NormalRng(uint64_t seed) : engine_(seed) {}
  double operator()() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u1 = 0.0;
    while (u1 <= 0.0) u1 = uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    const double t = 2.0 * kPi * uniform();
    spare_ = r * std::sin(t);
    has_spare_ = true;
    return r * std::cos(t);
  }

 private:
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  std::mt19937_64 engine_;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

// Two-point correlation functions ↔ angular spectra, exact for band-limited spectra on enough
// Gauss–Legendre nodes: ξ(μ) = Σ_l (2l+1)/4π C_l P_l(μ), C_l = 2π ∫ ξ(μ) P_l(μ) dμ.
// Work is split into fixed blocks of nodes summed in a fixed order: results do not depend on threads.
class LegendreTransform {
 public:
  LegendreTransform(int64_t lmax, int nodes) : lmax_(lmax) { transforms::gauss_legendre(nodes, x_, w_); }

  std::vector<double> correlation(const std::vector<double>& cl) const {
    std::vector<double> xi(x_.size());
    at::parallel_for(0, static_cast<int64_t>(x_.size()), 64, [&](int64_t begin, int64_t end) {
      for (int64_t j = begin; j < end; ++j) {
        const double z = x_[j];
        double p0 = 1.0, p1 = z;
        double sum = cl[0] * (1.0 / (4 * kPi));
        if (lmax_ >= 1) sum += cl[1] * 3.0 * z / (4 * kPi);
        for (int64_t l = 2; l <= lmax_; ++l) {
          const double p2 = ((2.0 * l - 1.0) * z * p1 - (l - 1.0) * p0) / l;
          p0 = p1;
          p1 = p2;
          sum += cl[l] * (2.0 * l + 1.0) / (4 * kPi) * p2;
        }
        xi[j] = sum;
      }
    });
    return xi;
  }

  std::vector<double> spectrum(const std::vector<double>& xi) const {
    constexpr int64_t kBlock = 128;
    const int64_t n = static_cast<int64_t>(x_.size());
    const int64_t blocks = (n + kBlock - 1) / kBlock;
    std::vector<std::vector<double>> partial(blocks, std::vector<double>(lmax_ + 1, 0.0));
    at::parallel_for(0, blocks, 1, [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; ++b) {
        auto& acc = partial[b];
        for (int64_t j = b * kBlock; j < std::min(n, (b + 1) * kBlock); ++j) {
          const double z = x_[j], f = 2 * kPi * w_[j] * xi[j];
          double p0 = 1.0, p1 = z;
          acc[0] += f;
          if (lmax_ >= 1) acc[1] += f * z;
          for (int64_t l = 2; l <= lmax_; ++l) {
            const double p2 = ((2.0 * l - 1.0) * z * p1 - (l - 1.0) * p0) / l;
            p0 = p1;
            p1 = p2;
            acc[l] += f * p2;
          }
        }
      }
    });
    std::vector<double> cl(lmax_ + 1, 0.0);
    for (const auto& acc : partial) {
      for (int64_t l = 0; l <= lmax_; ++l) cl[l] += acc[l];
    }
    return cl;
  }

 private:
  int64_t lmax_;
  std::vector<double> x_, w_;
};

double field_variance(const std::vector<double>& cl) {
  double v = 0.0;
  for (size_t l = 0; l < cl.size(); ++l) v += (2.0 * l + 1.0) * cl[l] / (4 * kPi);
  return v;
}

// u = exp(σ_g²) − 1 such that the lognormal skewness (u + 3)·√u equals `skewness`.
double lognormal_u(double skewness) {
  double lo = 0.0, hi = 1.0;
  while ((hi + 3.0) * std::sqrt(hi) < skewness) hi *= 2.0;
  for (int i = 0; i < 200; ++i) {
    const double mid = 0.5 * (lo + hi);
    ((mid + 3.0) * std::sqrt(mid) < skewness ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

std::vector<double> read_camb(const std::string& file, int64_t lmax) {
  std::ifstream in(file);
  SPHAERA_CHECK(in.good(), "synth-cosmo: spectrum file ", file,
                " is missing or unreadable (Debian package healpy-data ships the default one)");
  std::vector<double> cl(lmax + 1, 0.0);
  std::string text;
  int line = 0;
  int64_t rows = 0;
  while (std::getline(in, text)) {
    ++line;
    const auto first = text.find_first_not_of(" \t\r");
    if (first == std::string::npos || text[first] == '#') continue;
    std::istringstream row(text);
    double l = -1.0, dl = 0.0;
    row >> l >> dl;
    SPHAERA_CHECK(!row.fail() && l >= 0 && l == std::floor(l) && std::isfinite(dl) && dl >= 0, file, ":", line,
                  ": expected 'l D_l ...' with an integer l ≥ 0 and D_l ≥ 0");
    ++rows;
    const int64_t ell = static_cast<int64_t>(l);
    if (ell >= 2 && ell <= lmax) cl[ell] = 2 * kPi * dl / (l * (l + 1.0));
  }
  SPHAERA_CHECK(rows > 0, "synth-cosmo: spectrum file ", file, " has no rows");
  return cl;
}

std::string describe_spectrum_error(const std::string& spectrum) {
  return "synth-cosmo: spectrum '" + spectrum + "' is not one of camb, camb:<file>, powerlaw:<index>";
}

std::vector<double> target_spectrum(const std::string& spectrum, int64_t lmax) {
  std::vector<double> cl;
  if (spectrum == "camb") {
    cl = read_camb(kCambFile, lmax);
  } else if (spectrum.rfind("camb:", 0) == 0) {
    SPHAERA_CHECK(spectrum.size() > 5, describe_spectrum_error(spectrum));
    cl = read_camb(spectrum.substr(5), lmax);
  } else if (spectrum.rfind("powerlaw:", 0) == 0) {
    const std::string value = spectrum.substr(9);
    size_t used = 0;
    double index = 0.0;
    try {
      index = std::stod(value, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    SPHAERA_CHECK(!value.empty() && used == value.size() && std::isfinite(index) && std::abs(index) <= 20,
                  "synth-cosmo: spectrum '", spectrum, "': the power-law index must be a number in [-20, 20]");
    cl.assign(lmax + 1, 0.0);
    for (int64_t l = 2; l <= lmax; ++l) cl[l] = std::pow(static_cast<double>(l + 1), -index);
    const double v = field_variance(cl);
    for (auto& c : cl) c /= v;  // unit pixel variance
  } else {
    throw core::InvalidArgument(describe_spectrum_error(spectrum));
  }
  SPHAERA_CHECK(field_variance(cl) > 0, "synth-cosmo: spectrum '", spectrum, "' has no power at 2 ≤ l ≤ ", lmax);
  return cl;
}

at::Tensor to_tensor(const std::vector<double>& v) {
  return torch::tensor(v, torch::TensorOptions().dtype(torch::kDouble));
}

json options_json(const SynthCosmoOptions& o, int64_t lmax) {
  return {{"nside", o.nside}, {"lmax", lmax},     {"train", o.train},       {"val", o.val},          {"test", o.test},
          {"seed", o.seed},   {"noise", o.noise}, {"skewness", o.skewness}, {"spectrum", o.spectrum}};
}

int64_t resolved_lmax(const SynthCosmoOptions& o) { return o.lmax == 0 ? 3 * o.nside - 1 : o.lmax; }

}  // namespace

void check_synth_cosmo_options(const SynthCosmoOptions& o) {
  SPHAERA_CHECK(o.nside >= 1 && o.nside <= 8192 && (o.nside & (o.nside - 1)) == 0,
                "synth-cosmo: nside must be a power of two in [1, 8192], got ", o.nside);
  SPHAERA_CHECK(o.lmax == 0 || (o.lmax >= 2 && o.lmax <= 4 * o.nside),
                "synth-cosmo: lmax must be in [2, 4·nside = ", 4 * o.nside, "] (or 0 for 3·nside − 1), got ",
                o.lmax);
  SPHAERA_CHECK(resolved_lmax(o) >= 2, "synth-cosmo: lmax 3·nside − 1 = ", resolved_lmax(o),
                " is below 2 (use nside ≥ 1 with lmax ≥ 2)");
  for (auto [name, n] : {std::pair<const char*, int64_t>{"train", o.train}, {"val", o.val}, {"test", o.test}}) {
    SPHAERA_CHECK(n >= 1 && n <= 1000000, "synth-cosmo: ", name, " (maps per class) must be in [1, 1000000], got ", n);
  }
  SPHAERA_CHECK(std::isfinite(o.noise) && o.noise >= 0,
                "synth-cosmo: noise must be ≥ 0 (a fraction of the "
                "signal's standard deviation), got ",
                o.noise);
  SPHAERA_CHECK(std::isfinite(o.skewness) && o.skewness > 0 && o.skewness <= 10,
                "synth-cosmo: skewness (of the lognormal class) must be in (0, 10], got ", o.skewness);
  const std::string& s = o.spectrum;
  SPHAERA_CHECK(s == "camb" || s.rfind("camb:", 0) == 0 || s.rfind("powerlaw:", 0) == 0, describe_spectrum_error(s));
}

at::Tensor synth_spectrum(const std::string& spectrum, int64_t lmax) {
  SPHAERA_CHECK(lmax >= 2, "synth_spectrum: lmax must be ≥ 2, got ", lmax);
  return to_tensor(target_spectrum(spectrum, lmax));
}

at::Tensor measure_power_spectrum(const at::Tensor& nest_map, int64_t lmax, int iterations) {
  SPHAERA_CHECK(nest_map.defined() && nest_map.dim() == 1, "measure_power_spectrum: expected a map [npix], got ",
                nest_map.defined() ? nest_map.sizes() : at::IntArrayRef{});
  const int64_t nside = nside_of_npix(nest_map.size(0), "measure_power_spectrum");
  SPHAERA_CHECK(lmax >= 0 && lmax <= 4 * nside, "measure_power_spectrum: lmax must be in [0, 4·nside = ", 4 * nside,
                "], got ", lmax);
  SPHAERA_CHECK(iterations >= 0, "measure_power_spectrum: iterations must be ≥ 0, got ", iterations);
  auto ring = nest_map.detach().to(torch::kCPU, torch::kDouble).index_select(0, ring_to_nest_index(nside)).contiguous();
  SPHAERA_CHECK(!ring.isnan().any().item<bool>(), "measure_power_spectrum: the map has NaN pixels");
  Healpix_Map<double> map(static_cast<int>(nside), RING, SET_NSIDE);
  const double* r = ring.data_ptr<double>();
  for (int64_t i = 0; i < ring.numel(); ++i) map[i] = r[i];
  Alm<xcomplex<double>> alm(static_cast<int>(lmax), static_cast<int>(lmax));
  map2alm_iter(map, alm, iterations);
  std::vector<double> cl(lmax + 1, 0.0);
  for (int l = 0; l <= lmax; ++l) {
    double sum = std::norm(alm(l, 0));
    for (int m = 1; m <= l; ++m) sum += 2.0 * std::norm(alm(l, m));
    cl[l] = sum / (2.0 * l + 1.0);
  }
  return to_tensor(cl);
}

// ---------------------------------------------------------------------------------------------------------

struct SynthCosmo::Impl {
  SynthCosmoOptions options;
  int64_t nside = 0, lmax = 0, fine_nside = 0;
  std::vector<double> target, gaussian, lognormal_model, transfer;
  double sigma = 0.0, u = 0.0, gaussian_variance = 0.0;
  int iterations = 0;
  double residual = 0.0;
  std::vector<int64_t> nest_to_ring;
  at::Tensor target_tensor, gaussian_tensor;

  void draw_alm(Alm<xcomplex<double>>& alm, const std::vector<double>& cl, NormalRng& normal) const {
    for (int m = 0; m <= lmax; ++m) {
      for (int l = m; l <= lmax; ++l) {
        const double amp = std::sqrt(std::max(cl[l], 0.0));
        if (m == 0) {
          alm(l, 0) = xcomplex<double>(amp * normal(), 0.0);
        } else {
          const double re = normal(), im = normal();
          alm(l, m) = xcomplex<double>(amp * re * M_SQRT1_2, amp * im * M_SQRT1_2);
        }
      }
    }
  }

  std::vector<double> make(int64_t label, uint64_t seed) const {
    NormalRng normal(seed);
    const int L = static_cast<int>(lmax);
    Alm<xcomplex<double>> alm(L, L);
    if (label == 0) {
      draw_alm(alm, target, normal);
    } else {
      draw_alm(alm, gaussian, normal);
      Healpix_Map<double> field(static_cast<int>(fine_nside), RING, SET_NSIDE);
      alm2map(alm, field);
      const double shift = 0.5 * gaussian_variance;
      for (int64_t i = 0; i < field.Npix(); ++i) field[i] = std::expm1(field[i] - shift);
      map2alm_iter(field, alm, 3);
      for (int m = 0; m <= L; ++m) {
        for (int l = m; l <= L; ++l) alm(l, m) *= transfer[l];
      }
    }
    Healpix_Map<double> ring(static_cast<int>(nside), RING, SET_NSIDE);
    alm2map(alm, ring);
    const double noise_std = options.noise * sigma;
    std::vector<double> out(ring.Npix());
    for (size_t p = 0; p < out.size(); ++p) out[p] = ring[nest_to_ring[p]];
    if (noise_std > 0) {
      for (auto& v : out) v += noise_std * normal();
    }
    return out;
  }
};

SynthCosmo::SynthCosmo(const SynthCosmoOptions& options) : impl_(std::make_unique<Impl>()) {
  check_synth_cosmo_options(options);
  Impl& s = *impl_;
  s.options = options;
  s.nside = options.nside;
  s.lmax = resolved_lmax(options);
  s.fine_nside = 2 * options.nside;
  s.target = target_spectrum(options.spectrum, s.lmax);
  s.sigma = std::sqrt(field_variance(s.target));
  s.u = lognormal_u(options.skewness);

  // The spectrum W the lognormal field y should have (l ≤ lmax), and the Gaussian spectrum G giving it.
  const int64_t L = s.lmax;
  std::vector<double> wanted(L + 1, 0.0);
  for (int64_t l = 2; l <= L; ++l) wanted[l] = s.target[l] * s.u / (s.sigma * s.sigma);
  // exp(ξ_G) has all powers of ξ_G: 3L + 2 nodes integrate products up to degree ~5L exactly.
  const LegendreTransform legendre(L, static_cast<int>(3 * L + 2));
  std::vector<double> xi = legendre.correlation(wanted);
  for (auto& v : xi) v = std::log1p(std::max(v, -0.9));
  s.gaussian = legendre.spectrum(xi);
  for (int64_t l = 0; l <= L; ++l) {
    if (l < 2 || wanted[l] <= 0 || !(s.gaussian[l] > 0)) s.gaussian[l] = 0.0;
  }
  constexpr int kMaxIterations = 50;
  for (s.iterations = 0;; ++s.iterations) {
    xi = legendre.correlation(s.gaussian);
    for (auto& v : xi) v = std::expm1(v);
    s.lognormal_model = legendre.spectrum(xi);
    s.residual = 0.0;
    for (int64_t l = 2; l <= L; ++l) {
      if (wanted[l] > 0 && s.lognormal_model[l] > 0) {
        s.residual = std::max(s.residual, std::abs(wanted[l] / s.lognormal_model[l] - 1.0));
      }
    }
    if (s.residual < 1e-10 || s.iterations == kMaxIterations) break;
    for (int64_t l = 2; l <= L; ++l) {
      if (wanted[l] > 0 && s.lognormal_model[l] > 0) s.gaussian[l] *= wanted[l] / s.lognormal_model[l];
    }
  }
  s.gaussian_variance = field_variance(s.gaussian);
  s.transfer.assign(L + 1, 0.0);
  for (int64_t l = 2; l <= L; ++l) {
    if (s.target[l] > 0 && s.lognormal_model[l] > 0) s.transfer[l] = std::sqrt(s.target[l] / s.lognormal_model[l]);
  }
  const auto index = nest_to_ring_index(s.nside);
  s.nest_to_ring.assign(index.data_ptr<int64_t>(), index.data_ptr<int64_t>() + index.numel());
  s.target_tensor = to_tensor(s.target);
  s.gaussian_tensor = to_tensor(s.gaussian);
}

SynthCosmo::~SynthCosmo() = default;

at::Tensor SynthCosmo::map(int64_t label, uint64_t map_seed) const {
  SPHAERA_CHECK(label == 0 || label == 1, "SynthCosmo::map: label must be 0 (gaussian) or 1 (lognormal), got ", label);
  return to_tensor(impl_->make(label, map_seed));
}

uint64_t SynthCosmo::map_seed(uint64_t seed, int split, int64_t label, int64_t index) {
  uint64_t state = seed;
  uint64_t h = splitmix64(state);
  for (uint64_t part : {static_cast<uint64_t>(split), static_cast<uint64_t>(label), static_cast<uint64_t>(index)}) {
    state = h ^ (part * 0xD1B54A32D192ED03ULL);
    h = splitmix64(state);
  }
  return h;
}

int64_t SynthCosmo::nside() const { return impl_->nside; }
int64_t SynthCosmo::lmax() const { return impl_->lmax; }
const at::Tensor& SynthCosmo::target_cl() const { return impl_->target_tensor; }
const at::Tensor& SynthCosmo::gaussian_cl() const { return impl_->gaussian_tensor; }
double SynthCosmo::signal_std() const { return impl_->sigma; }

json SynthCosmo::description() const {
  const Impl& s = *impl_;
  const bool camb = s.options.spectrum.rfind("camb", 0) == 0;
  return {
      {"generator", "sphaera data synth-cosmo"},
      {"format_version", kFormatVersion},
      {"options", options_json(s.options, s.lmax)},
      {"classes", {kClassNames[0], kClassNames[1]}},
      {"manifests", {{"train", "train.csv"}, {"val", "val.csv"}, {"test", "test.csv"}}},
      {"units", camb ? "uK (CAMB TT spectrum)" : "arbitrary (unit signal standard deviation)"},
      {"pixel_dtype", "float32"},
      {"signal_std", s.sigma},
      {"noise_std", s.options.noise * s.sigma},
      {"lognormal",
       {{"u", s.u},
        {"gaussian_variance", s.gaussian_variance},
        {"solver_iterations", s.iterations},
        {"solver_max_relative_residual", s.residual}}},
      {"method",
       "class 0: Gaussian random field with the target C_l; class 1: y = exp(g - var_g/2) - 1 with the "
       "Gaussian spectrum of g solved in harmonic space so that y has the target spectrum shape and the "
       "requested skewness, synthesised at 2*nside, band-limited to lmax by map2alm and rescaled per l to the "
       "target C_l; white noise of std noise*signal_std added to both (see sphaera/data_tools/synth.h)"},
  };
}

// ---------------------------------------------------------------------------------------------------------

namespace {

// Removes hidden partial directories left beside `out` by processes that no longer run.
void remove_stale_partials(const fs::path& out) {
  const fs::path parent = out.parent_path().empty() ? fs::path(".") : out.parent_path();
  const std::string prefix = "." + out.filename().string() + ".partial-";
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(parent, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const std::string rest = name.substr(prefix.size());
    const long pid = std::strtol(rest.c_str(), nullptr, 10);
    if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) == -1 && errno == ESRCH) fs::remove_all(entry.path(), ec);
  }
}

// "noise 0.1 -> 0.2, seed 1 -> 2" between an existing synth.json and the options asked for.
std::string differences(const json& existing, const json& wanted) {
  std::string out;
  for (const auto& [key, value] : wanted.items()) {
    const json old = existing.contains(key) ? existing.at(key) : json();
    if (old != value) out += (out.empty() ? "" : ", ") + key + " " + old.dump() + " -> " + value.dump();
  }
  return out.empty() ? "format version" : out;
}

// True when `dir` holds a complete data set made with these options; throws when it holds anything else.
bool holds_data_set(const fs::path& dir, const SynthCosmoOptions& o) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return false;
  SPHAERA_CHECK(fs::is_directory(dir, ec), "synth-cosmo: ", dir.string(), " exists and is not a directory");
  const fs::path meta = dir / "synth.json";
  if (!fs::exists(meta, ec)) {
    SPHAERA_CHECK(fs::is_empty(dir, ec), "synth-cosmo: ", dir.string(),
                  " exists and is not a synth-cosmo data set (no synth.json); remove it or choose another "
                  "directory");
    return false;
  }
  json existing;
  try {
    std::ifstream in(meta);
    existing = json::parse(in);
  } catch (const std::exception& e) {
    throw core::InvalidArgument("synth-cosmo: " + meta.string() + " is not valid JSON (" + e.what() +
                                "); remove the directory to regenerate");
  }
  const json wanted = options_json(o, resolved_lmax(o));
  const json old_options = existing.contains("options") ? existing.at("options") : json::object();
  const bool same = existing.value("format_version", -1) == kFormatVersion && old_options == wanted;
  SPHAERA_CHECK(same, "synth-cosmo: ", dir.string(), " holds a data set made with other options (",
                differences(old_options, wanted), "); remove it or choose another directory");
  for (const char* manifest : {"train.csv", "val.csv", "test.csv"}) {
    SPHAERA_CHECK(fs::exists(dir / manifest, ec), "synth-cosmo: ", dir.string(), " is incomplete (no ", manifest,
                  "); remove it to regenerate");
  }
  return true;
}

void generate_into(const fs::path& dir, const SynthCosmoOptions& o) {
  const SynthCosmo synth(o);
  const int64_t counts[3] = {o.train, o.val, o.test};
  struct Job {
    int split;
    int64_t label, index;
    std::string relative;
  };
  std::vector<Job> jobs;
  std::vector<ManifestEntry> manifests[3];
  for (int split = 0; split < 3; ++split) {
    fs::create_directories(dir / kSplitNames[split]);
    for (int64_t i = 0; i < counts[split]; ++i) {
      for (int64_t label = 0; label < 2; ++label) {
        char name[64];
        std::snprintf(name, sizeof name, "%s/%s_%04lld.fits", kSplitNames[split], kClassNames[label],
                      static_cast<long long>(i));
        jobs.push_back({split, label, i, name});
        ManifestEntry e;
        e.input = (dir / name).string();
        e.label = label;
        manifests[split].push_back(e);
      }
    }
  }
  const int64_t total = static_cast<int64_t>(jobs.size());
  // Small maps are made in parallel (one per thread, each SHT single-threaded), big ones one at a time
  // (the SHT itself uses the threads); files are written in order by this thread.
  const int threads = omp_get_max_threads();
  const int64_t batch = o.nside <= 256 ? std::max(1, 2 * threads) : 1;
  std::vector<at::Tensor> maps(batch);
  for (int64_t start = 0; start < total; start += batch) {
    const int64_t n = std::min(batch, total - start);
    std::exception_ptr failure;
#pragma omp parallel for schedule(dynamic) if (n > 1)
    for (int64_t k = 0; k < n; ++k) {
      try {
        const Job& job = jobs[start + k];
        maps[k] = synth.map(job.label, SynthCosmo::map_seed(o.seed, job.split, job.label, job.index));
      } catch (...) {
#pragma omp critical
        failure = std::current_exception();
      }
    }
    if (failure) std::rethrow_exception(failure);
    for (int64_t k = 0; k < n; ++k) {
      write_healpix_map((dir / jobs[start + k].relative).string(), maps[k].to(torch::kFloat), true,
                        MapPrecision::kFloat32);
      maps[k] = at::Tensor();
    }
    if (o.progress) o.progress(start + n, total);
  }
  for (int split = 0; split < 3; ++split) {
    write_manifest((dir / (std::string(kSplitNames[split]) + ".csv")).string(), manifests[split]);
  }
  write_text_atomic((dir / "synth.json").string(), synth.description().dump(2) + "\n");
}

}  // namespace

bool ensure_synth_cosmo(const SynthCosmoOptions& options) {
  check_synth_cosmo_options(options);
  SPHAERA_CHECK(!options.out_dir.empty(), "synth-cosmo: no output directory given");
  const fs::path out = fs::path(options.out_dir).lexically_normal();
  const fs::path target = out.has_filename() ? out : out.parent_path();
  if (holds_data_set(target, options)) return false;

  std::error_code ec;
  if (!target.parent_path().empty()) {
    fs::create_directories(target.parent_path(), ec);
    SPHAERA_CHECK(!ec, "synth-cosmo: cannot create ", target.parent_path().string(), " (", ec.message(), ")");
  }
  remove_stale_partials(target);
  const fs::path partial = unique_sibling(target.string(), ".partial");
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code ignored;
      if (!dir.empty()) fs::remove_all(dir, ignored);
    }
  } cleanup{partial};
  fs::create_directories(partial, ec);
  SPHAERA_CHECK(!ec, "synth-cosmo: cannot create ", partial.string(), " (", ec.message(), ")");
  generate_into(partial, options);

  // An empty directory (made by the user) is replaced; a complete one made meanwhile by another process
  // with the same options is kept.
  if (fs::exists(target, ec) && fs::is_directory(target, ec) && fs::is_empty(target, ec)) fs::remove(target, ec);
  fs::rename(partial, target, ec);
  if (ec) {
    if (holds_data_set(target, options)) return false;
    throw core::InvalidArgument("synth-cosmo: cannot move the finished data set to " + target.string() + " (" +
                                ec.message() + ")");
  }
  cleanup.dir.clear();
  return true;
}

}  // namespace sphaera::data_tools
