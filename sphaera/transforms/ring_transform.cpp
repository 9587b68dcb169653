#include "sphaera/transforms/ring_transform.h"

#include <algorithm>
#include <cmath>
#include <exception>

#include <arr.h>
#include <healpix_base.h>
#include <healpix_data_io.h>

#include "sphaera/core/buffer.h"
#include "sphaera/core/check.h"
#include "sphaera/transforms/fft.h"
#include "sphaera/transforms/legendre.h"

namespace sphaera::transforms {

std::vector<Ring> healpix_rings(int64_t nside) {
  SPHAERA_CHECK(nside >= 1 && nside <= 8192 && (nside & (nside - 1)) == 0,
                "healpix_rings: nside must be a power of two in [1, 8192], got ", nside);
  std::vector<Ring> rings;
  const T_Healpix_Base<int64> base(nside, RING, SET_NSIDE);
  const double weight = 4.0 * M_PI / static_cast<double>(12 * nside * nside);
  for (int64_t r = 1; r <= 4 * nside - 1; ++r) {
    int64_t start = 0, count = 0;
    double theta = 0.0;
    bool shifted = false;
    base.get_ring_info2(r, start, count, theta, shifted);
    rings.push_back(Ring{theta, count, shifted ? M_PI / static_cast<double>(count) : 0.0, start, weight});
  }
  return rings;
}

std::vector<double> healpix_ring_weights(int64_t nside, const std::string& healpy_data_dir) {
  arr<double> w;
  try {
    read_weight_ring(healpy_data_dir, static_cast<int>(nside), w);
  } catch (const std::exception& e) {
    SPHAERA_CHECK(false, "cannot read the HEALPix ring weights for nside ", nside, " from ", healpy_data_dir,
                  " (Debian package healpy-data): ", e.what());
  }
  SPHAERA_CHECK(static_cast<int64_t>(w.size()) == 2 * nside, "the ring weight file for nside ", nside, " in ",
                healpy_data_dir, " has ", w.size(), " values, expected ", 2 * nside);
  const int64_t R = 4 * nside - 1;
  const double base = 4.0 * M_PI / static_cast<double>(12 * nside * nside);
  std::vector<double> weight(R);
  for (int64_t r = 0; r < R; ++r) weight[r] = base * (1.0 + w[r < 2 * nside ? r : R - 1 - r]);
  return weight;
}

namespace {

// Scratch of the calling thread, reused from call to call: fresh large blocks would each cost page faults.
std::vector<double>& thread_scratch(int which) {
  thread_local std::vector<double> buffers[3];
  return buffers[which];
}

// Rings per group: groups are spread over threads, and within one the Legendre layout [m][ring] is read or
// written ring-contiguously for each m.
constexpr int64_t kMaxGroup = 16;

}  // namespace

RingFourier::RingFourier(std::vector<Ring> rings, std::shared_ptr<const int64_t> ring_order, int64_t mmax,
                         int64_t points, std::vector<double> ring_factor, std::vector<double> order_factor)
    : rings_(std::move(rings)),
      ring_order_(std::move(ring_order)),
      mmax_(mmax),
      points_(points),
      ring_factor_(std::move(ring_factor)),
      order_factor_(std::move(order_factor)) {
  SPHAERA_CHECK(
      mmax_ >= 0 && static_cast<int64_t>(order_factor_.size()) == mmax_ + 1 && ring_factor_.size() == rings_.size(),
      "RingFourier: ", rings_.size(), " rings with ", ring_factor_.size(), " ring factors, mmax ", mmax_, " with ",
      order_factor_.size(), " order factors");
  int64_t total = 0;
  for (int64_t r = 0; r < static_cast<int64_t>(rings_.size()); ++r) {
    const Ring& ring = rings_[r];
    SPHAERA_CHECK(ring.nphi >= 1 && ring.first >= 0 && ring.first + ring.nphi <= points_, "RingFourier: ring ", r, " (",
                  ring.nphi, " points from ", ring.first, ") is outside the ", points_, " points");
    total += ring.nphi;
    if (!groups_.empty()) {
      Group& g = groups_.back();
      const Ring& prev = rings_[g.first_ring + g.count - 1];
      if (prev.first + prev.nphi == ring.first && g.count < kMaxGroup) {
        ++g.count;
        g.length += ring.nphi;
        if (g.runs.back().nphi == ring.nphi) {
          ++g.runs.back().count;
        } else {
          g.runs.push_back(Run{r, 1, ring.nphi});
        }
        continue;
      }
    }
    groups_.push_back(Group{r, 1, ring.first, ring.nphi, {Run{r, 1, ring.nphi}}});
  }
  SPHAERA_CHECK(total == points_, "RingFourier: the rings hold ", total, " points, not ", points_);
  // One transform per distinct ring length, built in parallel (O(n) each).
  std::vector<int64_t> lengths;
  for (const Ring& ring : rings_) lengths.push_back(ring.nphi);
  std::sort(lengths.begin(), lengths.end());
  lengths.erase(std::unique(lengths.begin(), lengths.end()), lengths.end());
  std::vector<std::shared_ptr<const RealFft>> plans(lengths.size());
  const int64_t count = static_cast<int64_t>(lengths.size());
#pragma omp parallel for schedule(dynamic, 4) if (count > 8)
  for (int64_t i = 0; i < count; ++i) plans[i] = shared_real_fft(lengths[i]);
  for (const Ring& ring : rings_) {
    const auto at = std::lower_bound(lengths.begin(), lengths.end(), ring.nphi) - lengths.begin();
    fft_.push_back(plans[at]);
  }
}

RingFourier::~RingFourier() = default;

void RingFourier::group_factors(const Group& g, double sign, std::vector<double>& out) const {
  const int64_t M = mmax_;
  out.resize(2 * g.count * (M + 1));
  for (int64_t i = 0; i < g.count; ++i) {
    const int64_t r = g.first_ring + i;
    const double phi0 = rings_[r].phi0;
    // e^{±imφ0}, by multiplication with e^{±iφ0}, re-anchored every 64 orders so that rounding does not
    // accumulate (written out: std::complex's product checks for infinities, several times slower).
    const double step_re = std::cos(phi0), step_im = sign * std::sin(phi0);
    double re = 1.0, im = 0.0;
    double* o = out.data() + 2 * i * (M + 1);
    for (int64_t m = 0; m <= M; ++m) {
      if (phi0 == 0.0) {
        re = 1.0, im = 0.0;
      } else if (m % 64 == 0) {
        const double angle = sign * std::fmod(static_cast<double>(m) * phi0, 2.0 * M_PI);
        re = std::cos(angle), im = std::sin(angle);
      } else {
        const double next_re = re * step_re - im * step_im;
        im = re * step_im + im * step_re;
        re = next_re;
      }
      const double scale = order_factor_[m] * ring_factor_[r];
      o[2 * m] = re * scale;
      o[2 * m + 1] = im * scale;
    }
  }
}

RingFourier::Spectra RingFourier::spectra_of(const Group& g, int64_t n) const {
  Spectra out;
  out.lanes = n >= 2 ? RealFft::lanes() : 1;
  out.groups = (n + out.lanes - 1) / out.lanes;
  for (int64_t i = 0; i < g.count; ++i) {
    const int64_t nphi = rings_[g.first_ring + i].nphi;
    out.nphi.push_back(nphi);
    out.bins.push_back(nphi / 2 + 1);
    out.offset.push_back(out.size);
    out.size += out.groups * out.lanes * 2 * (nphi / 2 + 1);
    out.work = std::max(out.work, out.lanes * (fft_[g.first_ring + i]->work_size() + nphi));
  }
  return out;
}

void RingFourier::analysis(const double* maps, double* F, int64_t n) const {
  const int64_t M = mmax_, R = rings(), V = points_;
  const int64_t* order = ring_order_.get();
  const int64_t ngroups = static_cast<int64_t>(groups_.size());
#pragma omp parallel for schedule(dynamic, 1) if (n * (V + (M + 1) * R) > 100000)
  for (int64_t gi = 0; gi < ngroups; ++gi) {
    const Group& g = groups_[gi];
    const Spectra layout = spectra_of(g, n);
    const std::vector<int64_t>&offset = layout.offset, &bins = layout.bins, &nphi = layout.nphi;
    const int64_t W = layout.lanes;
    std::vector<double>&spectra = thread_scratch(0), &scratch = thread_scratch(1), &factor = thread_scratch(2);
    spectra.resize(layout.size);
    scratch.resize(layout.work);
    group_factors(g, -1.0, factor);
    for (int64_t i = 0; i < g.count; ++i) {
      const Ring& ring = rings_[g.first_ring + i];
      const RealFft& fft = *fft_[g.first_ring + i];
      double* samples = scratch.data() + W * fft.work_size();
      for (int64_t q = 0; q < layout.groups; ++q) {
        double* out = spectra.data() + offset[i] + q * W * 2 * bins[i];
        if (W == 1) {
          const double* x = maps + q * V;
          const double* in = x + ring.first;
          if (order != nullptr) {  // gather the ring's points from memory order
            for (int64_t j = 0; j < ring.nphi; ++j) samples[j] = x[order[ring.first + j]];
            in = samples;
          }
          fft.forward(in, out, scratch.data());
          continue;
        }
        // Maps q·W .. q·W + W − 1 side by side (zeros past the last map), one per lane.
        const int64_t used = std::min(W, n - q * W);
        const double* x = maps + q * W * V;
        for (int64_t j = 0; j < ring.nphi; ++j) {
          const int64_t at = order != nullptr ? order[ring.first + j] : ring.first + j;
          double* s = samples + j * W;
          for (int64_t v = 0; v < used; ++v) s[v] = x[v * V + at];
          for (int64_t v = used; v < W; ++v) s[v] = 0.0;
        }
        fft.forward_lanes(samples, out, scratch.data());
      }
    }
    // A transposition [map group][ring][bin][lane] -> [m][ring][map], each bin read lane-contiguously.
    for (int64_t m = 0; m <= M; ++m) {
      for (int64_t i = 0; i < g.count; ++i) {
        int64_t k = m % nphi[i];
        const double conj = k >= bins[i] ? -1.0 : 1.0;
        if (k >= bins[i]) k = nphi[i] - k;
        const double fr = factor[2 * (i * (M + 1) + m)], fi = factor[2 * (i * (M + 1) + m) + 1];
        const double* src = spectra.data() + offset[i] + 2 * k * W;
        double* dst = F + (m * R + g.first_ring + i) * n * 2;
        for (int64_t q = 0, b = 0; q < layout.groups; ++q) {
          const double* z = src + q * W * 2 * bins[i];
          for (int64_t v = 0; v < W && b < n; ++v, ++b) {
            const double re = z[v], im = conj * z[W + v];
            dst[2 * b] = re * fr - im * fi;
            dst[2 * b + 1] = re * fi + im * fr;
          }
        }
      }
    }
  }
}

void RingFourier::adjoint(const double* F, double* maps, int64_t n) const {
  const int64_t M = mmax_, R = rings(), V = points_;
  const int64_t* order = ring_order_.get();
  const int64_t ngroups = static_cast<int64_t>(groups_.size());
#pragma omp parallel for schedule(dynamic, 1) if (n * (V + (M + 1) * R) > 100000)
  for (int64_t gi = 0; gi < ngroups; ++gi) {
    const Group& g = groups_[gi];
    const Spectra layout = spectra_of(g, n);
    const std::vector<int64_t>&offset = layout.offset, &bins = layout.bins, &nphi = layout.nphi;
    const int64_t W = layout.lanes;
    std::vector<double>&spectra = thread_scratch(0), &scratch = thread_scratch(1), &factor = thread_scratch(2);
    spectra.assign(layout.size, 0.0);
    scratch.resize(layout.work);
    group_factors(g, 1.0, factor);
    // A transposition [m][ring][map] -> [map group][ring][bin][lane], each bin written lane-contiguously.
    for (int64_t m = 0; m <= M; ++m) {
      for (int64_t i = 0; i < g.count; ++i) {
        const int64_t k = m % nphi[i];
        // Where bin k lands in the half spectrum, and how much of v goes there (a real bin takes Re v).
        int64_t bin = k;
        double half = 0.5, conj = 1.0;
        bool real_bin = false;
        if (k == 0 || 2 * k == nphi[i]) {
          half = 1.0, real_bin = true;
        } else if (2 * k > nphi[i]) {
          bin = nphi[i] - k, conj = -1.0;
        }
        const double fr = half * factor[2 * (i * (M + 1) + m)], fi = half * factor[2 * (i * (M + 1) + m) + 1];
        const double* src = F + (m * R + g.first_ring + i) * n * 2;
        double* dst = spectra.data() + offset[i] + 2 * bin * W;
        const double fi_conj = real_bin ? 0.0 : conj * fi, fr_conj = real_bin ? 0.0 : conj * fr;
        for (int64_t q = 0, b = 0; q < layout.groups; ++q) {
          double* z = dst + q * W * 2 * bins[i];
          for (int64_t v = 0; v < W && b < n; ++v, ++b) {
            z[v] += src[2 * b] * fr - src[2 * b + 1] * fi;
            z[W + v] += src[2 * b] * fi_conj + src[2 * b + 1] * fr_conj;
          }
        }
      }
    }
    // The unnormalised backward transform is the sum; real bins hold no imaginary part (it ignores it).
    for (int64_t i = 0; i < g.count; ++i) {
      const Ring& ring = rings_[g.first_ring + i];
      const RealFft& fft = *fft_[g.first_ring + i];
      double* values = scratch.data() + W * fft.work_size();
      for (int64_t q = 0; q < layout.groups; ++q) {
        const double* in = spectra.data() + offset[i] + q * W * 2 * bins[i];
        if (W == 1 && order == nullptr) {
          fft.backward(in, maps + q * V + ring.first, scratch.data());
          continue;
        }
        if (W == 1) {
          fft.backward(in, values, scratch.data());
        } else {
          fft.backward_lanes(in, values, scratch.data());
        }
        const int64_t used = std::min(W, n - q * W);
        double* x = maps + q * W * V;
        for (int64_t j = 0; j < ring.nphi; ++j) {
          const int64_t at = order != nullptr ? order[ring.first + j] : ring.first + j;
          const double* s = values + j * W;
          for (int64_t v = 0; v < used; ++v) x[v * V + at] = s[v];
        }
      }
    }
  }
}

// ---- whole transforms ----

std::shared_ptr<const int64_t> healpix_ring_to_nest(int64_t nside) {
  SPHAERA_CHECK(nside >= 1 && nside <= 8192 && (nside & (nside - 1)) == 0,
                "healpix_ring_to_nest: nside must be a power of two in [1, 8192], got ", nside);
  const int64_t npix = 12 * nside * nside;
  std::shared_ptr<int64_t> order(new int64_t[npix], std::default_delete<int64_t[]>());
  const T_Healpix_Base<int64> base(nside, RING, SET_NSIDE);
  int64_t* o = order.get();
#pragma omp parallel for schedule(static) if (npix > 20000)
  for (int64_t i = 0; i < npix; ++i) o[i] = base.ring2nest(i);
  return order;
}

RingTransform::RingTransform(std::vector<Ring> rings, std::shared_ptr<const int64_t> ring_order, int64_t lmax,
                             bool precompute)
    : lmax_(lmax), points_(0) {
  SPHAERA_CHECK(lmax >= 0, "RingTransform: lmax must be >= 0, got ", lmax);
  SPHAERA_CHECK(!rings.empty(), "RingTransform: no rings");
  const int64_t R = static_cast<int64_t>(rings.size());
  std::vector<double> theta(R), weight(R), ones_r(R, 1.0), ones_m(lmax + 1, 1.0), doubling(lmax + 1, 2.0);
  doubling[0] = 1.0;
  for (int64_t r = 0; r < R; ++r) {
    theta[r] = rings[r].theta;
    weight[r] = rings[r].weight;
    points_ += rings[r].nphi;
  }
  // The synthesis is the adjoint of an analysis without weights that doubles m > 0: f = Re Σ_m c_m F_m e^{imφ}.
  analysis_ = std::make_unique<RingFourier>(rings, ring_order, lmax, points_, weight, ones_m);
  synthesis_ = std::make_unique<RingFourier>(std::move(rings), std::move(ring_order), lmax, points_, ones_r, doubling);
  plan_ = std::make_shared<const LegendrePlan>(std::move(theta), lmax, lmax, precompute);
}

RingTransform::~RingTransform() = default;

void RingTransform::forward(const double* maps, int64_t n, int iterations, double* alm) const {
  SPHAERA_CHECK(iterations >= 0, "RingTransform::forward: iterations must be >= 0, got ", iterations);
  const int64_t L = lmax_ + 1, R = analysis_->rings(), V = points_;
  const AlmStrides strides{2 * L, 2, 2 * L * L};
  core::Buffer<double> F(L * R * n * 2);
  analysis_->analysis(maps, F.data(), n);
  plan_->analysis(F.data(), alm, strides, 2 * n);
  if (iterations == 0) return;
  core::Buffer<double> residual(n * V), correction(n * L * L * 2);
  for (int it = 0; it < iterations; ++it) {
    inverse(alm, n, residual.data());
    for (int64_t i = 0; i < n * V; ++i) residual[i] = maps[i] - residual[i];
    analysis_->analysis(residual.data(), F.data(), n);
    plan_->analysis(F.data(), correction.data(), strides, 2 * n);
    for (int64_t i = 0; i < n * L * L * 2; ++i) alm[i] += correction[i];
  }
}

void RingTransform::inverse(const double* alm, int64_t n, double* maps) const {
  const int64_t L = lmax_ + 1, R = synthesis_->rings();
  core::Buffer<double> F(L * R * n * 2);
  plan_->synthesis(alm, AlmStrides{2 * L, 2, 2 * L * L}, F.data(), 2 * n);
  synthesis_->adjoint(F.data(), maps, n);
}

}  // namespace sphaera::transforms
