#pragma once
/// Internal to the SHT (sht.cpp): its two stages as LibTorch tensor operations, for maps on any device (CUDA
/// above all) in their own dtype. They compute the same linear maps as the plain-array stages (RingFourier,
/// LegendrePlan) with the same layouts, so Sht wires either set into one pipeline; being made of
/// differentiable LibTorch operations (index_select, rfft/irfft, batched matrix products), their backward is
/// autograd's, the exact adjoint. Geometry (index tensors, phase factors, Legendre tables) is built once, on
/// the host, and lives on the device: the transforms themselves never copy to or from the host.
#include <cstdint>
#include <functional>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include "sphaera/transforms/ring_transform.h"

namespace sphaera::transforms::detail {

/// The Fourier stage along rings, as RingFourier: maps [n, V] (memory order) ↔ F [mmax+1, R, n, 2].
///   analysis  F_m(r) = c_m w_r Σ_j f(π(r, j)) e^{−imφ_j}
///   adjoint   f(π(r, j)) = Re Σ_{m≥0} c_m w_r F_m(r) e^{imφ_j}
/// Rings of one length form a group: one rfft (or irfft) of all their points at once; frequencies above
/// the ring's Nyquist bin alias onto bin m mod nphi (conjugated past the half spectrum).
class TensorRingFourier {
 public:
  /// `ring_order`: memory position of each ring-order point (int64 [V], CPU) or undefined for the identity.
  TensorRingFourier(const std::vector<Ring>& rings, const at::Tensor& ring_order, int64_t mmax, int64_t points,
                    const std::vector<double>& ring_factor, const std::vector<double>& order_factor, at::Device device,
                    at::ScalarType real_type);

  at::Tensor analysis(const at::Tensor& maps) const;
  at::Tensor adjoint(const at::Tensor& F) const;

 private:
  struct Group {
    int64_t nphi = 0, count = 0;
    int64_t first_point = 0;  // its points: [first_point, + count·nphi) of grouped order
    int64_t first_row = 0;    // its rings: [first_row, + count) of grouped order
    at::Tensor bins;          // int64 [mmax+1]: half-spectrum bin of each m
    at::Tensor conj_sign;     // real [mmax+1, 2]: (1, ±1), −1 where m lands past the half spectrum
    at::Tensor factor;        // complex [count, mmax+1]: c_m w_r e^{−imφ0_r}
    at::Tensor factor_conj;   // its conjugate
    at::Tensor half_weight;   // real [nphi/2 + 1, 2]: what irfft must see of the folded half spectrum
  };
  std::vector<Group> groups_;
  int64_t mmax_, rings_, points_;
  at::Tensor grouped_points_;  // int64 [V]: memory position of each point in grouped order
  at::Tensor ungroup_points_;  // int64 [V]: position in grouped order of each memory position
  at::Tensor ungroup_rings_;   // int64 [R]: row of grouped order holding each ring
  at::Tensor grouped_rings_;   // int64 [R]: ring of each row of grouped order
};

/// The Legendre stage, as LegendrePlan with mmax = lmax: alm [n, L+1, L+1, 2] ([n, l, m, re/im]) ↔
/// F [L+1, R, n, 2] with F_m(r) = Σ_l λ_lm(θ_r) a_lm, batched over m as matrix products, for one ring of each
/// pair (θ, π − θ) and split by the parity of l + m (λ_lm(π − θ) = (−1)^{l+m} λ_lm(θ)). Two ways to get λ,
/// with the same values as LegendrePlan (to rounding):
///   tables     computed once on the host, kept on the device: memory (L+1)²·P·element;
///   streamed   the recurrence in l run on the device at every call, all m and ring pairs at once, in float64
///              with LegendrePlan's exponent scaling, in blocks of degrees whose tables are used and dropped:
///              memory of one block (`block_bytes`); its backward is the other direction, explicitly.
class TensorLegendre {
 public:
  TensorLegendre(const std::vector<double>& theta, int64_t lmax, at::Device device, at::ScalarType real_type,
                 bool tables, int64_t block_bytes = int64_t{1} << 28);

  at::Tensor synthesis(const at::Tensor& alm) const;  // alm → F
  at::Tensor analysis(const at::Tensor& F) const;     // F → alm (the transpose; zero for l < m)

  /// Bytes the tables take for these rings, band limit and element size.
  static int64_t table_bytes(const std::vector<double>& theta, int64_t lmax, int64_t element_size);

 private:
  at::Tensor synthesis_impl(const at::Tensor& alm) const;
  at::Tensor analysis_impl(const at::Tensor& F) const;
  // Calls visit(first row, even block [L+1, rows, P], odd block [L+1, rows', P]) for blocks of the degrees
  // j = l − m from 0 to lmax (rows j / 2 of the even and odd tables), in the working dtype.
  void for_each_block(const std::function<void(int64_t, const at::Tensor&, const at::Tensor&)>& visit) const;

  int64_t lmax_, rings_, entries_, even_rows_, odd_rows_;
  at::ScalarType real_type_;
  at::Tensor even_, odd_;                // real [L+1, even_rows, P] and [L+1, odd_rows, P]: λ at l = m + 2j (+1)
  at::Tensor north_, south_;             // int64 [P]: ring of each entry (south R: a zero ring, for unpaired rings)
  at::Tensor ring_source_;               // int64 [R]: row of [north; south] ([2P]) holding each ring
  at::Tensor parity_rows_;               // int64 [(L+1)(L+1)]: row of [even; odd; zero] per (m, l)
  at::Tensor even_source_, odd_source_;  // int64: row of [(m, l) flattened; zero] per (m, j)
  // Streamed: float64 on the device.
  int64_t block_ = 0;             // degrees per block (even)
  at::Tensor x_;                  // [1, P]: cos θ
  at::Tensor a_, ab_;             // [L+1 (j), L+1 (m), 1]: recurrence coefficients of degree l = m + j
  at::Tensor seed1_;              // [L+1, 1]: sqrt(2m + 3)
  at::Tensor seed_, seed_scale_;  // [L+1, P]: mantissa and scale of λ_mm
};

}  // namespace sphaera::transforms::detail
