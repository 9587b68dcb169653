#pragma once
/// Converters between Sphaera's layout of spherical-harmonic coefficients and the peers' layouts.
///
/// Sphaera: coefficients of real maps as [..., lmax+1, lmax+1] indexed [l, m], 0 ≤ m ≤ l ≤ lmax, entries with
/// m > l zero; negative m implied by a_{l,−m} = (−1)^m conj(a_{lm}).
/// healpy: [..., nalm], nalm = (lmax+1)(lmax+2)/2 (mmax = lmax), index m·(2·lmax+1−m)/2 + l (m-major).
/// s2fft: [..., L, 2L−1], L = lmax+1, flm[l, L−1+m] for −l ≤ m ≤ l, zero where |m| > l.
/// Real harmonics: [..., (lmax+1)²], index l² + l + m for −l ≤ m ≤ l (the flat layout of e3nn and most real-
/// basis codes), coefficients b_lm of the orthonormal real basis
///   Y_l0 = λ_l0(θ),  Y_lm = √2 (−1)^m λ_lm(θ) cos mφ,  Y_l,−m = √2 (−1)^m λ_lm(θ) sin mφ  (m > 0),
/// i.e. √2 (−1)^m Re / Im of the complex Y_lm: the Condon–Shortley phase of the complex harmonics cancels, so
/// that Y_11 ∝ x, Y_1,−1 ∝ y, Y_10 ∝ z. A real map is Σ b_lm Y_lm = Σ a_lm Y_lm (complex, all m) when
///   b_l0 = Re a_l0,  b_lm = √2 (−1)^m Re a_lm,  b_l,−m = −√2 (−1)^m Im a_lm  (m > 0),
/// and Σ b² = Σ_l (|a_l0|² + 2 Σ_{m>0} |a_lm|²) = ∫ f² (the map is an isometry).
///
/// All converters are pure index operations (plus a conjugation for s2fft's negative m): they keep dtype and
/// device, and are differentiable through autograd.
#include <cstdint>

#include <ATen/core/Tensor.h>

namespace sphaera::transforms {

/// healpy's 1-D index of (l, m) for mmax = lmax: m·(2·lmax+1−m)/2 + l (healpy.Alm.getidx).
inline int64_t healpy_index(int64_t l, int64_t m, int64_t lmax) { return m * (2 * lmax + 1 - m) / 2 + l; }

/// healpy's number of coefficients for mmax = lmax: (lmax+1)(lmax+2)/2 (healpy.Alm.getsize).
inline int64_t healpy_size(int64_t lmax) { return (lmax + 1) * (lmax + 2) / 2; }

/// lmax from healpy's number of coefficients (healpy.Alm.getlmax); throws InvalidArgument when `nalm` is not
/// (lmax+1)(lmax+2)/2 for any lmax ≥ 0.
int64_t healpy_lmax(int64_t nalm);

/// [..., lmax+1, lmax+1] → healpy's [..., (lmax+1)(lmax+2)/2] (entries with m > l are dropped).
at::Tensor to_healpy(const at::Tensor& alm);

/// healpy's [..., (lmax+1)(lmax+2)/2] → [..., lmax+1, lmax+1] (zeros where m > l). Throws InvalidArgument
/// when the last dim does not match lmax.
at::Tensor from_healpy(const at::Tensor& alm, int64_t lmax);

/// [..., lmax+1, lmax+1] → s2fft's [..., L, 2L−1], L = lmax+1: flm[l, L−1+m] = a_{lm} for m ≥ 0,
/// (−1)^m conj(a_{l,|m|}) for m < 0, zero where |m| > l. `alm` must be floating point or complex.
at::Tensor to_s2fft(const at::Tensor& alm);

/// s2fft's [..., L, 2L−1] → [..., L, L]: the m ≥ 0 half, flm[l, L−1+m] for m ≤ l (zeros where m > l). The
/// negative m are not read (for coefficients of real maps they are implied).
at::Tensor from_s2fft(const at::Tensor& flm);

/// [..., lmax+1, lmax+1] (complex) → real harmonics [..., (lmax+1)²] (real of the matching precision), as above
/// (the imaginary part of a_l0, zero for a real map, is not read).
at::Tensor to_real_harmonics(const at::Tensor& alm);

/// Real harmonics [..., (lmax+1)²] (float32/float64) → [..., lmax+1, lmax+1] (complex64/complex128; zeros where
/// m > l). Throws InvalidArgument when the last dim is not a square.
at::Tensor from_real_harmonics(const at::Tensor& coefficients);

}  // namespace sphaera::transforms
