#include "sphaera/transforms/sht_tensor.h"

#include <cmath>
#include <complex>
#include <map>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "sphaera/core/check.h"
#include "sphaera/transforms/legendre.h"
#include "sphaera/transforms/linear_node.h"

namespace sphaera::transforms::detail {

namespace {

at::Tensor long_tensor(const std::vector<int64_t>& v, at::Device device) {
  return at::tensor(v, at::TensorOptions().dtype(at::kLong)).to(device);
}

// Real [rows, 2] from (re, im) pairs, on the device in the real type.
at::Tensor pairs_tensor(const std::vector<double>& v, at::Device device, at::ScalarType real_type) {
  return at::tensor(v, at::TensorOptions().dtype(at::kDouble)).view({-1, 2}).to(device, real_type);
}

}  // namespace

// ---- Fourier stage ----

TensorRingFourier::TensorRingFourier(const std::vector<Ring>& rings, const at::Tensor& ring_order, int64_t mmax,
                                     int64_t points, const std::vector<double>& ring_factor,
                                     const std::vector<double>& order_factor, at::Device device,
                                     at::ScalarType real_type)
    : mmax_(mmax), rings_(static_cast<int64_t>(rings.size())), points_(points) {
  SPHAERA_CHECK(ring_factor.size() == rings.size() && static_cast<int64_t>(order_factor.size()) == mmax + 1,
                "TensorRingFourier: ", rings.size(), " rings with ", ring_factor.size(), " factors, mmax ", mmax,
                " with ", order_factor.size(), " order factors");
  at::Tensor order_cpu;
  const int64_t* order = nullptr;
  if (ring_order.defined()) {
    order_cpu = ring_order.to(at::kCPU, at::kLong).contiguous();
    SPHAERA_CHECK(order_cpu.numel() == points, "TensorRingFourier: ring order of ", order_cpu.numel(), " points for ",
                  points);
    order = order_cpu.data_ptr<int64_t>();
  }
  // Rings grouped by length, groups in order of first appearance, rings north to south within a group.
  std::vector<int64_t> lengths;
  std::map<int64_t, std::vector<int64_t>> members;
  for (int64_t r = 0; r < rings_; ++r) {
    if (members[rings[r].nphi].empty()) lengths.push_back(rings[r].nphi);
    members[rings[r].nphi].push_back(r);
  }
  const auto complex_type = c10::toComplexType(real_type);
  std::vector<int64_t> grouped_points, ungroup_rings(rings_);
  int64_t row = 0;
  for (int64_t nphi : lengths) {
    const auto& rs = members[nphi];
    Group g;
    g.nphi = nphi;
    g.count = static_cast<int64_t>(rs.size());
    g.first_point = static_cast<int64_t>(grouped_points.size());
    g.first_row = row;
    const int64_t half = nphi / 2;
    std::vector<int64_t> bins(mmax + 1);
    std::vector<double> conj_sign(2 * (mmax + 1)), half_weight(2 * (half + 1));
    for (int64_t m = 0; m <= mmax; ++m) {
      const int64_t k = m % nphi;
      const bool folded = k > half;  // bin nphi − k, conjugated (the spectrum of a real ring is Hermitian)
      bins[m] = folded ? nphi - k : k;
      conj_sign[2 * m] = 1.0;
      conj_sign[2 * m + 1] = folded ? -1.0 : 1.0;
    }
    // f = nphi · irfft(C): C_0 = A_0, C_k = A_k / 2 inside, C_{nphi/2} = A_{nphi/2}; the imaginary parts of
    // C_0 and C_{nphi/2} (which irfft would ignore) are zeroed.
    for (int64_t k = 0; k <= half; ++k) {
      const bool edge = k == 0 || 2 * k == nphi;
      half_weight[2 * k] = edge ? 1.0 : 0.5;
      half_weight[2 * k + 1] = edge ? 0.0 : 0.5;
    }
    std::vector<std::complex<double>> factor(g.count * (mmax + 1));
    for (int64_t i = 0; i < g.count; ++i) {
      const Ring& ring = rings[rs[i]];
      for (int64_t j = 0; j < nphi; ++j) {
        grouped_points.push_back(order ? order[ring.first + j] : ring.first + j);
      }
      for (int64_t m = 0; m <= mmax; ++m) {
        factor[i * (mmax + 1) + m] =
            order_factor[m] * ring_factor[rs[i]] * std::polar(1.0, -static_cast<double>(m) * ring.phi0);
      }
      ungroup_rings[rs[i]] = row++;
    }
    g.bins = long_tensor(bins, device);
    g.conj_sign = pairs_tensor(conj_sign, device, real_type);
    g.half_weight = pairs_tensor(half_weight, device, real_type);
    g.factor = at::tensor(at::ArrayRef<c10::complex<double>>(
                              reinterpret_cast<const c10::complex<double>*>(factor.data()), factor.size()),
                          at::TensorOptions().dtype(at::kComplexDouble))
                   .view({g.count, mmax + 1})
                   .to(device, complex_type);
    g.factor_conj = g.factor.conj().resolve_conj();
    groups_.push_back(std::move(g));
  }
  SPHAERA_CHECK(static_cast<int64_t>(grouped_points.size()) == points, "TensorRingFourier: the rings hold ",
                grouped_points.size(), " points, the grid ", points);
  std::vector<int64_t> ungroup_points(points, -1), grouped_rings(rings_);
  for (int64_t p = 0; p < points; ++p) ungroup_points[grouped_points[p]] = p;
  for (int64_t r = 0; r < rings_; ++r) grouped_rings[ungroup_rings[r]] = r;
  grouped_points_ = long_tensor(grouped_points, device);
  ungroup_points_ = long_tensor(ungroup_points, device);
  ungroup_rings_ = long_tensor(ungroup_rings, device);
  grouped_rings_ = long_tensor(grouped_rings, device);
}

at::Tensor TensorRingFourier::analysis(const at::Tensor& maps) const {
  const int64_t n = maps.size(0);
  const at::Tensor x = maps.index_select(1, grouped_points_);  // [n, V] in grouped order
  std::vector<at::Tensor> parts;
  parts.reserve(groups_.size());
  for (const Group& g : groups_) {
    const at::Tensor xg = x.narrow(1, g.first_point, g.count * g.nphi).reshape({n, g.count, g.nphi});
    const at::Tensor spectrum = at::fft_rfft(xg, g.nphi, -1);  // [n, count, nphi/2 + 1]
    const at::Tensor at_m = at::view_as_complex(at::view_as_real(spectrum.index_select(2, g.bins)) * g.conj_sign);
    parts.push_back(at_m * g.factor);  // [n, count, mmax + 1]
  }
  const at::Tensor F = at::cat(parts, 1).index_select(1, ungroup_rings_);  // [n, R, mmax + 1], ring order
  return at::view_as_real(F.permute({2, 1, 0}).contiguous());
}

at::Tensor TensorRingFourier::adjoint(const at::Tensor& F) const {
  SPHAERA_CHECK(F.dim() == 4 && F.size(0) == mmax_ + 1 && F.size(1) == rings_ && F.size(3) == 2,
                "TensorRingFourier: F must be [", mmax_ + 1, ", ", rings_, ", n, 2], got ", F.sizes());
  const int64_t n = F.size(2);
  const at::Tensor Fc = at::view_as_complex(F.contiguous()).permute({2, 1, 0}).index_select(1, grouped_rings_);
  std::vector<at::Tensor> parts;
  parts.reserve(groups_.size());
  for (const Group& g : groups_) {
    const at::Tensor weighted = Fc.narrow(1, g.first_row, g.count) * g.factor_conj;  // c_m w_r e^{imφ0} F
    const at::Tensor signed_m = at::view_as_real(weighted) * g.conj_sign;            // [n, count, M+1, 2]
    // Fold the orders onto the ring's half spectrum, then back to samples.
    const at::Tensor folded =
        at::zeros({n, g.count, g.nphi / 2 + 1, 2}, signed_m.options()).index_add(2, g.bins, signed_m);
    const at::Tensor half = at::view_as_complex(folded * g.half_weight);
    parts.push_back((at::fft_irfft(half, g.nphi, -1) * static_cast<double>(g.nphi)).reshape({n, g.count * g.nphi}));
  }
  return at::cat(parts, 1).index_select(1, ungroup_points_);
}

// ---- Legendre stage ----

namespace {

// Ring pairs (θ, π − θ): entry p holds a northern ring and its southern partner, or `rings` (a zero ring)
// when it has none.
void pair_rings(const std::vector<double>& theta, std::vector<int64_t>& north, std::vector<int64_t>& south) {
  const int64_t R = static_cast<int64_t>(theta.size());
  std::vector<bool> taken(R, false);
  for (int64_t i = 0; i < R; ++i) {
    if (taken[i]) continue;
    taken[i] = true;
    const int64_t j = R - 1 - i;
    north.push_back(i);
    if (j > i && !taken[j] && std::abs(theta[i] + theta[j] - M_PI) < 1e-12) {
      taken[j] = true;
      south.push_back(j);
    } else {
      south.push_back(R);
    }
  }
}

}  // namespace

int64_t TensorLegendre::table_bytes(const std::vector<double>& theta, int64_t lmax, int64_t element_size) {
  std::vector<int64_t> north, south;
  pair_rings(theta, north, south);
  return (lmax + 1) * (lmax + 1) * static_cast<int64_t>(north.size()) * element_size;
}

namespace {
// As LegendrePlan: mantissa · 2^(800·scale), scale ≤ 0; a mantissa past 2^400 moves one scale up; values still
// scaled (below about 2^-400) count as 0.
constexpr double kScaleStep = 800;
constexpr double kBig = 0x1p400;
constexpr double kShrink = 0x1p-800;
}  // namespace

TensorLegendre::TensorLegendre(const std::vector<double>& theta, int64_t lmax, at::Device device,
                               at::ScalarType real_type, bool tables, int64_t block_bytes)
    : lmax_(lmax), rings_(static_cast<int64_t>(theta.size())), real_type_(real_type) {
  std::vector<int64_t> north, south;
  pair_rings(theta, north, south);
  entries_ = static_cast<int64_t>(north.size());
  const int64_t L = lmax + 1, P = entries_;
  even_rows_ = lmax / 2 + 1;
  odd_rows_ = (lmax + 1) / 2;
  if (tables) {
    // Built on the host directly in the target precision (at lmax 2048 the float32 tables alone are 34 GB).
    at::Tensor even = at::zeros({L, even_rows_, P}, at::TensorOptions().dtype(real_type));
    at::Tensor odd = at::zeros({L, odd_rows_, P}, at::TensorOptions().dtype(real_type));
    AT_DISPATCH_FLOATING_TYPES(real_type, "TensorLegendre_tables", [&] {
      scalar_t* e = even.data_ptr<scalar_t>();
      scalar_t* o = odd.data_ptr<scalar_t>();
      at::parallel_for(0, P, 1, [&](int64_t begin, int64_t end) {
        for (int64_t p = begin; p < end; ++p) {
          const std::vector<double> lambda = LegendrePlan::values(theta[north[p]], lmax);  // [l][m]
          for (int64_t m = 0; m <= lmax; ++m) {
            for (int64_t l = m; l <= lmax; ++l) {
              const auto v = static_cast<scalar_t>(lambda[l * L + m]);
              const int64_t j = (l - m) / 2;
              if ((l - m) % 2 == 0) {
                e[(m * even_rows_ + j) * P + p] = v;
              } else {
                o[(m * odd_rows_ + j) * P + p] = v;
              }
            }
          }
        }
      });
    });
    even_ = even.to(device);
    odd_ = odd.to(device);
  } else {
    const auto f64 = at::TensorOptions().dtype(at::kDouble);
    std::vector<double> x(P), seed(L * P), seed_scale(L * P), seed1(L), a(L * L, 0.0), ab(L * L, 0.0);
    const std::vector<double> log2_seed = LegendrePlan::log2_seeds(lmax);
    for (int64_t p = 0; p < P; ++p) x[p] = std::cos(theta[north[p]]);
    std::vector<double> am, abm;
    for (int64_t m = 0; m <= lmax; ++m) {
      seed1[m] = std::sqrt(2.0 * static_cast<double>(m) + 3.0);
      LegendrePlan::recurrence(m, lmax, am, abm);
      for (int64_t l = m + 2; l <= lmax; ++l) {
        a[(l - m) * L + m] = am[l];
        ab[(l - m) * L + m] = abm[l];
      }
      const double sign = (m & 1) ? -1.0 : 1.0;
      for (int64_t p = 0; p < P; ++p) {
        const double sin_theta = std::sin(theta[north[p]]);
        if (m > 0 && sin_theta == 0.0) continue;  // poles: λ_lm = 0 for m > 0 (mantissa 0, scale 0)
        const double e = log2_seed[m] + (m > 0 ? static_cast<double>(m) * std::log2(sin_theta) : 0.0);
        const double scale = std::min(0.0, std::ceil(e / kScaleStep));
        seed[m * P + p] = sign * std::exp2(e - kScaleStep * scale);
        seed_scale[m * P + p] = scale;
      }
    }
    x_ = at::tensor(x, f64).view({1, P}).to(device);
    seed_ = at::tensor(seed, f64).view({L, P}).to(device);
    seed_scale_ = at::tensor(seed_scale, f64).view({L, P}).to(device);
    seed1_ = at::tensor(seed1, f64).view({L, 1}).to(device);
    a_ = at::tensor(a, f64).view({L, L, 1}).to(device);
    ab_ = at::tensor(ab, f64).view({L, L, 1}).to(device);
    const int64_t per_degree = std::max<int64_t>(1, L * P * 8);
    block_ = std::clamp<int64_t>(block_bytes / per_degree, 2, L + 1) / 2 * 2;
  }
  north_ = long_tensor(north, device);
  south_ = long_tensor(south, device);
  std::vector<int64_t> ring_source(rings_, -1);
  for (int64_t p = 0; p < P; ++p) {
    ring_source[north[p]] = p;
    if (south[p] < rings_) ring_source[south[p]] = P + p;
  }
  ring_source_ = long_tensor(ring_source, device);
  // Analysis output rows: (m, l) ← row of [even (m, j); odd (m, j); zero] with rows per m = even + odd.
  const int64_t per_m = even_rows_ + odd_rows_;
  std::vector<int64_t> parity_rows(L * L);
  for (int64_t m = 0; m <= lmax; ++m) {
    for (int64_t l = 0; l <= lmax; ++l) {
      int64_t src = L * per_m;  // the zero row
      if (l >= m) src = m * per_m + ((l - m) % 2 == 0 ? (l - m) / 2 : even_rows_ + (l - m - 1) / 2);
      parity_rows[m * L + l] = src;
    }
  }
  parity_rows_ = long_tensor(parity_rows, device);
  // Synthesis inputs: (m, j) ← row (m, l = m + 2j (+1)) of the [m][l] coefficients, or the zero row past lmax.
  std::vector<int64_t> even_source(L * even_rows_), odd_source(L * odd_rows_);
  for (int64_t m = 0; m <= lmax; ++m) {
    for (int64_t j = 0; j < even_rows_; ++j) {
      const int64_t l = m + 2 * j;
      even_source[m * even_rows_ + j] = l <= lmax ? m * L + l : L * L;
    }
    for (int64_t j = 0; j < odd_rows_; ++j) {
      const int64_t l = m + 2 * j + 1;
      odd_source[m * odd_rows_ + j] = l <= lmax ? m * L + l : L * L;
    }
  }
  even_source_ = long_tensor(even_source, device);
  odd_source_ = long_tensor(odd_source, device);
}

void TensorLegendre::for_each_block(
    const std::function<void(int64_t, const at::Tensor&, const at::Tensor&)>& visit) const {
  const int64_t L = lmax_ + 1;
  at::Tensor prev, cur = seed_, scale = seed_scale_.clone();
  at::Tensor live = scale.eq(0).to(at::kDouble);
  for (int64_t j0 = 0; j0 < L; j0 += block_) {
    const int64_t j1 = std::min(L, j0 + block_);
    at::Tensor block = at::empty({j1 - j0, L, entries_}, seed_.options());
    for (int64_t j = j0; j < j1; ++j) {
      if (j == 1) {
        prev = cur;
        cur = cur * x_ * seed1_;
      } else if (j >= 2) {
        at::Tensor next = cur * (x_ * a_[j]) - prev * ab_[j];
        prev = std::move(cur);
        cur = std::move(next);
      }
      if (j % 4 == 1) {
        // Every 4 degrees (growth between checks stays below 2^40: a_l + ab_l ≤ 2 sqrt(2l)), lanes past 2^400
        // move one scale up; done with where(), so that no step waits for the host.
        const at::Tensor grow = prev.abs().gt(kBig).logical_or_(cur.abs().gt(kBig));
        prev = at::where(grow, prev * kShrink, prev);
        cur = at::where(grow, cur * kShrink, cur);
        scale = scale + grow.to(at::kDouble);
        live = scale.eq(0).to(at::kDouble);
      }
      at::Tensor row = block.select(0, j - j0);
      at::mul_out(row, cur, live);
    }
    // j0 is even: even degrees j0, j0 + 2, ... are rows j0 / 2 on of the even table, odd ones of the odd table.
    const int64_t n = j1 - j0;
    const at::Tensor even = block.slice(0, 0, n, 2).permute({1, 0, 2}).to(real_type_).contiguous();
    const at::Tensor odd = block.slice(0, 1, n, 2).permute({1, 0, 2}).to(real_type_).contiguous();
    visit(j0 / 2, even, odd);
  }
}

at::Tensor TensorLegendre::synthesis(const at::Tensor& alm) const {
  if (even_.defined()) return synthesis_impl(alm);
  return apply_linear(
      alm, [this](const at::Tensor& a) { return synthesis_impl(a); },
      [this](const at::Tensor& g) { return analysis(g); }, "TensorLegendreSynthesisBackward");
}

at::Tensor TensorLegendre::analysis(const at::Tensor& F) const {
  if (even_.defined()) return analysis_impl(F);
  return apply_linear(
      F, [this](const at::Tensor& f) { return analysis_impl(f); }, [this](const at::Tensor& g) { return synthesis(g); },
      "TensorLegendreAnalysisBackward");
}

at::Tensor TensorLegendre::synthesis_impl(const at::Tensor& alm) const {
  const int64_t L = lmax_ + 1;
  SPHAERA_CHECK(alm.dim() == 4 && alm.size(1) == L && alm.size(2) == L && alm.size(3) == 2,
                "TensorLegendre: coefficients must be [n, ", L, ", ", L, ", 2], got ", alm.sizes());
  const int64_t n = alm.size(0);
  // [m][l] rows of 2n columns, and a zero row.
  const at::Tensor rows =
      at::cat({alm.permute({2, 1, 0, 3}).reshape({L * L, 2 * n}), at::zeros({1, 2 * n}, alm.options())});
  const at::Tensor a_even = rows.index_select(0, even_source_).view({L, even_rows_, 2 * n});
  const at::Tensor a_odd = rows.index_select(0, odd_source_).view({L, odd_rows_, 2 * n});
  at::Tensor E, O;  // [L, P, 2n]
  if (even_.defined()) {
    E = at::bmm(even_.transpose(1, 2), a_even);
    O = at::bmm(odd_.transpose(1, 2), a_odd);
  } else {
    E = at::zeros({L, entries_, 2 * n}, alm.options());
    O = at::zeros({L, entries_, 2 * n}, alm.options());
    for_each_block([&](int64_t row, const at::Tensor& even, const at::Tensor& odd) {
      E.baddbmm_(even.transpose(1, 2), a_even.narrow(1, row, even.size(1)));
      if (odd.size(1) > 0) O.baddbmm_(odd.transpose(1, 2), a_odd.narrow(1, row, odd.size(1)));
    });
  }
  const at::Tensor F = at::cat({E + O, E - O}, 1).index_select(1, ring_source_);  // north: E + O, south: E − O
  return F.view({L, rings_, n, 2});
}

at::Tensor TensorLegendre::analysis_impl(const at::Tensor& F) const {
  const int64_t L = lmax_ + 1;
  SPHAERA_CHECK(F.dim() == 4 && F.size(0) == L && F.size(1) == rings_ && F.size(3) == 2, "TensorLegendre: F must be [",
                L, ", ", rings_, ", n, 2], got ", F.sizes());
  const int64_t n = F.size(2);
  const at::Tensor padded = at::cat({F.reshape({L, rings_, 2 * n}), at::zeros({L, 1, 2 * n}, F.options())}, 1);
  const at::Tensor Fn = padded.index_select(1, north_);
  const at::Tensor Fs = padded.index_select(1, south_);
  const at::Tensor S = Fn + Fs, D = Fn - Fs;
  at::Tensor a_even, a_odd;  // [L, even_rows, 2n], [L, odd_rows, 2n]
  if (even_.defined()) {
    a_even = at::bmm(even_, S);
    a_odd = at::bmm(odd_, D);
  } else {
    std::vector<at::Tensor> evens, odds;
    for_each_block([&](int64_t, const at::Tensor& even, const at::Tensor& odd) {
      evens.push_back(at::bmm(even, S));
      if (odd.size(1) > 0) odds.push_back(at::bmm(odd, D));
    });
    a_even = at::cat(evens, 1);
    a_odd = odds.empty() ? at::zeros({L, 0, 2 * n}, F.options()) : at::cat(odds, 1);
  }
  const at::Tensor rows = at::cat(
      {at::cat({a_even, a_odd}, 1).reshape({L * (even_rows_ + odd_rows_), 2 * n}), at::zeros({1, 2 * n}, F.options())});
  return rows.index_select(0, parity_rows_).view({L, L, n, 2}).permute({2, 1, 0, 3}).contiguous();
}

}  // namespace sphaera::transforms::detail
