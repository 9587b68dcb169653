#pragma once
/// The tiled search of the symmetric k-NN graph on a full HEALPix sky (knn_search.h), with AVX-512: the sky is
/// cut into tiles of 16 × 16 NEST pixels of a base face, each gathered once with a margin, and each pixel's
/// candidates are the pixels of a window around it in the face's (x, y) coordinates, proven complete by the rings
/// around the window. Pixels it cannot prove (near base-face edges) are left to the bucket search
/// (knn_buckets.h); knn_search.cpp runs both. Internal to the transforms library (knn_common.h). The algorithm is
/// described where it is implemented, in knn_tiles.cpp.
#include <cstdint>
#include <memory>

#include "sphaera/transforms/knn_common.h"

#ifdef SPHAERA_KNN_AVX512

namespace sphaera::transforms {
// Hidden symbols (knn_common.h).
#pragma GCC visibility push(hidden)
namespace knn {

class TiledSearch {
 public:
  /// Whether the tiles apply: a full HEALPix sky of nside ≥ 16, k small enough for the windows, and AVX-512
  /// here (knn_tiles_available()).
  static bool applies(const SpherePoints& points, int k);

  /// `points` (a full sky, applies() true), k neighbours per point.
  TiledSearch(const SpherePoints& points, int k);
  ~TiledSearch();
  TiledSearch(const TiledSearch&) = delete;
  TiledSearch& operator=(const TiledSearch&) = delete;

  /// Pass 1: the k-th key (kth_d2, kth_id) of every pixel the tiles prove, the Chebyshev extent of its k
  /// nearest (≥ 1) and their bits in its 7 × 7 window (near); the others keep kth_id −1 and extent 0. When the
  /// faces of each row are exact turns of its first (rows_of_faces_turned()), only faces 0, 4 and 8 are
  /// searched and their answers copied to the row's other faces. Threads: OpenMP's.
  void kth_keys(double* kth_d2, int32_t* kth_id, uint8_t* extent, uint64_t* near) const;

  /// What passes 2 and 3 read and write, for n = 12 nside² rows.
  struct Rows {
    int row_radius = 0;  ///< the largest extent of pass 1: every tiled row lies in the window of this radius
    bool diagonal = false;
    double c = 1.0;  ///< w = exp(−c · d²)
    GraphMatrix matrix = GraphMatrix::kCombinatorial;
    const double* kth_d2 = nullptr;  ///< pass 1's results, complete (the bucket search's too)
    const int32_t* kth_id = nullptr;
    const uint8_t* extent = nullptr;
    const uint64_t* near = nullptr;
    const uint8_t* chosen = nullptr;  ///< chosen[i]: i is among the k nearest of a point of the bucket search
    uint8_t* tiled = nullptr;         ///< pass 2 sets tiled[i] = 1 for each row the tiles take; pass 3 reads it
    int64_t* row_ptr = nullptr;       ///< pass 2: each tiled row's size at row_ptr[i + 1]; pass 3: the offsets
    int32_t* col = nullptr;           ///< pass 3: the matrix's column indices and values
    double* val = nullptr;
    double* degree = nullptr;  ///< pass 3, normalized matrix: each tiled row's degree (else null)
  };

  /// Pass 2: which rows the tiles take (a pixel pass 1 proved, whose window lies in its face, chosen by no point
  /// of the bucket search), and their sizes.
  void row_sizes(const Rows& rows) const;

  /// Pass 3: the tiled rows' entries, as finish_row() makes them, streamed into col and val.
  void write_rows(const Rows& rows) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace knn
#pragma GCC visibility pop
}  // namespace sphaera::transforms

#endif
