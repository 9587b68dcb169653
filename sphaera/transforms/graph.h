#pragma once
/// DeepSphere graphs on samplings of the sphere, their Laplacians and the rescaling for Chebyshev filters.
/// Definitions: ../shared/design/CONVENTIONS.md ("Graphs"). All matrices are CSR (int32 column indices),
/// float64 values, in the grid's memory order (NEST for HEALPix).
#include <memory>
#include <optional>
#include <string>

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "sphaera/core/sparse.h"
#include "sphaera/transforms/grid.h"

namespace sphaera::transforms {

/// V1: Perraudin et al. 2019 (8 HEALPix neighbours, normalized Laplacian, rescaled by 1.5/(1.02 λmax)).
/// V2: Defferrard et al. 2020 (k nearest neighbours, published kernel widths, combinatorial Laplacian).
enum class GraphConstruction { kV1, kV2 };
enum class LaplacianKind { kCombinatorial, kNormalized };

struct GraphOptions {
  GraphConstruction construction = GraphConstruction::kV2;
  /// Neighbours per vertex for V2: 8, 20, 40 or 60 (the published kernel widths exist for these).
  int k = 8;
  /// Default: normalized for V1, combinatorial for V2.
  std::optional<LaplacianKind> laplacian;
  /// Kernel width σ for V2; default from the published table.
  std::optional<double> kernel_width;

  LaplacianKind laplacian_kind() const;
  /// e.g. "v2,k=8,combinatorial": part of cache keys.
  std::string key() const;
};

GraphConstruction parse_graph_construction(const std::string& text);  ///< "v1" | "v2"
LaplacianKind parse_laplacian_kind(const std::string& text);           ///< "combinatorial" | "normalized"

/// The published V2 kernel width σ for (nside, k); throws InvalidArgument when there is none.
double v2_kernel_width(int64_t nside, int k);

/// Weighted adjacency W (symmetric, zero diagonal) of the chosen construction on `grid`.
core::CsrMatrix adjacency(const Grid& grid, const GraphOptions& options);

/// L = D − W (combinatorial) or I − D^-½ W D^-½ (normalized), diagonal stored.
core::CsrMatrix laplacian(const core::CsrMatrix& w, LaplacianKind kind);

/// Deterministic upper bound of the largest eigenvalue of a symmetric matrix, at most 1% above it:
/// Lanczos from a fixed start vector, run to convergence; top Ritz value plus its residual norm.
double largest_eigenvalue_bound(const core::CsrMatrix& symmetric);

/// V2: 2 L / λ − I. V1: (1.5 / (1.02 λ)) L − I. λ is `lmax` as given.
core::CsrMatrix rescale_laplacian(const core::CsrMatrix& l, double lmax, GraphConstruction construction);

/// The rescaled Laplacian L̂ that Chebyshev layers use, built once per (grid, options, dtype, device) and
/// shared; never stored in checkpoints (it is rebuilt deterministically from the grid and options).
std::shared_ptr<const core::CsrMatrix> cached_rescaled_laplacian(const GridPtr& grid, const GraphOptions& options,
                                                                  c10::ScalarType dtype, c10::Device device);

}  // namespace sphaera::transforms
