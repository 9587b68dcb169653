// degree_mix (functional.h): the per-degree channel mix of SpectralConv, a hand-written CPU node.
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "sphaera/core/check.h"
#include "sphaera/models/functional.h"

namespace sphaera::models {

namespace {

// out[b, o, l, :] = Σ_c w[l, c, o] in[b, c, l, :] on the 2(l+1) doubles m ≤ l of each row (re, im pairs), zeros
// at m > l. in: [B, C, L, L, 2], w: [L, C, O], out: [B, O, L, L, 2], all contiguous. Parallel over (b, l): the
// C rows read stay in cache while the O rows are written.
template <typename T>
void mix_rows(const T* in, const T* w, T* out, int64_t B, int64_t C, int64_t O, int64_t L) {
  const int64_t row = 2 * L, plane = L * row;
  at::parallel_for(0, B * L, 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t b = i / L, l = i % L, used = 2 * (l + 1);
      const T* w_l = w + l * C * O;
      for (int64_t o = 0; o < O; ++o) {
        T* dst = out + (b * O + o) * plane + l * row;
        const T* src = in + b * C * plane + l * row;
        const T w0 = w_l[o];
        for (int64_t j = 0; j < used; ++j) dst[j] = w0 * src[j];
        for (int64_t c = 1; c < C; ++c) {
          const T wc = w_l[c * O + o];
          const T* s = src + c * plane;
          for (int64_t j = 0; j < used; ++j) dst[j] += wc * s[j];
        }
        for (int64_t j = used; j < row; ++j) dst[j] = T(0);
      }
    }
  });
}

// dw[c, o, l] = Σ_b Σ_{j < 2(l+1)} in[b, c, l, j] g[b, o, l, j]. Parallel over l.
template <typename T>
void weight_grad(const T* in, const T* g, T* dw, int64_t B, int64_t C, int64_t O, int64_t L) {
  const int64_t row = 2 * L, plane = L * row;
  at::parallel_for(0, L, 8, [&](int64_t begin, int64_t end) {
    for (int64_t l = begin; l < end; ++l) {
      const int64_t used = 2 * (l + 1);
      for (int64_t c = 0; c < C; ++c) {
        for (int64_t o = 0; o < O; ++o) {
          // kPartial partial sums: a reduction the compiler vectorises without reassociating a single sum.
          constexpr int kPartial = 16;
          T partial[kPartial] = {};
          T sum = T(0);
          for (int64_t b = 0; b < B; ++b) {
            const T* x = in + (b * C + c) * plane + l * row;
            const T* y = g + (b * O + o) * plane + l * row;
            int64_t j = 0;
            for (; j + kPartial <= used; j += kPartial)
              for (int k = 0; k < kPartial; ++k) partial[k] += x[j + k] * y[j + k];
            for (; j < used; ++j) sum += x[j] * y[j];
          }
          for (int k = 0; k < kPartial; ++k) sum += partial[k];
          dw[(c * O + o) * L + l] = sum;
        }
      }
    }
  });
}

// in [B, C, L, L, 2] (real view, contiguous), w [C, O, L] → [B, O, L, L, 2].
at::Tensor mix(const at::Tensor& in, const at::Tensor& w) {
  const int64_t B = in.size(0), C = in.size(1), L = in.size(2), O = w.size(1);
  const at::Tensor w_lco = w.permute({2, 0, 1}).contiguous();  // [L, C, O]: tiny
  at::Tensor out = at::empty({B, O, L, L, 2}, in.options());
  AT_DISPATCH_FLOATING_TYPES(in.scalar_type(), "degree_mix", [&] {
    mix_rows<scalar_t>(in.data_ptr<scalar_t>(), w_lco.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), B, C, O, L);
  });
  return out;
}

class DegreeMixFunction : public torch::autograd::Function<DegreeMixFunction> {
 public:
  // alm: real view [B, C, L, L, 2], weight [C, O, L].
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& alm, const at::Tensor& weight) {
    const at::NoGradGuard no_grad;
    const at::Tensor in = alm.contiguous(), w = weight.contiguous();
    ctx->save_for_backward({in, w});
    return mix(in, w);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    SPHAERA_CHECK(!at::GradMode::is_enabled(),
                  "SpectralConv's degree mix: second derivatives are not supported (backward was called with "
                  "create_graph=true, e.g. for a gradient penalty or double backward)");
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& in = saved[0];
    const at::Tensor& w = saved[1];
    const at::Tensor g = grad_outputs[0].contiguous();
    const int64_t B = in.size(0), C = in.size(1), L = in.size(2), O = w.size(1);
    at::Tensor grad_in, grad_w;
    if (ctx->needs_input_grad(0)) grad_in = mix(g, w.transpose(0, 1));  // the adjoint: Wᵀ per degree
    if (ctx->needs_input_grad(1)) {
      grad_w = at::empty({C, O, L}, w.options());
      AT_DISPATCH_FLOATING_TYPES(in.scalar_type(), "degree_mix_backward", [&] {
        weight_grad<scalar_t>(in.data_ptr<scalar_t>(), g.data_ptr<scalar_t>(), grad_w.data_ptr<scalar_t>(), B, C, O,
                              L);
      });
    }
    return {grad_in, grad_w};
  }
};

}  // namespace

at::Tensor degree_mix(const at::Tensor& alm, const at::Tensor& weight) {
  SPHAERA_CHECK(alm.is_complex() && alm.dim() == 4 && alm.size(2) == alm.size(3),
                "degree_mix: coefficients must be complex [B, Cin, L+1, L+1], got ", alm.scalar_type(), " ",
                alm.sizes());
  SPHAERA_CHECK(!weight.is_complex() && weight.dim() == 3 && weight.size(0) == alm.size(1) &&
                    weight.size(2) == alm.size(2),
                "degree_mix: weight must be real [Cin, Cout, L+1] = [", alm.size(1), ", Cout, ", alm.size(2),
                "], got ", weight.scalar_type(), " ", weight.sizes());
  SPHAERA_CHECK(weight.scalar_type() == c10::toRealValueType(alm.scalar_type()) && weight.device() == alm.device(),
                "degree_mix: weight (", weight.scalar_type(), " on ", weight.device(), ") must be of the coefficients' "
                "real type on their device (", alm.scalar_type(), " on ", alm.device(), ")");
  const at::Tensor real = at::view_as_real(alm);  // [B, Cin, L+1, L+1, 2]
  const bool kernel = alm.device().is_cpu() &&
                      (weight.scalar_type() == at::kFloat || weight.scalar_type() == at::kDouble);
  if (!kernel) return at::view_as_complex(at::einsum("bclmr,col->bolmr", {real, weight}).contiguous());
  return at::view_as_complex(DegreeMixFunction::apply(real, weight));
}

}  // namespace sphaera::models
