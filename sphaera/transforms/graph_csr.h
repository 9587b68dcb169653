#pragma once
/// DeepSphere graphs on plain arrays (no LibTorch): their options, the V1 and V2 constructions with their
/// Laplacians, and the bound of the largest eigenvalue. graph.h offers the same on grids and tensors (and the
/// definitions, after ../shared/design/CONVENTIONS.md "Graphs"); the torch-free `sphaera graph` calls this.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "sphaera/core/csr_arrays.h"
#include "sphaera/transforms/knn_search.h"

namespace sphaera::transforms {

/// V1: Perraudin et al. 2019 (8 HEALPix neighbours, normalized Laplacian, rescaled by 1.5/(1.02 λmax)).
/// V2: Defferrard et al. 2020 (k nearest neighbours, published kernel widths, combinatorial Laplacian).
enum class GraphConstruction { kV1, kV2 };
enum class LaplacianKind { kCombinatorial, kNormalized };

struct GraphOptions {
  GraphConstruction construction = GraphConstruction::kV2;
  /// Neighbours per vertex for V2: 8, 20, 40 or 60 (the published kernel widths exist for these; any k ≥ 1
  /// with an explicit kernel_width). Ignored by V1.
  int k = 8;
  /// Default: normalized for V1, combinatorial for V2.
  std::optional<LaplacianKind> laplacian;
  /// Kernel width σ for V2; default from the published table (HEALPix grids only: other grids must set it).
  std::optional<double> kernel_width;

  LaplacianKind laplacian_kind() const;
  /// e.g. "v2,k=8,combinatorial" or "v2,k=8,combinatorial,sigma=0.0123" or "v1,normalized": part of cache keys.
  std::string key() const;
};

GraphConstruction parse_graph_construction(const std::string& text);  ///< "v1" | "v2"
LaplacianKind parse_laplacian_kind(const std::string& text);          ///< "combinatorial" | "normalized"

/// The published V2 kernel width σ for (nside, k) (CONVENTIONS.md table; nside ≤ 16: σ(32)·32/nside; beyond
/// the table: halved per doubling of nside); throws InvalidArgument listing the valid k when there is none.
double v2_kernel_width(int64_t nside, int k);

/// The matrix of the chosen construction on `points` (V1 needs HEALPix points), as `what` asks: W, D − W or
/// I − D^-½ W D^-½. Throws InvalidArgument on bad options (k < 1, no kernel width, V1 on arbitrary points).
/// Rows are built in parallel straight into CSR.
core::CsrArrays graph_matrix(const SpherePoints& points, const GraphOptions& options, GraphMatrix what);

/// Deterministic upper bound of the largest eigenvalue of a symmetric matrix, at most 1% above it:
/// Lanczos from a fixed pseudo-random start vector (full reorthogonalisation up to 200k rows),
/// run until the residual norm of the top Ritz pair is below 2·10⁻³ of it; returns the top Ritz value plus
/// that residual norm, capped by the Gershgorin bound. Bit-identical whatever the thread count.
/// `on_step`, when given, is called after each Lanczos step with the step (from 1) and the residual norm
/// as a multiple of the stopping target (the run stops once it is ≤ 1): for progress reports.
double largest_eigenvalue_bound(const core::CsrView& symmetric,
                                const std::function<void(int step, double residual_over_target)>& on_step = {});

}  // namespace sphaera::transforms
