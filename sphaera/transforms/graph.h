#pragma once
/// DeepSphere graphs on samplings of the sphere, their Laplacians and the rescaling for Chebyshev filters.
/// Definitions: ../shared/design/CONVENTIONS.md ("Graphs"). All matrices are CSR (int32 column indices, sorted
/// within rows), float64 values, in the grid's memory order (NEST for HEALPix).
///
/// V2 (pygsp SphereHealpix / NNGraph as deepsphere-pytorch uses it): each vertex links to its k nearest
/// vertices by chord distance (on a partial sky, among the grid's own pixels); the directed distance matrix is
/// symmetrised by filling its zeros from the transpose (a distance is the same double both ways, so averaging
/// changes nothing); then w = exp(−ln2 · (d/σ)²).
/// Ties: where the k-th and (k+1)-th nearest are equidistant, the vertex with the smaller index (position in
/// the grid; the NEST index on a full sky) is kept, distances being compared exactly as computed
/// (((xi−xj)² + (yi−yj)²) + (zi−zj)², see knn.h). The peer keeps whatever scipy's cKDTree returns, so the two
/// graphs may differ exactly on such tied edges (and the degrees they touch).
/// When k ≥ the number of vertices (tiny or coarse grids), every vertex links to all others.
/// V1 (DeepSphere cosmology code): the 8 (or 7) HEALPix neighbours, pixels outside a partial sky dropped;
/// w = exp(−d² / (2 mean(d²))), the mean over all directed edges.
#include <memory>
#include <optional>
#include <string>

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "sphaera/core/sparse.h"
#include "sphaera/transforms/graph_csr.h"
#include "sphaera/transforms/grid.h"

namespace sphaera::transforms {

/// Weighted adjacency W (symmetric, no diagonal stored) of the chosen construction on `grid`.
/// V1 needs a HealpixGrid. Throws InvalidArgument on bad options (k < 1, unknown kernel width, ...).
core::CsrMatrix adjacency(const Grid& grid, const GraphOptions& options);

/// L = D − W (combinatorial) or I − D^-½ W D^-½ (normalized), diagonal stored. An isolated vertex (degree 0)
/// gets L_ii = 0 in both (as pygsp).
core::CsrMatrix laplacian(const core::CsrMatrix& w, LaplacianKind kind);

/// The Laplacian of the chosen construction on `grid` (options.laplacian_kind()), built directly without
/// materialising W: same result as laplacian(adjacency(grid, options), kind), half the peak memory.
/// Rows are built in parallel straight into CSR (graph_csr.h's graph_matrix, wrapped without copying).
core::CsrMatrix graph_laplacian(const Grid& grid, const GraphOptions& options);

/// graph_csr.h's bound, for a matrix on any device and dtype (computed in float64 on the CPU).
double largest_eigenvalue_bound(const core::CsrMatrix& symmetric);

/// V2: 2 L / λ − I. V1: (1.5 / (1.02 λ)) L − I. λ is `lmax` as given.
core::CsrMatrix rescale_laplacian(const core::CsrMatrix& l, double lmax, GraphConstruction construction);

/// The rescaled Laplacian L̂ that Chebyshev layers use, built once per (grid, options, dtype, device) and
/// shared; never stored in checkpoints (it is rebuilt deterministically from the grid and options).
std::shared_ptr<const core::CsrMatrix> cached_rescaled_laplacian(const GridPtr& grid, const GraphOptions& options,
                                                                 c10::ScalarType dtype, c10::Device device);

/// Drops every Laplacian cached_rescaled_laplacian holds; layers keep theirs (shared), the next call rebuilds.
/// For long processes that move between grids (`sphaera bench`), so that one case's geometry does not stay
/// resident under the next.
void release_cached_laplacians();

}  // namespace sphaera::transforms
