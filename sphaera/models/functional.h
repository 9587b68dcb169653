#pragma once
/// Stateless layer maths on maps [batch, channels, pixels]: the functions behind the modules of models/.
/// Everything here is differentiable with autograd and follows the input's dtype and device.
#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>

#include "sphaera/core/sparse.h"

namespace sphaera::models {

/// Default size of ChebConv's work buffers (see cheb_conv).
constexpr int64_t kChebConvChunkBytes = int64_t{512} << 20;

/// Chebyshev graph convolution (Defferrard et al. 2016, DeepSphere):
///
///   T_0 = x,  T_1 = L̂ x,  T_k = 2 L̂ T_{k-1} − T_{k-2},   out[b, o, v] = Σ_{cin,k} T_k[b, cin, v] W[cin, k, o] +
///   bias[o]
///
/// - `x`: [B, Cin, V].
/// - `rescaled_laplacian`: L̂ [V, V] (spectrum in [−1, 1]), values of x's dtype, on x's device.
/// - `weight`: [Cin, K, Cout]. Flattened to [Cin·K, Cout], row `cin·K + k` holds the coefficients of (T_k x)[cin].
///   (deepsphere-pytorch stores (K, Fin, Fout) but reads it with this same flattening: its weight reshaped to
///   [Fin·K, Fout] is ours reshaped likewise, `ours = theirs.reshape({Fin, K, Fout})`.)
/// - `bias`: [Cout], or an undefined tensor for none.
/// Returns [B, Cout, V]. K = 1 is plain per-pixel mixing (T_0 only, L̂ unused).
/// The recurrence runs on chunks of maps in a [V, maps·Cin] layout (core::spmm_update, three terms alive at a
/// time, work buffers of at most `chunk_bytes` or one map) and each term's mix is added into the output as it comes:
/// one autograd node whose hand-written backward keeps only x and the weight (it recomputes the terms, and takes
/// dx by Clenshaw's recurrence on L̂ᵀ). Memory beyond input, output and gradients is thus bounded at any nside.
/// The output is stored [V, B, Cout] (returned as a [B, Cout, V] view), which the next ChebConv reads in place.
/// When L̂'s values require grad, the recurrence is composed of differentiable core::spmm products instead.
/// The mix runs in x's dtype, also under autocast. Second derivatives are refused (InvalidArgument).
/// `chunk_bytes`: the size of one work buffer (at least one map's [V, Cin] is used whatever it says).
at::Tensor cheb_conv(const at::Tensor& x, const core::CsrMatrix& rescaled_laplacian, const at::Tensor& weight,
                     const at::Tensor& bias, int64_t chunk_bytes = kChebConvChunkBytes);

/// The bytes of the work buffers cheb_conv holds for B maps of V pixels, Cin → Cout channels, elements of
/// `element_size` bytes: forward three of [V, g·Cin], backward four of [V, g·max(Cin, Cout)], g the maps per chunk
/// (as many as fit `chunk_bytes`, at least one, in balanced chunks). On the CPU they are kept between calls, as
/// large as the largest call so far. Beyond them a call holds its output (forward) or input gradient (backward);
/// the autograd node keeps only x and the weight. chebconv_bench checks measured peaks against this.
int64_t cheb_conv_workspace_bytes(int64_t batch, int64_t pixels, int64_t cin, int64_t cout, int64_t element_size,
                                  bool backward, int64_t chunk_bytes = kChebConvChunkBytes);

/// Frees the work buffers cheb_conv keeps on the CPU between calls (per thread, as large as the largest call so
/// far: four of at most `chunk_bytes`, or one map each; a fresh buffer's pages cost more than filling them).
void release_cheb_conv_workspace();

/// How 4 NEST children become their parent.
enum class PoolMode { kMean, kMax };
PoolMode parse_pool_mode(const std::string& text);  ///< "mean" | "max" (throws InvalidArgument otherwise)
std::string to_string(PoolMode mode);

/// Result of a HEALPix pooling: the pooled map and, for max pooling, where each maximum came from.
struct PoolResult {
  at::Tensor values;   ///< [B, C, V/4]
  at::Tensor indices;  ///< int64 [B, C, V/4]: pixel index in [0, V) of each maximum (undefined for mean)
};

/// HEALPix pooling in NEST order: pixels 4p..4p+3 are the children of parent p (also on a partial sky whose
/// parents are complete, see transforms::HealpixGrid::coarsened). `x`: [B, C, V], V a multiple of 4.
/// Max pooling returns the flat pixel index of each maximum (as torch's max_pool1d), for healpix_unpool.
PoolResult healpix_pool(const at::Tensor& x, PoolMode mode);

/// Nearest unpooling: every parent's value copied to its 4 children. [B, C, V] → [B, C, 4V].
at::Tensor healpix_unpool(const at::Tensor& x);

/// Unpooling by the indices of a max pooling (max_unpool): each value goes back to the child it came from,
/// the other 3 children get 0. `x`, `indices`: [B, C, V] → [B, C, 4V].
at::Tensor healpix_unpool(const at::Tensor& x, const at::Tensor& indices);

/// Mean over pixels: [B, C, V] → [B, C]. (HEALPix pixels have equal areas: this is the spherical mean.)
at::Tensor global_avg_pool(const at::Tensor& x);

/// The channel mix of a spectral convolution, one real matrix per degree:
///
///   out[b, o, l, m] = Σ_c weight[c, o, l] alm[b, c, l, m]
///
/// - `alm`: complex [B, Cin, L+1, L+1] in the SHT's layout [l, m] (transforms/sht.h: entries m > l are zero).
/// - `weight`: real [Cin, Cout, L+1], of alm's real type, on its device.
/// Returns complex [B, Cout, L+1, L+1]. On the CPU (float32, float64) one autograd node with a hand-written
/// backward (dalm = the same mix by the transposed weights, dweight[c, o, l] = Re Σ_{b, m} conj(alm) dout) that
/// reads only the entries m ≤ l and writes zeros at m > l: half the data of the square layout, and no
/// permuted copies. Elsewhere (and for other dtypes) LibTorch's einsum, which gives the same numbers on inputs
/// that are zero at m > l. Second derivatives of the CPU node are refused (InvalidArgument).
at::Tensor degree_mix(const at::Tensor& alm, const at::Tensor& weight);

}  // namespace sphaera::models
