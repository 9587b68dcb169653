#include "sphaera/transforms/alm_layout.h"

#include <cmath>
#include <vector>

#include <ATen/ATen.h>

#include "sphaera/core/check.h"

namespace sphaera::transforms {

namespace {

void check_square(const at::Tensor& alm, const char* what) {
  SPHAERA_CHECK(alm.defined(), what, ": alm is an undefined tensor");
  SPHAERA_CHECK(alm.dim() >= 2 && alm.size(-1) == alm.size(-2) && alm.size(-1) >= 1, what,
                ": alm must be [..., lmax+1, lmax+1] (indexed [l, m]), got ", alm.sizes());
}

at::Tensor index_tensor(const std::vector<int64_t>& idx, const at::Device& device) {
  return at::tensor(idx, at::TensorOptions().dtype(at::kLong)).to(device);
}

// x [..., n] → [..., n+1] with a zero appended: the target of every index that means "zero".
at::Tensor pad_zero(const at::Tensor& x) { return at::cat({x, at::zeros_like(x.narrow(-1, 0, 1))}, -1); }

// sizes of x without its last `drop` dims, followed by `tail`.
std::vector<int64_t> batch_sizes(const at::Tensor& x, int64_t drop, std::initializer_list<int64_t> tail) {
  std::vector<int64_t> s(x.sizes().begin(), x.sizes().end() - drop);
  s.insert(s.end(), tail);
  return s;
}

}  // namespace

int64_t healpy_lmax(int64_t nalm) {
  SPHAERA_CHECK(nalm >= 1, "healpy_lmax: ", nalm, " is not a number of coefficients (lmax+1)(lmax+2)/2");
  const auto lmax = static_cast<int64_t>(std::llround((std::sqrt(8.0 * static_cast<double>(nalm) + 1.0) - 3.0) / 2));
  SPHAERA_CHECK(lmax >= 0 && healpy_size(lmax) == nalm, "healpy_lmax: ", nalm,
                " is not (lmax+1)(lmax+2)/2 for any lmax (healpy's number of coefficients for mmax = lmax)");
  return lmax;
}

at::Tensor to_healpy(const at::Tensor& alm) {
  check_square(alm, "to_healpy");
  const int64_t n1 = alm.size(-1);
  const int64_t lmax = n1 - 1;
  std::vector<int64_t> idx(static_cast<size_t>(healpy_size(lmax)));
  for (int64_t m = 0; m <= lmax; ++m) {
    for (int64_t l = m; l <= lmax; ++l) idx[healpy_index(l, m, lmax)] = l * n1 + m;
  }
  return alm.flatten(-2, -1).index_select(-1, index_tensor(idx, alm.device()));
}

at::Tensor from_healpy(const at::Tensor& alm, int64_t lmax) {
  SPHAERA_CHECK(alm.defined() && alm.dim() >= 1, "from_healpy: alm must be [..., nalm], got ",
                alm.defined() ? alm.sizes() : at::IntArrayRef{});
  SPHAERA_CHECK(lmax >= 0, "from_healpy: lmax must be >= 0, got ", lmax);
  SPHAERA_CHECK(alm.size(-1) == healpy_size(lmax), "from_healpy: the last dim holds ", alm.size(-1),
                " coefficients but lmax = ", lmax, " needs (lmax+1)(lmax+2)/2 = ", healpy_size(lmax));
  const int64_t n1 = lmax + 1;
  const int64_t pad = healpy_size(lmax);
  std::vector<int64_t> idx(static_cast<size_t>(n1 * n1), pad);
  for (int64_t l = 0; l <= lmax; ++l) {
    for (int64_t m = 0; m <= l; ++m) idx[l * n1 + m] = healpy_index(l, m, lmax);
  }
  return pad_zero(alm).index_select(-1, index_tensor(idx, alm.device())).view(batch_sizes(alm, 1, {n1, n1}));
}

at::Tensor to_s2fft(const at::Tensor& alm) {
  check_square(alm, "to_s2fft");
  SPHAERA_CHECK(alm.is_complex() || alm.is_floating_point(), "to_s2fft: alm must be complex or floating point, got ",
                alm.scalar_type());
  const int64_t n1 = alm.size(-1);  // s2fft's L
  const int64_t width = 2 * n1 - 1;
  const int64_t pad = n1 * n1;
  std::vector<int64_t> pos(static_cast<size_t>(n1 * width), pad), neg(static_cast<size_t>(n1 * width), pad);
  std::vector<double> sign(static_cast<size_t>(n1 * width), 0.0);
  for (int64_t l = 0; l < n1; ++l) {
    for (int64_t m = -l; m <= l; ++m) {
      const int64_t c = l * width + (n1 - 1 + m);
      if (m >= 0) {
        pos[c] = l * n1 + m;
      } else {
        neg[c] = l * n1 - m;
        sign[c] = (m & 1) ? -1.0 : 1.0;
      }
    }
  }
  const at::Tensor flat = pad_zero(alm.flatten(-2, -1));
  const at::Tensor positive = flat.index_select(-1, index_tensor(pos, alm.device()));
  const at::Tensor negative = at::conj_physical(flat.index_select(-1, index_tensor(neg, alm.device())));
  const at::Tensor signs = at::tensor(sign, at::TensorOptions().dtype(at::kDouble))
                               .to(alm.device(), c10::toRealValueType(alm.scalar_type()));
  return (positive + negative * signs).view(batch_sizes(alm, 2, {n1, width}));
}

at::Tensor from_s2fft(const at::Tensor& flm) {
  SPHAERA_CHECK(flm.defined() && flm.dim() >= 2 && flm.size(-2) >= 1 && flm.size(-1) == 2 * flm.size(-2) - 1,
                "from_s2fft: flm must be [..., L, 2L-1] (indexed [l, L-1+m]), got ",
                flm.defined() ? flm.sizes() : at::IntArrayRef{});
  const int64_t n1 = flm.size(-2);
  const int64_t width = 2 * n1 - 1;
  const int64_t pad = n1 * width;
  std::vector<int64_t> idx(static_cast<size_t>(n1 * n1), pad);
  for (int64_t l = 0; l < n1; ++l) {
    for (int64_t m = 0; m <= l; ++m) idx[l * n1 + m] = l * width + (n1 - 1 + m);
  }
  return pad_zero(flm.flatten(-2, -1))
      .index_select(-1, index_tensor(idx, flm.device()))
      .view(batch_sizes(flm, 2, {n1, n1}));
}

namespace {
// For each real-harmonic index k = l² + l + m: the flat [l, m] position of the complex coefficient it comes
// from, and the factors of its real and imaginary parts (b_k = re·Re a + im·Im a).
struct RealMap {
  std::vector<int64_t> source;
  std::vector<double> re, im;
};

RealMap real_map(int64_t lmax) {
  const int64_t n1 = lmax + 1;
  RealMap r;
  r.source.resize(n1 * n1);
  r.re.assign(n1 * n1, 0.0);
  r.im.assign(n1 * n1, 0.0);
  for (int64_t l = 0; l <= lmax; ++l) {
    r.source[l * l + l] = l * n1;
    r.re[l * l + l] = 1.0;
    for (int64_t m = 1; m <= l; ++m) {
      const double f = std::sqrt(2.0) * ((m & 1) ? -1.0 : 1.0);
      r.source[l * l + l + m] = r.source[l * l + l - m] = l * n1 + m;
      r.re[l * l + l + m] = f;
      r.im[l * l + l - m] = -f;
    }
  }
  return r;
}

at::Tensor factors(const std::vector<double>& f, const at::Tensor& like) {
  return at::tensor(f, at::TensorOptions().dtype(at::kDouble)).to(like.device(), like.scalar_type());
}
}  // namespace

at::Tensor to_real_harmonics(const at::Tensor& alm) {
  check_square(alm, "to_real_harmonics");
  SPHAERA_CHECK(alm.is_complex(), "to_real_harmonics: alm must be complex, got ", alm.scalar_type());
  const int64_t lmax = alm.size(-1) - 1;
  const RealMap r = real_map(lmax);
  const at::Tensor flat = alm.flatten(-2, -1).index_select(-1, index_tensor(r.source, alm.device()));
  const at::Tensor re = at::real(flat), im = at::imag(flat);
  return re * factors(r.re, re) + im * factors(r.im, im);
}

at::Tensor from_real_harmonics(const at::Tensor& coefficients) {
  SPHAERA_CHECK(coefficients.defined() && coefficients.dim() >= 1, "from_real_harmonics: coefficients must be "
                "[..., (lmax+1)²], got ", coefficients.defined() ? coefficients.sizes() : at::IntArrayRef{});
  SPHAERA_CHECK(coefficients.is_floating_point(), "from_real_harmonics: coefficients must be real (float32 or "
                "float64), got ", coefficients.scalar_type());
  const int64_t n = coefficients.size(-1);
  const auto n1 = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(n))));
  SPHAERA_CHECK(n >= 1 && n1 * n1 == n, "from_real_harmonics: the last dim holds ", n,
                " coefficients, not (lmax+1)² for any lmax");
  // a_lm = (b_lm + i b_l,−m · (−1)) / (√2 (−1)^m) for m > 0, a_l0 = b_l0; zero where m > l (index n: a zero).
  std::vector<int64_t> re_src(n1 * n1, n), im_src(n1 * n1, n);
  std::vector<double> re_f(n1 * n1, 0.0), im_f(n1 * n1, 0.0);
  for (int64_t l = 0; l < n1; ++l) {
    re_src[l * n1] = l * l + l;
    re_f[l * n1] = 1.0;
    for (int64_t m = 1; m <= l; ++m) {
      const double f = ((m & 1) ? -1.0 : 1.0) / std::sqrt(2.0);
      re_src[l * n1 + m] = l * l + l + m;
      re_f[l * n1 + m] = f;
      im_src[l * n1 + m] = l * l + l - m;
      im_f[l * n1 + m] = -f;
    }
  }
  const at::Tensor b = pad_zero(coefficients);
  const at::Tensor re = b.index_select(-1, index_tensor(re_src, b.device())) * factors(re_f, b);
  const at::Tensor im = b.index_select(-1, index_tensor(im_src, b.device())) * factors(im_f, b);
  return at::complex(re, im).view(batch_sizes(coefficients, 1, {n1, n1}));
}

}  // namespace sphaera::transforms
