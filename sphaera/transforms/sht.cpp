#include "sphaera/transforms/sht.h"

#include <cmath>
#include <complex>
#include <functional>
#include <map>
#include <mutex>
#include <sstream>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>

#include "sphaera/core/check.h"
#include "sphaera/transforms/healpix_grid.h"
#include "sphaera/transforms/legendre.h"
#include "sphaera/transforms/linear_node.h"
#include "sphaera/transforms/ring_grids.h"
#include "sphaera/transforms/ring_transform.h"
#include "sphaera/transforms/sht_tensor.h"

namespace sphaera::transforms {

namespace {

using detail::apply_linear;

// ---- Legendre stage: coefficients as real [n, L+1, M+1, 2] ↔ ring Fourier coefficients [M+1, R, n, 2] ----

AlmStrides user_strides(int64_t lmax, int64_t mmax) {
  return AlmStrides{2 * (mmax + 1), 2, 2 * (lmax + 1) * (mmax + 1)};
}

at::Tensor legendre_analysis(const std::shared_ptr<const LegendrePlan>& plan, const at::Tensor& ring);

at::Tensor legendre_synthesis(const std::shared_ptr<const LegendrePlan>& plan, const at::Tensor& alm) {
  return apply_linear(
      alm,
      [&](const at::Tensor& a) {
        const int64_t n = a.size(0);
        at::Tensor out = at::empty({plan->mmax() + 1, plan->rings(), n, 2}, a.options());
        plan->synthesis(a.data_ptr<double>(), user_strides(plan->lmax(), plan->mmax()), out.data_ptr<double>(), 2 * n);
        return out;
      },
      [plan](const at::Tensor& g) { return legendre_analysis(plan, g); }, "LegendreSynthesisBackward");
}

at::Tensor legendre_analysis(const std::shared_ptr<const LegendrePlan>& plan, const at::Tensor& ring) {
  return apply_linear(
      ring,
      [&](const at::Tensor& f) {
        const int64_t n = f.size(2);
        at::Tensor out = at::empty({n, plan->lmax() + 1, plan->mmax() + 1, 2}, f.options());
        plan->analysis(f.data_ptr<double>(), out.data_ptr<double>(), user_strides(plan->lmax(), plan->mmax()), 2 * n);
        return out;
      },
      [plan](const at::Tensor& g) { return legendre_synthesis(plan, g); }, "LegendreAnalysisBackward");
}

// ---- Fourier stage along rings (RingFourier): maps [n, V] in memory order ↔ F [M+1, R, n, 2] ----

at::Tensor fourier_analysis_adjoint(const std::shared_ptr<const RingFourier>& stage, const at::Tensor& F);

at::Tensor fourier_analysis(const std::shared_ptr<const RingFourier>& stage, const at::Tensor& maps) {
  return apply_linear(
      maps,
      [&](const at::Tensor& x) {
        const int64_t n = x.size(0);
        at::Tensor out = at::empty({stage->mmax() + 1, stage->rings(), n, 2}, x.options());
        stage->analysis(x.data_ptr<double>(), out.data_ptr<double>(), n);
        return out;
      },
      [stage](const at::Tensor& g) { return fourier_analysis_adjoint(stage, g); }, "FourierAnalysisBackward");
}

at::Tensor fourier_analysis_adjoint(const std::shared_ptr<const RingFourier>& stage, const at::Tensor& coefficients) {
  return apply_linear(
      coefficients,
      [&](const at::Tensor& F) {
        const int64_t n = F.size(2);
        at::Tensor out = at::empty({n, stage->points()}, F.options());
        stage->adjoint(F.data_ptr<double>(), out.data_ptr<double>(), n);
        return out;
      },
      [stage](const at::Tensor& g) { return fourier_analysis(stage, g); }, "FourierAnalysisAdjointBackward");
}

// A Fourier stage on the layout's rings; its ring order (a tensor) stays alive as long as the stage.
std::shared_ptr<const RingFourier> fourier_stage(const std::shared_ptr<const RingLayout>& layout, int64_t mmax,
                                                 int64_t points, std::vector<double> ring_factor,
                                                 std::vector<double> order_factor) {
  std::shared_ptr<const int64_t> order;
  if (layout->ring_order.defined()) {
    SPHAERA_CHECK(layout->ring_order.scalar_type() == at::kLong && layout->ring_order.is_contiguous() &&
                      layout->ring_order.numel() == points,
                  "Sht: the grid's ring order must be a contiguous int64 [", points, "] tensor");
    order = std::shared_ptr<const int64_t>(layout, layout->ring_order.data_ptr<int64_t>());
  }
  return std::make_shared<const RingFourier>(layout->rings, std::move(order), mmax, points, std::move(ring_factor),
                                             std::move(order_factor));
}

// ---- shared Legendre plans ----

std::shared_ptr<const LegendrePlan> shared_plan(const std::string& key, const std::vector<double>& theta, int64_t lmax,
                                                bool precompute) {
  static std::mutex mutex;
  static std::map<std::string, std::weak_ptr<const LegendrePlan>> cache;
  std::ostringstream full_key;
  full_key << key << "/lmax=" << lmax << (precompute ? "/tables" : "/recurrence");
  std::lock_guard<std::mutex> lock(mutex);
  if (auto plan = cache[full_key.str()].lock()) return plan;
  auto plan = std::make_shared<const LegendrePlan>(theta, lmax, lmax, precompute);
  cache[full_key.str()] = plan;
  return plan;
}

std::vector<double> ring_thetas(const RingLayout& layout) {
  std::vector<double> theta;
  for (const Ring& r : layout.rings) theta.push_back(r.theta);
  return theta;
}

// Dirichlet kernel Σ_{|k|≤K} e^{ikx} = sin((K + ½)x) / sin(x/2).
double dirichlet(int64_t K, double x) {
  const double s = std::sin(0.5 * x);
  if (std::abs(s) < 1e-8) {  // near a multiple of 2π: sum directly
    double total = 1.0;
    for (int64_t k = 1; k <= K; ++k) total += 2.0 * std::cos(static_cast<double>(k) * x);
    return total;
  }
  return std::sin((static_cast<double>(K) + 0.5) * x) / s;
}

}  // namespace

// The four stages of one implementation (host kernels or tensor operations), wired into one pipeline by
// analysis_packed and synthesis_packed. Layouts: maps [n, V]; F [M+1, R, n, 2]; coefficients [n, L+1, L+1, 2].
struct Sht::Stages {
  std::function<at::Tensor(const at::Tensor&)> fourier_analysis;    // maps → F, quadrature-weighted
  std::function<at::Tensor(const at::Tensor&)> fourier_synthesis;   // F → maps (m > 0 counted twice)
  std::function<at::Tensor(const at::Tensor&)> legendre_analysis;   // F at the analysis nodes → coefficients
  std::function<at::Tensor(const at::Tensor&)> legendre_synthesis;  // coefficients → F at the rings
  at::Tensor torus_even, torus_odd, torus_weight;                   // McEwen–Wiaux: see the constructor
};

std::string to_string(ShtPath path) {
  switch (path) {
    case ShtPath::kHost:
      return "host";
    case ShtPath::kTensor:
      return "tensor";
    default:
      return "auto";
  }
}

ShtPath parse_sht_path(const std::string& name) {
  if (name == "auto") return ShtPath::kAuto;
  if (name == "host") return ShtPath::kHost;
  if (name == "tensor") return ShtPath::kTensor;
  SPHAERA_CHECK(false, "unknown SHT path '", name, "' (known: auto, host, tensor)");
  return ShtPath::kAuto;
}

std::string to_string(ShtMode mode) {
  switch (mode) {
    case ShtMode::kPrecompute:
      return "precompute";
    case ShtMode::kOnTheFly:
      return "on_the_fly";
    default:
      return "auto";
  }
}

ShtMode parse_sht_mode(const std::string& name) {
  if (name == "auto") return ShtMode::kAuto;
  if (name == "precompute") return ShtMode::kPrecompute;
  if (name == "on_the_fly") return ShtMode::kOnTheFly;
  SPHAERA_CHECK(false, "unknown SHT mode '", name, "' (known: auto, precompute, on_the_fly)");
  return ShtMode::kAuto;
}

Sht::~Sht() = default;

Sht::Sht(GridPtr grid, ShtOptions options) : grid_(std::move(grid)), options_(options) {
  SPHAERA_CHECK(grid_ != nullptr, "Sht: grid is null");
  layout_ = grid_->rings();
  SPHAERA_CHECK(layout_ != nullptr, "Sht: the grid ", grid_->key(),
                " has no iso-latitude rings (a partial sky or arbitrary points): a spherical harmonic transform "
                "needs a full-sky ring grid (HEALPix, Gauss-Legendre, Driscoll-Healy, McEwen-Wiaux)");
  const int64_t healpix_nside = full_sky_healpix_nside(*grid_);
  const bool healpix = healpix_nside > 0;
  const int64_t limit = layout_->band_limit;
  if (options.lmax < 0) {
    SPHAERA_CHECK(options.lmax == -1, "Sht: lmax must be ≥ 0 (or −1 for the grid's default), got ", options.lmax);
    lmax_ = limit >= 0 ? limit : (healpix ? 3 * healpix_nside - 1 : 0);
  } else {
    lmax_ = options.lmax;
  }
  SPHAERA_CHECK(limit < 0 || lmax_ <= limit, "Sht: lmax ", lmax_, " exceeds the sampling theorem of ", grid_->key(),
                ": its forward transform is exact up to lmax ", limit);
  SPHAERA_CHECK(lmax_ <= 16384, "Sht: lmax ", lmax_, " is beyond the supported 16384");
  SPHAERA_CHECK(options.iterations >= -1, "Sht: iterations must be ≥ 0, got ", options.iterations);
  if (healpix) {
    iterations_ = options.iterations < 0 ? 3 : options.iterations;
  } else {
    SPHAERA_CHECK(options.iterations <= 0, "Sht: iterations (", options.iterations,
                  ") refine HEALPix transforms only; the forward transform on ", grid_->key(), " is exact");
    iterations_ = 0;
  }
  SPHAERA_CHECK(!options.ring_weights || healpix, "Sht: ring_weights exist for HEALPix only, not for ", grid_->key());
  SPHAERA_CHECK(options.memory_budget >= 0, "Sht: memory_budget must be ≥ 0 bytes, got ", options.memory_budget);

  // Quadrature weight per ring.
  const int64_t R = static_cast<int64_t>(layout_->rings.size());
  std::vector<double> ring_weight(R);
  for (int64_t r = 0; r < R; ++r) ring_weight[r] = layout_->rings[r].weight;
  if (options.ring_weights) ring_weight = healpix_ring_weights(healpix_nside, options.healpy_data_dir);
  // Fourier stages (factors per ring and per order, shared by both implementations): the analysis weights
  // rings by their quadrature (not on McEwen–Wiaux: weights come after the torus step); the synthesis is the
  // adjoint of an analysis that doubles m > 0.
  const std::vector<double> ones_r(R, 1.0);
  std::vector<double> doubling(lmax_ + 1, 2.0);
  doubling[0] = 1.0;
  analysis_factors_ = {layout_->torus_forward ? ones_r : ring_weight, std::vector<double>(lmax_ + 1, 1.0)};
  synthesis_factors_ = {ones_r, doubling};
  analysis_stage_ = fourier_stage(layout_, lmax_, grid_->size(), analysis_factors_.ring, analysis_factors_.order);
  synthesis_stage_ = fourier_stage(layout_, lmax_, grid_->size(), synthesis_factors_.ring, synthesis_factors_.order);

  // Legendre plans: the rings for synthesis; on McEwen–Wiaux, Gauss–Legendre nodes for analysis.
  const std::vector<double> theta = ring_thetas(*layout_);
  std::vector<double> gl_x, gl_w, gl_theta;
  if (layout_->torus_forward) {
    gauss_legendre(lmax_ + 1, gl_x, gl_w);
    for (double x : gl_x) gl_theta.push_back(std::acos(x));
  }
  const int64_t bytes = LegendrePlan::table_bytes(theta, lmax_, lmax_) +
                        (gl_theta.empty() ? 0 : LegendrePlan::table_bytes(gl_theta, lmax_, lmax_));
  mode_ = options.mode != ShtMode::kAuto ? options.mode
                                         : (bytes <= options.memory_budget ? ShtMode::kPrecompute : ShtMode::kOnTheFly);
  const bool precompute = mode_ == ShtMode::kPrecompute;
  synthesis_plan_ = shared_plan(grid_->key(), theta, lmax_, precompute);
  analysis_plan_ = synthesis_plan_;
  if (layout_->torus_forward) {
    analysis_plan_ =
        shared_plan("gauss_legendre_nodes(" + std::to_string(lmax_ + 1) + ")", gl_theta, lmax_, precompute);
    // g(θ_q) = Σ_j T[q, j] g(θ_j): the ring profile of order m, a trigonometric polynomial of degree
    // ≤ L − 1 = lmax, extended to the torus by g(2π − θ) = (−1)^m g(θ) (2L − 1 equispaced samples), then
    // evaluated at the Gauss–Legendre nodes.
    const int64_t L = lmax_ + 1, n = 2 * L - 1, Q = L;
    SPHAERA_CHECK(R == L, "Sht: McEwen-Wiaux grid with ", R, " rings for lmax ", lmax_);
    torus_even_ = at::zeros({Q, R}, at::kDouble);
    torus_odd_ = at::zeros({Q, R}, at::kDouble);
    auto te = torus_even_.accessor<double, 2>();
    auto to = torus_odd_.accessor<double, 2>();
    for (int64_t q = 0; q < Q; ++q) {
      for (int64_t t = 0; t < n; ++t) {
        const double theta_t = M_PI * (2.0 * t + 1.0) / static_cast<double>(n);
        const double d = dirichlet(L - 1, gl_theta[q] - theta_t) / static_cast<double>(n);
        const int64_t j = t < L ? t : n - 1 - t;
        te[q][j] += d;
        to[q][j] += t < L ? d : -d;
      }
    }
    const double nphi = static_cast<double>(layout_->rings[0].nphi);
    torus_weight_ = at::tensor(gl_w, at::kDouble) * (2.0 * M_PI / nphi);
  }
  analysis_theta_ = layout_->torus_forward ? gl_theta : theta;

  auto host = std::make_shared<Stages>();
  host->fourier_analysis = [stage = analysis_stage_](const at::Tensor& x) { return fourier_analysis(stage, x); };
  host->fourier_synthesis = [stage = synthesis_stage_](const at::Tensor& F) {
    return fourier_analysis_adjoint(stage, F);
  };
  host->legendre_analysis = [plan = analysis_plan_](const at::Tensor& F) { return legendre_analysis(plan, F); };
  host->legendre_synthesis = [plan = synthesis_plan_](const at::Tensor& a) { return legendre_synthesis(plan, a); };
  host->torus_even = torus_even_;
  host->torus_odd = torus_odd_;
  host->torus_weight = torus_weight_;
  host_stages_ = std::move(host);
}

int64_t Sht::tensor_table_bytes(int64_t element_size) const {
  int64_t bytes = detail::TensorLegendre::table_bytes(ring_thetas(*layout_), lmax_, element_size);
  if (layout_->torus_forward) bytes += detail::TensorLegendre::table_bytes(analysis_theta_, lmax_, element_size);
  return bytes;
}

bool Sht::tensor_path(const at::Tensor& input) const {
  if (options_.path == ShtPath::kTensor) return true;
  return options_.path == ShtPath::kAuto && !input.device().is_cpu();
}

std::shared_ptr<const Sht::Stages> Sht::tensor_stages(at::Device device, at::ScalarType real_type) const {
  std::ostringstream key;
  key << device << "|" << c10::toString(real_type);
  std::lock_guard<std::mutex> lock(tensor_mutex_);
  if (auto it = tensor_stages_.find(key.str()); it != tensor_stages_.end()) return it->second;
  // Tables on the device when asked for or when they fit the budget; else the recurrence on the device, in
  // blocks of at most a quarter of the budget (and at least two degrees).
  const int64_t bytes = tensor_table_bytes(c10::elementSize(real_type));
  const bool tables =
      options_.mode == ShtMode::kPrecompute || (options_.mode == ShtMode::kAuto && bytes <= options_.memory_budget);
  const int64_t block_bytes = std::max<int64_t>(options_.memory_budget / 4, int64_t{1} << 20);
  auto analysis_fourier = std::make_shared<const detail::TensorRingFourier>(layout_->rings, layout_->ring_order, lmax_,
                                                                            grid_->size(), analysis_factors_.ring,
                                                                            analysis_factors_.order, device, real_type);
  auto synthesis_fourier = std::make_shared<const detail::TensorRingFourier>(
      layout_->rings, layout_->ring_order, lmax_, grid_->size(), synthesis_factors_.ring, synthesis_factors_.order,
      device, real_type);
  auto synthesis_legendre = std::make_shared<const detail::TensorLegendre>(ring_thetas(*layout_), lmax_, device,
                                                                           real_type, tables, block_bytes);
  auto analysis_legendre = layout_->torus_forward ? std::make_shared<const detail::TensorLegendre>(
                                                        analysis_theta_, lmax_, device, real_type, tables, block_bytes)
                                                  : synthesis_legendre;
  auto stages = std::make_shared<Stages>();
  stages->fourier_analysis = [analysis_fourier](const at::Tensor& x) { return analysis_fourier->analysis(x); };
  stages->fourier_synthesis = [synthesis_fourier](const at::Tensor& F) { return synthesis_fourier->adjoint(F); };
  stages->legendre_analysis = [analysis_legendre](const at::Tensor& F) { return analysis_legendre->analysis(F); };
  stages->legendre_synthesis = [synthesis_legendre](const at::Tensor& a) { return synthesis_legendre->synthesis(a); };
  if (layout_->torus_forward) {
    stages->torus_even = torus_even_.to(device, real_type);
    stages->torus_odd = torus_odd_.to(device, real_type);
    stages->torus_weight = torus_weight_.to(device, real_type);
  }
  tensor_stages_[key.str()] = stages;
  return stages;
}

int64_t Sht::table_bytes() const {
  if (mode_ != ShtMode::kPrecompute) return 0;
  int64_t bytes = LegendrePlan::table_bytes(ring_thetas(*layout_), lmax_, lmax_);
  if (analysis_plan_ != synthesis_plan_) {
    std::vector<double> x, w, theta;
    gauss_legendre(lmax_ + 1, x, w);
    for (double v : x) theta.push_back(std::acos(v));
    bytes += LegendrePlan::table_bytes(theta, lmax_, lmax_);
  }
  return bytes;
}

at::Tensor Sht::analysis_packed(const Stages& stages, const at::Tensor& maps) const {
  const int64_t n = maps.size(0), M = lmax_, R = static_cast<int64_t>(layout_->rings.size());
  at::Tensor F = stages.fourier_analysis(maps);  // [M+1, R, n, 2], weighted (not on McEwen–Wiaux)
  if (layout_->torus_forward) {
    const int64_t Q = stages.torus_even.size(0);
    const auto index = at::TensorOptions().dtype(at::kLong).device(F.device());
    at::Tensor flat = F.reshape({M + 1, R, 2 * n});
    at::Tensor at_nodes = at::zeros({M + 1, Q, 2 * n}, F.options());
    at::Tensor even = at::arange(0, M + 1, 2, index), odd = at::arange(1, M + 1, 2, index);
    at_nodes = at_nodes.index_copy(0, even, at::matmul(stages.torus_even, flat.index_select(0, even)));
    if (odd.numel() > 0) {
      at_nodes = at_nodes.index_copy(0, odd, at::matmul(stages.torus_odd, flat.index_select(0, odd)));
    }
    at_nodes = at_nodes * stages.torus_weight.view({1, Q, 1});
    return stages.legendre_analysis(at_nodes.view({M + 1, Q, n, 2}));
  }
  return stages.legendre_analysis(F);
}

at::Tensor Sht::synthesis_packed(const Stages& stages, const at::Tensor& alm) const {
  // f = Re F_0 + 2 Re Σ_{m>0} F_m e^{imφ}: the adjoint of a Fourier analysis whose order factors double m > 0.
  return stages.fourier_synthesis(stages.legendre_synthesis(alm));
}

at::Tensor Sht::forward(const at::Tensor& map) const {
  SPHAERA_CHECK(map.defined() && map.dim() >= 1 && map.size(-1) == grid_->size(), "Sht::forward: maps must be [..., ",
                grid_->size(), "] on ", grid_->key(), ", got ", map.defined() ? map.sizes() : at::IntArrayRef{});
  SPHAERA_CHECK(map.scalar_type() == at::kFloat || map.scalar_type() == at::kDouble,
                "Sht::forward: maps must be float32 or float64, got ", map.scalar_type());
  std::vector<int64_t> batch(map.sizes().begin(), map.sizes().end() - 1);
  batch.push_back(lmax_ + 1);
  batch.push_back(lmax_ + 1);
  const bool tensor = tensor_path(map);
  // The tensor path computes on the maps' device in their dtype; the host kernels in float64 on the CPU.
  const auto stages = tensor ? tensor_stages(map.device(), map.scalar_type()) : host_stages_;
  const at::Tensor x = tensor ? map.reshape({-1, grid_->size()}).contiguous()
                              : map.reshape({-1, grid_->size()}).to(at::kCPU, at::kDouble).contiguous();
  at::Tensor a = analysis_packed(*stages, x);  // [n, L+1, L+1, 2]
  for (int it = 0; it < iterations_; ++it) a = a + analysis_packed(*stages, x - synthesis_packed(*stages, a));
  const auto complex_type = map.scalar_type() == at::kFloat ? at::kComplexFloat : at::kComplexDouble;
  if (tensor) return at::view_as_complex(a).reshape(batch);
  return at::view_as_complex(a).reshape(batch).to(map.device(), complex_type);
}

at::Tensor Sht::inverse(const at::Tensor& alm) const {
  SPHAERA_CHECK(alm.defined() && alm.dim() >= 2 && alm.size(-1) == lmax_ + 1 && alm.size(-2) == lmax_ + 1,
                "Sht::inverse: coefficients must be [..., ", lmax_ + 1, ", ", lmax_ + 1, "] (lmax ", lmax_, "), got ",
                alm.defined() ? alm.sizes() : at::IntArrayRef{});
  SPHAERA_CHECK(alm.is_complex(), "Sht::inverse: coefficients must be complex64 or complex128, got ",
                alm.scalar_type());
  std::vector<int64_t> batch(alm.sizes().begin(), alm.sizes().end() - 2);
  batch.push_back(grid_->size());
  const auto real_type = alm.scalar_type() == at::kComplexFloat ? at::kFloat : at::kDouble;
  if (tensor_path(alm)) {
    const at::Tensor a = at::view_as_real(alm.reshape({-1, lmax_ + 1, lmax_ + 1}).resolve_conj().contiguous());
    return synthesis_packed(*tensor_stages(alm.device(), real_type), a).reshape(batch);
  }
  const at::Tensor a =
      at::view_as_real(alm.reshape({-1, lmax_ + 1, lmax_ + 1}).to(at::kCPU, at::kComplexDouble).contiguous());
  const at::Tensor x = synthesis_packed(*host_stages_, a);
  return x.reshape(batch).to(alm.device(), real_type);
}

namespace {
// The adjoint of a linear map f at y: ∂⟨f(x), y⟩/∂x, by autograd (exact for a linear f).
at::Tensor adjoint_by_autograd(const std::function<at::Tensor(const at::Tensor&)>& f, const at::Tensor& input_like,
                               const at::Tensor& y) {
  at::Tensor x = at::zeros_like(input_like).requires_grad_(true);
  at::AutoGradMode enable(true);
  at::Tensor out = f(x);
  return torch::autograd::grad({out}, {x}, {y}, /*retain_graph=*/false, /*create_graph=*/false)[0];
}
}  // namespace

at::Tensor Sht::forward_adjoint(const at::Tensor& alm) const {
  std::vector<int64_t> shape(alm.sizes().begin(), alm.sizes().end() - 2);
  shape.push_back(grid_->size());
  const auto real_type = alm.scalar_type() == at::kComplexFloat ? at::kFloat : at::kDouble;
  return adjoint_by_autograd([this](const at::Tensor& x) { return forward(x); },
                             at::zeros(shape, alm.options().dtype(real_type)), alm);
}

at::Tensor Sht::inverse_adjoint(const at::Tensor& map) const {
  std::vector<int64_t> shape(map.sizes().begin(), map.sizes().end() - 1);
  shape.push_back(lmax_ + 1);
  shape.push_back(lmax_ + 1);
  const auto complex_type = map.scalar_type() == at::kFloat ? at::kComplexFloat : at::kComplexDouble;
  return adjoint_by_autograd([this](const at::Tensor& a) { return inverse(a); },
                             at::zeros(shape, map.options().dtype(complex_type)), map);
}

std::shared_ptr<const Sht> cached_sht(const GridPtr& grid, const ShtOptions& options) {
  SPHAERA_CHECK(grid != nullptr, "cached_sht: grid is null");
  std::ostringstream key;
  key << grid->key() << "|lmax=" << options.lmax << "|mode=" << to_string(options.mode)
      << "|budget=" << options.memory_budget << "|iter=" << options.iterations << "|weights=" << options.ring_weights
      << "|" << options.healpy_data_dir << "|path=" << to_string(options.path);
  static std::mutex mutex;
  static std::map<std::string, std::weak_ptr<const Sht>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  if (auto plan = cache[key.str()].lock()) return plan;
  auto plan = std::make_shared<const Sht>(grid, options);
  cache[key.str()] = plan;
  return plan;
}

int64_t natural_lmax(const Grid& grid) {
  const auto layout = grid.rings();
  SPHAERA_CHECK(layout != nullptr, "the grid ", grid.key(),
                " has no iso-latitude rings: no spherical harmonic transform");
  if (layout->band_limit >= 0) return layout->band_limit;
  const int64_t nside = full_sky_healpix_nside(grid);
  SPHAERA_CHECK(nside > 0, "natural_lmax: no band limit known for ", grid.key());
  return 2 * nside;
}

}  // namespace sphaera::transforms
