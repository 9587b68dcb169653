#pragma once
/// `sphaera data synth-cosmo`: a two-class data set of full-sky HEALPix maps with the same angular power
/// spectrum but different non-Gaussianity, the stand-in for DeepSphere's cosmological model discrimination.
///
/// Class 0 ("gaussian"): Gaussian random fields with the target spectrum C_l.
/// Class 1 ("lognormal"): lognormal fields with the same expected spectrum and a chosen pixel skewness.
///
/// Method (class 1). A standard lognormal field y = exp(g − σ_g²/2) − 1 of a zero-mean Gaussian field g has
/// variance u = exp(σ_g²) − 1, skewness (u + 3)·√u, and two-point correlation ξ_y = exp(ξ_g) − 1.
///  1. u is solved from the requested skewness S = (u + 3)·√u; the spectrum y should have is
///     W_l = C_l · u / σ², with σ² = Σ (2l+1) C_l / 4π the variance of the target field.
///  2. The Gaussian spectrum G_l (l ≤ lmax) is found in harmonic space: start from the Legendre transform
///     of ln(1 + ξ_W), then iterate G_l ← G_l · W_l / Y_l, where Y_l is the exact spectrum of
///     exp(ξ_G) − 1 (Legendre transforms on Gauss–Legendre nodes, enough of them for exp's higher powers).
///  3. Each map: g with spectrum G_l is synthesised (HEALPix alm2map) at 2·nside; y = exp(g − σ_g²/2) − 1
///     pixel by pixel; y's a_lm up to lmax by map2alm (3 iterations) at 2·nside (the finer grid keeps
///     aliasing of y's power above lmax small); the a_lm are scaled by √(C_l / Y_l), which makes the
///     expected spectrum exactly C_l (a constant √(σ²/u) where the iteration converged), with l < 2 set to
///     0; the final map is alm2map at nside. Its pixel skewness is close to S (a little lower: the part of
///     y above lmax is dropped).
/// Both classes are band-limited at lmax and point-sampled (no pixel window); monopole and dipole are 0.
///
/// Difficulty (measured with configs/quickstart.yaml: nside 64, order-2 patches, noise 0.1, 12 epochs on
/// 2 cores, ~80 s): skewness 0.3 → test accuracy 0.89, 0.4 (default) → 0.94, 0.5 → 0.98, 1.0 → 0.999 (the
/// task becomes trivial). Lower skewness or more noise make it harder.
///
/// Noise: white Gaussian noise of standard deviation `noise`·σ is added to every pixel of both classes,
/// σ being the expected standard deviation of the noiseless signal (the same for both classes).
///
/// Spectra: "camb" (the CAMB ΛCDM TT spectrum of healpy-data, /usr/share/healpy/data/totcls.dat, whose
/// second column is D_l = l(l+1)C_l/2π in μK²: maps in μK; C_l = 0 above the file's last l), "camb:<file>"
/// (another file in that format), or "powerlaw:<index>" (C_l ∝ (l+1)^−index for l ≥ 2, scaled so that
/// σ = 1: maps in arbitrary units). C_0 = C_1 = 0 always.
///
/// Seeding: map i of class c in split s (train 0, val 1, test 2) draws from std::mt19937_64 seeded with a
/// SplitMix64 hash of (seed, s, c, i) (normal deviates by Box–Muller), so a map depends only on those and
/// the options: the same options give byte-identical files, whatever the thread count.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>

namespace sphaera::data_tools {

struct SynthCosmoOptions {
  std::string out_dir;  ///< where the data set goes (created; see ensure_synth_cosmo)
  int64_t nside = 64;   ///< power of two in [1, 8192]
  int64_t lmax = 0;     ///< band limit; 0 means 3·nside − 1
  int64_t train = 24;   ///< maps per class in train.csv
  int64_t val = 6;      ///< maps per class in val.csv
  int64_t test = 12;    ///< maps per class in test.csv
  uint64_t seed = 1;
  double noise = 0.1;             ///< white-noise standard deviation as a fraction of the signal's (≥ 0)
  double skewness = 0.4;          ///< pixel skewness of the lognormal class before noise, in (0, 10]
  std::string spectrum = "camb";  ///< "camb", "camb:<file>" or "powerlaw:<index>"
  /// Optional: called after each map is written with (maps done, maps in total).
  std::function<void(int64_t, int64_t)> progress;
};

/// Makes sure `options.out_dir` holds the data set the options describe, and returns true when it had to
/// generate it, false when the directory already held it (then nothing is touched). The directory gets
///   train.csv, val.csv, test.csv   manifests (input,label), label 0 = gaussian, 1 = lognormal
///   {train,val,test}/{gaussian,lognormal}_NNNN.fits   maps, NEST, float32
///   synth.json                     the options, the method and derived numbers (signal σ, u, σ_g²)
/// Generation goes to a hidden sibling directory renamed into place at the end, so an interrupted run
/// never leaves a partial data set (and stale partial directories of dead processes are removed).
/// Throws core::InvalidArgument on invalid options, or when the directory exists and holds something else
/// (other files, or a synth-cosmo data set made with other options: the message lists the differences).
bool ensure_synth_cosmo(const SynthCosmoOptions& options);

/// Checks the options (all but out_dir and progress), with messages naming the option.
void check_synth_cosmo_options(const SynthCosmoOptions& options);

/// The target spectrum C_l, float64 [lmax + 1], of a spectrum name (see above).
at::Tensor synth_spectrum(const std::string& spectrum, int64_t lmax);

/// The angular power spectrum of a full-sky NEST map (any float dtype, no NaN), float64 [lmax + 1]:
/// C_l = Σ_m |a_lm|² / (2l + 1) with a_lm from HEALPix map2alm with `iterations` refinements (healpy's
/// anafast with iter = 3 by default).
at::Tensor measure_power_spectrum(const at::Tensor& nest_map, int64_t lmax, int iterations = 3);

/// The generator behind ensure_synth_cosmo, for making maps in memory. Building it solves for the Gaussian
/// spectrum of the lognormal class (fast: well under a second at lmax 3000).
class SynthCosmo {
 public:
  explicit SynthCosmo(const SynthCosmoOptions& options);
  ~SynthCosmo();

  /// One map of class `label` (0 gaussian, 1 lognormal), float64 NEST [12 nside²], noise included.
  at::Tensor map(int64_t label, uint64_t map_seed) const;
  /// The seed of map `index` of class `label` in split `split` (0 train, 1 val, 2 test).
  static uint64_t map_seed(uint64_t seed, int split, int64_t label, int64_t index);

  int64_t nside() const;
  int64_t lmax() const;
  /// Target C_l, float64 [lmax + 1] (the expected spectrum of both classes before noise).
  const at::Tensor& target_cl() const;
  /// Spectrum of the Gaussian field g behind the lognormal class, float64 [lmax + 1].
  const at::Tensor& gaussian_cl() const;
  /// Expected standard deviation σ of a noiseless map of either class.
  double signal_std() const;
  /// The options and derived numbers, as written to synth.json.
  nlohmann::json description() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sphaera::data_tools
