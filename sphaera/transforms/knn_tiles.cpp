#include "sphaera/transforms/knn_tiles.h"

#ifdef SPHAERA_KNN_AVX512

#include <omp.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <utility>
#include <vector>

#include <healpix_base.h>

#include "sphaera/transforms/fast_math.h"

namespace sphaera::transforms {
namespace knn {

namespace {

// ---- the tiled search on a full HEALPix sky -----------------------------------------------------------------------
//
// A tile is 16 × 16 pixels of a base face, aligned in its (x, y) coordinates: 256 consecutive NEST indices. Its
// block is the tile with a margin of M pixels, gathered once into small arrays (row-major and transposed), so
// that a pixel's window (the pixels at Chebyshev distance ≤ r in (x, y)) and the rings around it are runs of
// contiguous values.
//
// Pass 1 (k-th keys): when a ring lies inside the pixel's base face, every point beyond it is at a chord ≥ min
// over the ring's centres of (chord − pixel radius), since an arc leaving the ring's inside crosses a pixel of
// the ring. The k nearest are proven to be in the window of radius r when the k-th of them is closer than the
// bound that the rings at r + 1 and r + 2 give (bound2). r starts at about the radius of a disc of k + 1 pixels
// and grows to M − 1; pixels never proven take the bucket search. Windows of radius ≤ 3 are searched in
// registers (window_kth), larger ones by compressing the candidates below a threshold (window_kth_general).
// Each proven pixel records the extent of its k nearest (the largest Chebyshev distance among them) and, in
// its 7 × 7 window, which they are (bits).
//
// Passes 2 and 3 (rows): j can link to i only if i is among the k nearest of j, which for a proven j lies
// within j's extent, a relation symmetric in (x, y): so the window of radius max(extent over the block) holds
// every member of i's row, unless some j answered by the bucket search chose i; those rows (marked in pass 1)
// take the bucket path too. With extents ≤ 3 the members are read from the bits (i's own, and i's bit in its
// neighbours'), and come out in NEST order through a table of the window's orders (sorted_row).

class Tiles {
 public:
  static constexpr int kTile = 16;
  // Each proven pixel's k nearest as bits of its 7 × 7 window ((dy + 3)·7 + dx + 3); bit kFar: some lie beyond.
  static constexpr int kFar = 63;
  // The next pixel (a neighbour in NEST order) keeps the candidates below this factor times the k-th squared
  // distance of the previous one; rarely too few (then the proven bound is used).
  static constexpr double kHintFactor = 1.05;

  Tiles(const double* xyz, int64_t nside, int k)
      : xyz_(xyz), nside_(nside), k_(k), first_(first_radius(k)), m_(first_radius(k) + 3), w_(kTile + 2 * m_) {
    const T_Healpix_Base<int64> base(nside, NEST, SET_NSIDE);
    rho_ = 2.0 * std::sin(0.5 * base.max_pixrad() * 1.01 + 1e-12) * (1 + 1e-12) + 1e-15;
    // The 7 × 7 window's codes in NEST order (with their slots in sorted_row), for each pattern of its corner
    // (X, Y). NEST order is the order of (interleave(X >> 3, Y >> 3), interleave(X & 7, Y & 7)); the window's
    // cells span 2 × 2 values of the first part, whose middle two come in the order given by whose +1 carries
    // higher (the lowest zero bit of X >> 3 against that of Y >> 3, y bits lying above x bits). A
    // representative corner of each pattern gives it.
    nest_codes_.assign(kPatterns * kCodeRun, kFar);
    for (int pattern = 0; pattern < kPatterns; ++pattern) {
      const uint64_t x = (pattern & 7) + (pattern >> 6 ? 8 : 0), y = (pattern >> 3) & 7;
      std::vector<std::pair<uint64_t, int32_t>> cells;
      for (int code = 0; code < 49; ++code) {
        cells.emplace_back(spread_bits(x + code % 7) | (spread_bits(y + code / 7) << 1), code);
      }
      std::sort(cells.begin(), cells.end());
      for (int t = 0; t < 49; ++t) {
        const int code = cells[t].second;
        nest_codes_[pattern * kCodeRun + t] = code | ((code / 7) * 8 + code % 7) << 8;  // code | slot << 8
      }
    }
  }

  // The first window radius tried for k: about the radius of a disc of k + 1 pixels.
  static int first_radius(int k) { return static_cast<int>(std::ceil(std::sqrt((k + 1) / 3.141592653589793))); }
  // Tiles apply when the windows fit in two 8-lane runs and the grid holds a tile.
  static bool applies(int64_t nside, int k) { return first_radius(k) + 2 <= 7 && nside >= kTile; }

  int64_t count() const { return 12 * (nside_ / kTile) * (nside_ / kTile); }
  // Pass 1's margin: windows up to radius margin − 1, their rings at margin.
  int margin() const { return m_; }

  struct Block {
    std::vector<double> x, y, z, xt, yt, zt, kd;
    std::vector<int32_t> id, ki;
    std::vector<uint64_t> near;  // pass 1's bits (row sizes from bits)
    std::vector<double> cd;      // per query: the candidates kept (d², index, Chebyshev distance)
    std::vector<int32_t> cid, cheb;
    std::vector<Candidate> fallback;
    std::vector<uint64_t> sx, sy;
    int64_t first = 0;  // NEST index of the tile's first pixel
    int64_t x0 = 0, y0 = 0;
    int m = 0;  // margin
    int w = 0;  // width: kTile + 2m
  };

  void reserve(Block& b) const {
    const int64_t cells = static_cast<int64_t>(w_) * w_;
    for (auto* v : {&b.x, &b.y, &b.z, &b.xt, &b.yt, &b.zt, &b.kd}) v->resize(cells);
    b.id.resize(cells);
    b.near.resize(cells);
    b.ki.resize(cells);
    const int64_t window = static_cast<int64_t>(2 * m_ + 1) * (2 * m_ + 1) + 16;
    b.cd.resize(window);
    b.cid.resize(window);
    b.cheb.resize(window);
    b.sx.resize(w_);
    b.sy.resize(w_);
  }

  // Places the block of `tile` with a margin: its first pixel, origin in (x, y), and the NEST bits of its
  // columns and rows (all ones outside the face). Returns the NEST index of the face's first pixel.
  int64_t place(int64_t tile, Block& b, int margin) const {
    b.m = margin;
    b.w = kTile + 2 * margin;
    const int64_t per_face = (nside_ / kTile) * (nside_ / kTile);
    const int64_t face = tile / per_face;
    const int64_t local = (tile % per_face) * kTile * kTile;
    const int64_t face_first = face * nside_ * nside_;
    b.first = face_first + local;
    b.x0 = static_cast<int64_t>(compress_bits(static_cast<uint64_t>(local)));
    b.y0 = static_cast<int64_t>(compress_bits(static_cast<uint64_t>(local) >> 1));
    for (int c = 0; c < b.w; ++c) {
      const int64_t gx = b.x0 - b.m + c, gy = b.y0 - b.m + c;
      b.sx[c] = gx >= 0 && gx < nside_ ? spread_bits(static_cast<uint64_t>(gx)) : ~uint64_t{0};
      b.sy[c] = gy >= 0 && gy < nside_ ? spread_bits(static_cast<uint64_t>(gy)) << 1 : ~uint64_t{0};
    }
    return face_first;
  }

  // Gathers the tile's block with a margin of `margin` pixels: the coordinates (transposed too for pass 1,
  // kd null), and for the rows passes pass 1's bits (near not null) or else the k-th keys.
  void load(int64_t tile, Block& b, int margin, const double* kd, const int32_t* ki,
            const uint64_t* near = nullptr) const {
    const int64_t face_first = place(tile, b, margin);
    const bool transposed = kd == nullptr;
    for (int by = 0; by < b.w; ++by) {
      for (int bx = 0; bx < b.w; ++bx) {
        const int64_t c = by * b.w + bx;
        const int64_t t = bx * b.w + by;
        if (b.sx[bx] == ~uint64_t{0} || b.sy[by] == ~uint64_t{0}) {  // outside the face: never read
          b.x[c] = b.y[c] = b.z[c] = b.kd[c] = 0.0;
          if (transposed) b.xt[t] = b.yt[t] = b.zt[t] = 0.0;
          b.id[c] = b.ki[c] = -1;
          b.near[c] = 0;
          continue;
        }
        const int64_t pix = face_first + static_cast<int64_t>(b.sx[bx] | b.sy[by]);
        const double* p = xyz_ + 3 * pix;
        b.x[c] = p[0];
        b.y[c] = p[1];
        b.z[c] = p[2];
        b.id[c] = static_cast<int32_t>(pix);
        if (transposed) {
          b.xt[t] = p[0];
          b.yt[t] = p[1];
          b.zt[t] = p[2];
        } else if (near != nullptr) {
          b.near[c] = near[pix];
        } else {
          b.kd[c] = kd[pix];
          b.ki[c] = ki[pix];
        }
      }
    }
  }

  // Gathers pass 1's bits of the tile's block with a margin of 3 (cells outside the face: none).
  void load_bits(int64_t tile, Block& b, const uint64_t* near) const {
    const int64_t face_first = place(tile, b, 3);
    for (int by = 0; by < b.w; ++by) {
      for (int bx = 0; bx < b.w; ++bx) {
        const bool outside = b.sx[bx] == ~uint64_t{0} || b.sy[by] == ~uint64_t{0};
        b.near[by * b.w + bx] = outside ? 0 : near[face_first + static_cast<int64_t>(b.sx[bx] | b.sy[by])];
      }
    }
  }

  // Pass 2 from pass 1's bits (every extent ≤ 3): the row of the pixel at local (u, v) holds its k nearest and
  // each j of its 7 × 7 window whose k nearest include it, which is bit 48 − code of j's bits.
  SPHAERA_AVX512 int64_t row_size_from_bits(const Block& b, int u, int v, bool diagonal) const {
    const uint64_t mine = b.near[static_cast<int64_t>(v + b.m) * b.w + (u + b.m)];
    return k_ + __builtin_popcountll(theirs(b, u, v) & ~mine) + (diagonal ? 1 : 0);
  }

  // The pixels j of the 7 × 7 window of the pixel at local (u, v) whose k nearest include it, as window bits.
  SPHAERA_AVX512 uint64_t theirs(const Block& b, int u, int v) const {
    const __m512i lane = _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7);
    const __m512i one = _mm512_set1_epi64(1);
    uint64_t result = 0;
    for (int dy = -3; dy <= 3; ++dy) {
      const int64_t start = static_cast<int64_t>(v + b.m + dy) * b.w + (u + b.m - 3);
      const __m512i bits = _mm512_maskz_loadu_epi64(0x7f, b.near.data() + start);
      const __m512i shift = _mm512_sub_epi64(_mm512_set1_epi64(48 - (dy + 3) * 7), lane);
      const __mmask8 set = _mm512_mask_test_epi64_mask(0x7f, _mm512_maskz_srlv_epi64(0x7f, bits, shift), one);
      result |= static_cast<uint64_t>(set) << ((dy + 3) * 7);
    }
    return result;
  }

  // Pass 3 from pass 1's bits for the pixel at local (u, v) of a block with margin 3, whose 7 × 7 window lies in
  // the face: its members (itself too when `diagonal`) in NEST order, to col/val as index and −c·d²; returns
  // their number. The members are the window's bits; the pattern table gives their order. The window's values
  // stay in registers, 8 slots per row (slot 8·(dy + 3) + dx + 3), picked by permutes.
  SPHAERA_AVX512 int64_t sorted_row(Block& b, int l, int u, int v, bool diagonal, double c, int32_t* col,
                                    double* val) const {
    const double* p = xyz_ + 3 * (b.first + l);
    const __m512d px = _mm512_set1_pd(p[0]), py = _mm512_set1_pd(p[1]), pz = _mm512_set1_pd(p[2]);
    const int64_t centre = static_cast<int64_t>(v + b.m) * b.w + (u + b.m);
    uint64_t members = (b.near[centre] | theirs(b, u, v)) & ((uint64_t{1} << 49) - 1);
    if (diagonal) members |= uint64_t{1} << 24;
    // The squared chords (7 rows) and indices (pairs of rows) of the window.
    __m512d d2[8];
    __m512i ids[4];
    const int64_t first_row = centre - 3 * b.w - 3;
    for (int q = 0; q < 7; ++q) {
      const int64_t o = first_row + q * b.w;
      d2[q] = d2_eight(px, py, pz, b.x.data() + o, b.y.data() + o, b.z.data() + o, 0x7f);
    }
    d2[7] = _mm512_setzero_pd();
    for (int q = 0; q < 4; ++q) {
      const int64_t o = first_row + 2 * q * b.w;
      const __m512i low = _mm512_maskz_loadu_epi32(0x7f, b.id.data() + o);
      ids[q] = q < 3 ? _mm512_mask_loadu_epi32(low, 0x7f00, b.id.data() + o + b.w - 8) : low;
    }
    // The members in NEST order, as (code | slot << 8).
    const uint64_t gx = static_cast<uint64_t>(b.x0 + u - 3), gy = static_cast<uint64_t>(b.y0 + v - 3);
    const int carry = __builtin_ctzll(~(gx >> 3)) > __builtin_ctzll(~(gy >> 3)) ? 1 : 0;
    const int32_t* order = nest_codes_.data() + kCodeRun * static_cast<int>((gx & 7) | (gy & 7) << 3 | carry << 6);
    const __m512i bits = _mm512_set1_epi64(static_cast<int64_t>(members));
    const __m512i one = _mm512_set1_epi64(1);
    const __m512i code_bits = _mm512_set1_epi64(63);
    alignas(64) int32_t picked[kCodeRun + 8];
    int64_t count = 0;
    for (int q = 0; q < kCodeRun; q += 8) {
      const __m256i entry = _mm256_maskz_loadu_epi32(0xff, order + q);
      const __m512i code = _mm512_maskz_and_epi64(0xff, _mm512_maskz_cvtepu32_epi64(0xff, entry), code_bits);
      const __mmask8 in = _mm512_mask_test_epi64_mask(0xff, _mm512_maskz_srlv_epi64(0xff, bits, code), one);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(picked + count), _mm256_maskz_compress_epi32(in, entry));
      count += __builtin_popcount(in);
    }
    const __m512d scale = _mm512_set1_pd(-c);
    for (int64_t q = 0; q < count; q += 8) {
      const __mmask8 lanes = lane_mask(count - q);
      const __m512i slot = _mm512_maskz_srli_epi32(0xffff, _mm512_maskz_loadu_epi32(lanes, picked + q), 8);
      const __m512i slot64 = _mm512_maskz_srli_epi64(
          0xff, _mm512_maskz_cvtepu32_epi64(0xff, _mm256_maskz_loadu_epi32(lanes, picked + q)), 8);
      const __mmask8 odd16 = _mm512_mask_test_epi64_mask(0xff, slot64, _mm512_set1_epi64(16));
      const __mmask8 high32 = _mm512_mask_test_epi64_mask(0xff, slot64, _mm512_set1_epi64(32));
      const __m512d low = _mm512_mask_blend_pd(odd16, _mm512_permutex2var_pd(d2[0], slot64, d2[1]),
                                               _mm512_permutex2var_pd(d2[2], slot64, d2[3]));
      const __m512d high = _mm512_mask_blend_pd(odd16, _mm512_permutex2var_pd(d2[4], slot64, d2[5]),
                                                _mm512_permutex2var_pd(d2[6], slot64, d2[7]));
      const __m512d dist = _mm512_mask_blend_pd(high32, low, high);
      const __mmask16 high32i = _mm512_mask_test_epi32_mask(0xff, slot, _mm512_set1_epi32(32));
      const __m512i id = _mm512_mask_blend_epi32(high32i, _mm512_permutex2var_epi32(ids[0], slot, ids[1]),
                                                 _mm512_permutex2var_epi32(ids[2], slot, ids[3]));
      _mm512_mask_storeu_epi32(col + q, lanes, id);
      _mm512_mask_storeu_pd(val + q, lanes, _mm512_mul_pd(scale, dist));
    }
    return count;
  }

  // Local coordinates (in the tile) of its l-th pixel, and whether its window of radius r lies in the face.
  bool inside(const Block& b, int l, int r, int& u, int& v) const {
    u = static_cast<int>(compress_bits(static_cast<uint64_t>(l)));
    v = static_cast<int>(compress_bits(static_cast<uint64_t>(l) >> 1));
    const int64_t gx = b.x0 + u, gy = b.y0 + v;
    return gx >= r && gy >= r && gx < nside_ - r && gy < nside_ - r;
  }

  // Pass 1: the k-th key and extent of every pixel of the tile it can prove (others keep kth_id −1).
  SPHAERA_AVX512 void kth_keys(Block& b, double* kth_d2, int32_t* kth_id, uint8_t* extent, uint64_t* near) const {
    double hint = 0;
    for (int l = 0; l < kTile * kTile; ++l) {
      const int64_t self = b.first + l;
      const double* p = xyz_ + 3 * self;
      const __m512d px = _mm512_set1_pd(p[0]), py = _mm512_set1_pd(p[1]), pz = _mm512_set1_pd(p[2]);
      bool proven = false;
      for (int r = first_; r < m_ && !proven; ++r) {
        int u, v;
        const bool next_ring = inside(b, l, r + 2, u, v);
        if (!next_ring && !inside(b, l, r + 1, u, v)) break;
        double kd = 0;
        int32_t ki = -1;
        int reach = 0;
        uint64_t bits = 0;
        // 1: the k nearest, proven; 0: not proven at r; −1: not tried, or equal values at the k-th place.
        int found = -1;
        double bound = -1;  // not computed yet
        if (r <= 3 && hint > 0) {
          // The window's k-th below the hint first; then whether the rings prove it.
          found = window_kth(r, b, u, v, px, py, pz, hint, kd, ki, reach, bits);
          if (found == 1) {
            if (!below_bound(kd, b, u, v, r, next_ring, px, py, pz)) found = 0;
          } else if (found == 0) {
            bound = bound2(b, u, v, r, next_ring, px, py, pz);
            if (hint < bound) found = window_kth(r, b, u, v, px, py, pz, bound, kd, ki, reach, bits);
          }
        } else if (r <= 3) {
          bound = bound2(b, u, v, r, next_ring, px, py, pz);
          found = window_kth(r, b, u, v, px, py, pz, bound, kd, ki, reach, bits);
        }
        if (found < 0) {
          if (bound < 0) bound = bound2(b, u, v, r, next_ring, px, py, pz);
          const double t = (hint > 0 && hint < bound) ? hint : bound;
          found = window_kth_general(b, u, v, r, px, py, pz, t, bound, kd, ki, reach, bits);
        }
        if (found == 0) continue;
        kth_d2[self] = kd;
        kth_id[self] = ki;
        extent[self] = static_cast<uint8_t>(reach);
        near[self] = bits;
        hint = kd * kHintFactor;
        proven = true;
      }
      if (!proven) hint = 0;
    }
  }

  // The k-th key among the candidates of the window of radius r with d² < t (then with d² < bound when fewer
  // than k), their extent and window bits, through window_below and select_peel (or a sort at ties): 1 when
  // found, 0 when fewer than k lie below the bound.
  SPHAERA_AVX512 int window_kth_general(Block& b, int u, int v, int r, const __m512d px, const __m512d py,
                                        const __m512d pz, double t, double bound, double& kd, int32_t& ki, int& reach,
                                        uint64_t& bits) const {
    int64_t count = 0;
    for (;;) {
      count = window_below(b, u, v, r, px, py, pz, t);
      if (count >= k_ || t >= bound) break;
      t = bound;
    }
    if (count < k_) return 0;
    if (count <= 32 && select_peel(b, count, kd, ki, reach, bits)) return 1;
    kth_key_scalar(b.cd.data(), b.cid.data(), count, k_, b.fallback, kd, ki);
    reach = 0;
    bits = 0;
    for (int64_t j = 0; j < count; ++j) {
      if (b.cd[j] < kd || (b.cd[j] == kd && b.cid[j] <= ki)) {
        reach = std::max(reach, b.cheb[j] & 0xff);
        bits |= uint64_t{1} << (b.cheb[j] >> 8);
      }
    }
    return 1;
  }

  // As window_kth_general with a single threshold t, for a window of radius r ≤ 3 (one 8-lane run per row), in
  // registers: the candidates with d² < t are lane masks, peeled as select_peel does; returns 1 when found, 0
  // when fewer than k lie below t, −1 when equal values straddle the k-th place.
  SPHAERA_AVX512 int window_kth(int r, const Block& b, int u, int v, const __m512d px, const __m512d py,
                                const __m512d pz, double t, double& kd, int32_t& ki, int& reach, uint64_t& bits) const {
    switch (r) {
      case 1:
        return window_kth<1>(b, u, v, px, py, pz, t, kd, ki, reach, bits);
      case 2:
        return window_kth<2>(b, u, v, px, py, pz, t, kd, ki, reach, bits);
      default:
        return window_kth<3>(b, u, v, px, py, pz, t, kd, ki, reach, bits);
    }
  }

  template <int R>
  SPHAERA_AVX512 int window_kth(const Block& b, int u, int v, const __m512d px, const __m512d py, const __m512d pz,
                                double t, double& kd, int32_t& ki, int& reach, uint64_t& bits) const {
    constexpr int kRows = 2 * R + 1;
    __m512d d2[kRows];
    __mmask8 alive[kRows];
    const __m512d vt = _mm512_set1_pd(t);
    int64_t count = 0;
    for (int q = 0; q < kRows; ++q) {
      const int64_t o = static_cast<int64_t>(v + b.m + q - R) * b.w + (u + b.m - R);
      __mmask8 lanes = static_cast<__mmask8>((1u << kRows) - 1);
      if (q == R) lanes &= static_cast<__mmask8>(~(1u << R));  // self
      d2[q] = d2_eight(px, py, pz, b.x.data() + o, b.y.data() + o, b.z.data() + o, lanes);
      alive[q] = _mm512_mask_cmp_pd_mask(lanes, d2[q], vt, _CMP_LT_OQ);
      count += __builtin_popcount(alive[q]);
    }
    if (count < k_) return 0;
    int64_t excess = count - k_;
    for (;;) {
      __m512d top = _mm512_set1_pd(-kInf);
      for (int q = 0; q < kRows; ++q) top = _mm512_mask_max_pd(top, alive[q], top, d2[q]);
      top = all_lanes_max(top);
      __mmask8 at[kRows];
      int64_t tied = 0;
      for (int q = 0; q < kRows; ++q) {
        at[q] = _mm512_mask_cmp_pd_mask(alive[q], d2[q], top, _CMP_EQ_OQ);
        tied += __builtin_popcount(at[q]);
      }
      if (tied <= excess) {
        for (int q = 0; q < kRows; ++q) alive[q] &= static_cast<__mmask8>(~at[q]);
        excess -= tied;
        continue;
      }
      if (excess != 0) return -1;
      __m256i best = _mm256_set1_epi32(-1);
      bits = 0;
      for (int q = 0; q < kRows; ++q) {
        const int64_t o = static_cast<int64_t>(v + b.m + q - R) * b.w + (u + b.m - R);
        best = _mm256_mask_max_epi32(best, at[q], best, _mm256_maskz_loadu_epi32(at[q], b.id.data() + o));
        bits |= static_cast<uint64_t>(alive[q]) << ((q - R + 3) * 7 + 3 - R);  // window code of the row's first
      }
      best = _mm256_maskz_max_epi32(0xff, best, _mm256_maskz_shuffle_i32x4(0xff, best, best, 1));
      best = _mm256_maskz_max_epi32(0xff, best, _mm256_maskz_shuffle_epi32(0xff, best, _MM_PERM_BADC));
      ki = _mm256_cvtsi256_si32(
          _mm256_maskz_max_epi32(0xff, best, _mm256_maskz_shuffle_epi32(0xff, best, _MM_PERM_CDAB)));
      kd = _mm512_cvtsd_f64(top);
      reach = (bits & ~window_codes(1)) == 0 ? 1 : (bits & ~window_codes(2)) == 0 ? 2 : 3;
      return 1;
    }
  }

  // The 7 × 7 window's bits of the cells at Chebyshev distance ≤ r.
  static constexpr uint64_t window_codes(int r) {
    uint64_t bits = 0;
    for (int dy = -r; dy <= r; ++dy) {
      for (int dx = -r; dx <= r; ++dx) bits |= uint64_t{1} << ((dy + 3) * 7 + dx + 3);
    }
    return bits;
  }

  // The smallest lane of v, in every lane (GCC 12's reduction intrinsics warn of uninitialised values).
  static SPHAERA_AVX512 __m512d all_lanes_min(__m512d v) {
    v = _mm512_maskz_min_pd(0xff, v, _mm512_maskz_shuffle_f64x2(0xff, v, v, 0x4e));  // halves swapped
    v = _mm512_maskz_min_pd(0xff, v, _mm512_maskz_shuffle_f64x2(0xff, v, v, 0xb1));  // quarters swapped in each half
    return _mm512_maskz_min_pd(0xff, v, _mm512_maskz_permute_pd(0xff, v, 0x55));     // neighbours swapped
  }

  // The largest lane of v, in every lane.
  static SPHAERA_AVX512 __m512d all_lanes_max(__m512d v) {
    v = _mm512_maskz_max_pd(0xff, v, _mm512_maskz_shuffle_f64x2(0xff, v, v, 0x4e));  // halves swapped
    v = _mm512_maskz_max_pd(0xff, v, _mm512_maskz_shuffle_f64x2(0xff, v, v, 0xb1));  // quarters swapped in each half
    return _mm512_maskz_max_pd(0xff, v, _mm512_maskz_permute_pd(0xff, v, 0x55));     // neighbours swapped
  }

  // Passes 2 and 3 for the tile's l-th pixel at local (u, v), whose window of radius r holds its row (when pass
  // 1's bits cannot give it): the members (and itself when `diagonal`), found by comparing the distances with
  // the k-th keys, sorted by index to col/val as index and −c·d²; returns their number. With col null, only
  // counts.
  SPHAERA_AVX512 int64_t row(Block& b, int l, int u, int v, int r, bool diagonal, double c, int32_t* col,
                             double* val) const {
    const int64_t self = b.first + l;
    const double* p = xyz_ + 3 * self;
    const __m512d px = _mm512_set1_pd(p[0]), py = _mm512_set1_pd(p[1]), pz = _mm512_set1_pd(p[2]);
    const int64_t centre = static_cast<int64_t>(v + b.m) * b.w + (u + b.m);
    const __m512d own_d2 = _mm512_set1_pd(b.kd[centre]);
    const __m256i own_id = _mm256_set1_epi32(b.ki[centre]);
    const __m256i self_id = _mm256_set1_epi32(static_cast<int32_t>(self));
    const int len = 2 * r + 1;
    int64_t count = 0;
    for (int dy = -r; dy <= r; ++dy) {
      const int64_t start = static_cast<int64_t>(v + b.m + dy) * b.w + (u + b.m - r);
      for (int c0 = 0; c0 < len; c0 += 8) {
        const int64_t o = start + c0;
        const __mmask8 lanes = lane_mask(len - c0);
        const __m512d d2 = d2_eight(px, py, pz, b.x.data() + o, b.y.data() + o, b.z.data() + o, lanes);
        const __m256i ids = _mm256_maskz_loadu_epi32(lanes, b.id.data() + o);
        const __m512d their_d2 = _mm512_maskz_loadu_pd(lanes, b.kd.data() + o);
        const __m256i their_id = _mm256_maskz_loadu_epi32(lanes, b.ki.data() + o);
        const __mmask8 mine = _mm512_cmp_pd_mask(d2, own_d2, _CMP_LT_OQ) |
                              (_mm512_cmp_pd_mask(d2, own_d2, _CMP_EQ_OQ) & _mm256_cmple_epi32_mask(ids, own_id));
        const __mmask8 theirs =
            _mm512_cmp_pd_mask(d2, their_d2, _CMP_LT_OQ) |
            (_mm512_cmp_pd_mask(d2, their_d2, _CMP_EQ_OQ) & _mm256_cmple_epi32_mask(self_id, their_id));
        const __mmask8 keep = lanes & (mine | theirs) & _mm256_cmpneq_epi32_mask(ids, self_id);
        if (col != nullptr) {
          _mm512_storeu_pd(b.cd.data() + count, _mm512_maskz_compress_pd(keep, d2));
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(b.cid.data() + count), _mm256_maskz_compress_epi32(keep, ids));
        }
        count += __builtin_popcount(keep);
      }
    }
    if (col == nullptr) return count + (diagonal ? 1 : 0);
    return emit(b, count, self, diagonal, c, col, val);
  }

  // The row from the members gathered in b.cd / b.cid: itself added when `diagonal`, sorted by index into
  // col/val as index and −c·d²; returns the row's size.
  SPHAERA_AVX512 int64_t emit(Block& b, int64_t count, int64_t self, bool diagonal, double c, int32_t* col,
                              double* val) const {
    if (diagonal) {
      if (col != nullptr) {
        b.cd[count] = 0.0;
        b.cid[count] = static_cast<int32_t>(self);
      }
      ++count;
    }
    if (col == nullptr) return count;
    // Sort by index: each member goes to its rank among the (distinct) indices.
    const int regs = static_cast<int>((count + 15) / 16);
    __m512i sorted_ids[16];
    for (int q = 0; q < regs; ++q) {
      const int64_t left = count - 16 * q;
      const __mmask16 lanes = left >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << left) - 1);
      sorted_ids[q] = _mm512_mask_loadu_epi32(_mm512_set1_epi32(INT32_MAX), lanes, b.cid.data() + 16 * q);
    }
    for (int64_t e = 0; e < count; ++e) {
      const __m512i key = _mm512_set1_epi32(b.cid[e]);
      int rank = 0;
      for (int q = 0; q < regs; ++q) rank += __builtin_popcount(_mm512_cmplt_epi32_mask(sorted_ids[q], key));
      col[rank] = b.cid[e];
      val[rank] = -c * b.cd[e];
    }
    return count;
  }

 private:
  static SPHAERA_AVX512 __mmask8 lane_mask(int64_t left) {
    return left >= 8 ? static_cast<__mmask8>(0xff) : static_cast<__mmask8>((1u << left) - 1);
  }

  static SPHAERA_AVX512 __m512d min_d2(__m512d best, const __m512d px, const __m512d py, const __m512d pz,
                                       const double* x, const double* y, const double* z, int len) {
    for (int c0 = 0; c0 < len; c0 += 8) {
      const __mmask8 lanes = lane_mask(len - c0);
      best = _mm512_mask_min_pd(best, lanes, best, d2_eight(px, py, pz, x + c0, y + c0, z + c0, lanes));
    }
    return best;
  }

  // The smallest squared chord from p to the centres of the ring at Chebyshev distance `ring` around the pixel
  // at local (u, v), as four runs of 2·ring cells (a pinwheel): its rows at dy = −ring (dx from −ring) and
  // dy = ring (dx from 1 − ring), and from the transposed block its columns at dx = ring (dy from −ring) and
  // dx = −ring (dy from 1 − ring).
  SPHAERA_AVX512 double ring_min(const Block& b, int u, int v, int ring, const __m512d px, const __m512d py,
                                 const __m512d pz) const {
    __m512d best = _mm512_set1_pd(kInf);
    const int len = 2 * ring;
    const int64_t top = static_cast<int64_t>(v + b.m - ring) * b.w + (u + b.m - ring);
    const int64_t bottom = static_cast<int64_t>(v + b.m + ring) * b.w + (u + b.m - ring + 1);
    const int64_t right = static_cast<int64_t>(u + b.m + ring) * b.w + (v + b.m - ring);
    const int64_t left = static_cast<int64_t>(u + b.m - ring) * b.w + (v + b.m - ring + 1);
    best = min_d2(best, px, py, pz, b.x.data() + top, b.y.data() + top, b.z.data() + top, len);
    best = min_d2(best, px, py, pz, b.x.data() + bottom, b.y.data() + bottom, b.z.data() + bottom, len);
    best = min_d2(best, px, py, pz, b.xt.data() + right, b.yt.data() + right, b.zt.data() + right, len);
    best = min_d2(best, px, py, pz, b.xt.data() + left, b.yt.data() + left, b.zt.data() + left, len);
    return _mm512_cvtsd_f64(all_lanes_min(best));
  }

  // (chord − pixel radius)² from a squared chord (0 when negative), rounded down.
  double less_radius(double d2) const {
    const double chord = std::sqrt(d2) * (1 - 1e-12) - rho_;
    return chord > 0 ? chord * chord : 0.0;
  }

  // A squared chord at most that of every point outside the window of radius r around the pixel at local
  // (u, v), from the rings beyond it (in the face). An arc leaving the window's pixels crosses a pixel of each
  // ring, so the points beyond the ring at R are at chord ≥ min over it of (chord − pixel radius); the points on
  // the ring at r + 1 are its centres. The bound is the larger of (a) the ring at r + 1 less the pixel radius
  // and, when the block and face hold the ring at r + 2 (next_ring), (b) the smaller of the ring at r + 1's own
  // centres and the ring at r + 2 less the pixel radius.
  SPHAERA_AVX512 double bound2(const Block& b, int u, int v, int r, bool next_ring, const __m512d px, const __m512d py,
                               const __m512d pz) const {
    const double ring = ring_min(b, u, v, r + 1, px, py, pz);
    double bound = less_radius(ring);
    if (next_ring && r + 2 <= b.m) {
      bound = std::max(bound, std::min(ring, less_radius(ring_min(b, u, v, r + 2, px, py, pz))));
    }
    return bound;
  }

  // Whether kd < bound2(…), computing the ring at r + 2 only when (a) does not decide.
  SPHAERA_AVX512 bool below_bound(double kd, const Block& b, int u, int v, int r, bool next_ring, const __m512d px,
                                  const __m512d py, const __m512d pz) const {
    const double ring = ring_min(b, u, v, r + 1, px, py, pz);
    if (kd < less_radius(ring)) return true;
    if (!next_ring || r + 2 > b.m || !(kd < ring)) return false;
    return kd < less_radius(ring_min(b, u, v, r + 2, px, py, pz));
  }

  // The window's candidates (self excluded) with d² < t, compressed into b.cd / b.cid / b.cheb (their
  // Chebyshev distance); returns their number.
  SPHAERA_AVX512 int64_t window_below(Block& b, int u, int v, int r, const __m512d px, const __m512d py,
                                      const __m512d pz, double t) const {
    const __m512d vt = _mm512_set1_pd(t);
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const int len = 2 * r + 1;
    int64_t count = 0;
    for (int dy = -r; dy <= r; ++dy) {
      const int64_t row = static_cast<int64_t>(v + b.m + dy) * b.w + (u + b.m - r);
      const __m256i ady = _mm256_set1_epi32(dy < 0 ? -dy : dy);
      for (int c0 = 0; c0 < len; c0 += 8) {
        const int64_t o = row + c0;
        __mmask8 lanes = lane_mask(len - c0);
        if (dy == 0 && r >= c0 && r < c0 + 8) lanes &= static_cast<__mmask8>(~(1u << (r - c0)));  // self
        const __m512d d2 = d2_eight(px, py, pz, b.x.data() + o, b.y.data() + o, b.z.data() + o, lanes);
        const __mmask8 keep = _mm512_mask_cmp_pd_mask(lanes, d2, vt, _CMP_LT_OQ);
        const __m256i ids = _mm256_maskz_loadu_epi32(lanes, b.id.data() + o);
        const __m256i dx = _mm256_add_epi32(lane, _mm256_set1_epi32(c0 - r));
        const __m256i cheb = _mm256_max_epi32(ady, _mm256_abs_epi32(dx));
        // Cell code in the 7 × 7 window (dy + 3)·7 + dx + 3, or kFar beyond it; packed above the distance.
        const __m256i code =
            _mm256_mask_blend_epi32(_mm256_cmpgt_epi32_mask(cheb, _mm256_set1_epi32(3)),
                                    _mm256_add_epi32(dx, _mm256_set1_epi32((dy + 3) * 7 + 3)), _mm256_set1_epi32(kFar));
        const __m256i packed = _mm256_or_si256(cheb, _mm256_slli_epi32(code, 8));
        _mm512_storeu_pd(b.cd.data() + count, _mm512_maskz_compress_pd(keep, d2));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(b.cid.data() + count), _mm256_maskz_compress_epi32(keep, ids));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(b.cheb.data() + count),
                            _mm256_maskz_compress_epi32(keep, packed));
        count += __builtin_popcount(keep);
      }
    }
    return count;
  }

  // The k-th key among k ≤ count ≤ 32 candidates, by peeling off the largest values: the count − k largest lie
  // beyond the k-th place (the hint keeps them few). When the values at the k-th place are all kept, the k-th
  // key is the largest (d², index) among those left, and `reach` their largest Chebyshev distance. Returns
  // false when equal values straddle the k-th place (the caller then sorts).
  SPHAERA_AVX512 bool select_peel(const Block& b, int64_t count, double& kth_d2, int32_t& kth_id, int& reach,
                                  uint64_t& near) const {
    const int regs = static_cast<int>((count + 7) / 8);
    __m512d v[4];
    __mmask8 alive[4];
    for (int q = 0; q < regs; ++q) {
      alive[q] = lane_mask(count - 8 * q);
      v[q] = _mm512_maskz_loadu_pd(alive[q], b.cd.data() + 8 * q);
    }
    int64_t excess = count - k_;
    for (;;) {
      __m512d top = _mm512_set1_pd(-kInf);
      for (int q = 0; q < regs; ++q) top = _mm512_mask_max_pd(top, alive[q], top, v[q]);
      const double largest = _mm512_cvtsd_f64(all_lanes_max(top));
      const __m512d vl = _mm512_set1_pd(largest);
      __mmask8 at[4];
      int64_t tied = 0;
      for (int q = 0; q < regs; ++q) {
        at[q] = alive[q] & _mm512_cmp_pd_mask(v[q], vl, _CMP_EQ_OQ);
        tied += __builtin_popcount(at[q]);
      }
      if (tied <= excess) {
        for (int q = 0; q < regs; ++q) alive[q] &= static_cast<__mmask8>(~at[q]);
        excess -= tied;
        continue;
      }
      if (excess != 0) return false;
      __m512i best = _mm512_set1_epi64(-1);
      __m512i far = _mm512_setzero_si512();
      __m512i bits = _mm512_setzero_si512();
      const __m512i low = _mm512_set1_epi64(0xff);
      const __m512i one = _mm512_set1_epi64(1);
      for (int q = 0; q < regs; ++q) {
        const __m512i ids = _mm512_maskz_cvtepi32_epi64(0xff, _mm256_maskz_loadu_epi32(0xff, b.cid.data() + 8 * q));
        const __m512i packed = _mm512_maskz_cvtepi32_epi64(0xff, _mm256_maskz_loadu_epi32(0xff, b.cheb.data() + 8 * q));
        best = _mm512_mask_max_epi64(best, at[q], best, ids);
        far = _mm512_mask_max_epi64(far, alive[q], far, _mm512_and_si512(packed, low));
        bits = _mm512_mask_or_epi64(bits, alive[q], bits,
                                    _mm512_maskz_sllv_epi64(0xff, one, _mm512_maskz_srli_epi64(0xff, packed, 8)));
      }
      alignas(64) int64_t values[8];
      _mm512_store_si512(values, best);
      kth_id = static_cast<int32_t>(*std::max_element(values, values + 8));
      _mm512_store_si512(values, far);
      reach = static_cast<int>(*std::max_element(values, values + 8));
      _mm512_store_si512(values, bits);
      near = 0;
      for (int64_t x : values) near |= static_cast<uint64_t>(x);
      kth_d2 = largest;
      return true;
    }
  }

  static constexpr int kPatterns = 128;  // window corners: X mod 8, Y mod 8, and whose carry goes higher
  static constexpr int kCodeRun = 56;    // 49 codes padded to 7 runs of 8 (with kFar, never a member)

  const double* xyz_;
  std::vector<int32_t> nest_codes_;  // kPatterns × kCodeRun
  int64_t nside_;
  int k_;
  int first_;  // first window radius tried
  int m_;      // the block's margin: windows up to radius m − 1, their rings at m
  int w_;      // block width
  double rho_ = 0;
};

// Copies with non-temporal stores where whole cache lines are written: the output (GBs) is not read first.
template <typename T>
SPHAERA_AVX512 void stream_copy(T* dst, const T* src, int64_t n) {
  constexpr int64_t kLane = 64 / sizeof(T);
  int64_t i = 0;
  for (; i < n && (reinterpret_cast<uintptr_t>(dst + i) & 63) != 0; ++i) dst[i] = src[i];
  for (; i + kLane <= n; i += kLane) {
    _mm512_stream_si512(reinterpret_cast<__m512i*>(dst + i), _mm512_loadu_si512(src + i));
  }
  for (; i < n; ++i) dst[i] = src[i];
}

// stream_copy of column indices, each plus `shift`.
SPHAERA_AVX512 void stream_copy_shifted(int32_t* dst, const int32_t* src, int64_t n, int32_t shift) {
  int64_t i = 0;
  for (; i < n && (reinterpret_cast<uintptr_t>(dst + i) & 63) != 0; ++i) dst[i] = src[i] + shift;
  const __m512i add = _mm512_set1_epi32(shift);
  for (; i + 16 <= n; i += 16) {
    _mm512_stream_si512(reinterpret_cast<__m512i*>(dst + i), _mm512_add_epi32(_mm512_loadu_si512(src + i), add));
  }
  for (; i < n; ++i) dst[i] = src[i] + shift;
}

}  // namespace

struct TiledSearch::Impl {
  Impl(const SpherePoints& points, int k)
      : tiles(points.xyz, points.healpix_nside, k),
        turned(rows_of_faces_turned(points)),
        per_face(points.n / 12),
        per_face_tiles(tiles.count() / 12),
        tile_count(turned ? 3 * per_face_tiles : tiles.count()),
        faces(turned ? 4 : 1) {}

  // The c-th tile searched: of faces 0, 4 and 8 only when turned.
  int64_t tile_of(int64_t c) const {
    return turned ? (c / per_face_tiles) * 4 * per_face_tiles + c % per_face_tiles : c;
  }

  // Passes 2 (write false) and 3.
  void rows(const Rows& r, bool write) const;

  const Tiles tiles;
  // Each row of faces is its first face turned (rows_of_faces_turned): a pixel the tiles prove has its k
  // nearest in its own face, at the same distances as its counterparts' in the row's other faces (turns only
  // swap and negate coordinates), so they get its answer, their indices shifted by whole faces (which keeps
  // their order).
  const bool turned;
  const int64_t per_face;        // pixels per base face
  const int64_t per_face_tiles;  // tiles per base face
  const int64_t tile_count;      // tiles searched
  const int64_t faces;           // faces answered by each face searched
};

bool TiledSearch::applies(const SpherePoints& points, int k) {
  return points.full_healpix_sky() && Tiles::applies(points.healpix_nside, k) && knn_tiles_available();
}

TiledSearch::TiledSearch(const SpherePoints& points, int k) : impl_(std::make_unique<Impl>(points, k)) {}

TiledSearch::~TiledSearch() = default;

void TiledSearch::kth_keys(double* kth_d2, int32_t* kth_id, uint8_t* extent, uint64_t* near) const {
  const Impl& s = *impl_;
#pragma omp parallel
  {
    Tiles::Block block;
    s.tiles.reserve(block);
#pragma omp for schedule(dynamic, 4)
    for (int64_t c = 0; c < s.tile_count; ++c) {
      s.tiles.load(s.tile_of(c), block, s.tiles.margin(), nullptr, nullptr);
      s.tiles.kth_keys(block, kth_d2, kth_id, extent, near);
    }
  }
  if (!s.turned) return;
  const int64_t per_face = s.per_face;
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < 9 * per_face; ++c) {
    const int64_t quarter = 1 + (c / per_face) % 3;
    const int64_t from = (c / (3 * per_face)) * 4 * per_face + c % per_face, to = from + quarter * per_face;
    if (extent[from] == 0) continue;
    kth_d2[to] = kth_d2[from];
    kth_id[to] = kth_id[from] + static_cast<int32_t>(quarter * per_face);
    extent[to] = extent[from];
    near[to] = near[from];
  }
}

void TiledSearch::row_sizes(const Rows& rows) const { impl_->rows(rows, false); }

void TiledSearch::write_rows(const Rows& rows) const { impl_->rows(rows, true); }

void TiledSearch::Impl::rows(const Rows& r, bool write) const {
  const int64_t* rp = r.row_ptr;
#pragma omp parallel
  {
    Tiles::Block block;
    tiles.reserve(block);
    // The rows of a tile are built in cache, then streamed out (to each face of the row when turned).
    constexpr int kPixels = Tiles::kTile * Tiles::kTile;
    const int64_t widest = static_cast<int64_t>(2 * r.row_radius + 1) * (2 * r.row_radius + 1) + 1;
    std::vector<int32_t> staged_col(write ? kPixels * widest + 16 : 0);
    std::vector<double> staged_val(staged_col.size());
    int64_t start[kPixels + 1];
    double staged_degree[kPixels];
    bool tileable[kPixels];
#pragma omp for schedule(dynamic, 4)
    for (int64_t c0 = 0; c0 < tile_count; ++c0) {
      const int64_t t = tile_of(c0);
      // Rows come from pass 1's bits when every extent fits their 7 × 7 windows.
      const bool from_bits = r.row_radius <= 3;
      if (from_bits && !write) {
        tiles.load_bits(t, block, r.near);
      } else if (from_bits) {
        tiles.load(t, block, 3, r.kth_d2, r.kth_id, r.near);
      } else {
        tiles.load(t, block, r.row_radius, r.kth_d2, r.kth_id);
      }
      const int radius = from_bits ? 3 : r.row_radius;  // sorted_row reads the 7 × 7 window
      // A pixel's row can be tiled when the tiles proved it and its window lies in the face; it is, unless a
      // point of the bucket search chose it (in each face of the row separately).
      int64_t pos = 0;
      for (int l = 0; l < kPixels; ++l) {
        const int64_t i = block.first + l;
        int u, v;
        tileable[l] = tiles.inside(block, l, radius, u, v) && r.extent[i] > 0;
        start[l] = pos;
        if (!tileable[l]) continue;
        if (!write) {
          const int64_t size = from_bits ? tiles.row_size_from_bits(block, u, v, r.diagonal)
                                         : tiles.row(block, l, u, v, radius, r.diagonal, r.c, nullptr, nullptr);
          for (int64_t q = 0; q < faces; ++q) {
            const int64_t j = i + q * per_face;
            r.tiled[j] = !r.chosen[j];
            if (r.tiled[j]) r.row_ptr[j + 1] = size;
          }
          continue;
        }
        pos +=
            from_bits
                ? tiles.sorted_row(block, l, u, v, r.diagonal, r.c, staged_col.data() + pos, staged_val.data() + pos)
                : tiles.row(block, l, u, v, radius, r.diagonal, r.c, staged_col.data() + pos, staged_val.data() + pos);
      }
      start[kPixels] = pos;
      if (!write) continue;
      exp_nonpositive_inplace(staged_val.data(), pos);
      for (int l = 0; l < kPixels; ++l) {
        if (!tileable[l]) continue;
        staged_degree[l] = finish_row(block.first + l, staged_col.data() + start[l], staged_val.data() + start[l],
                                      start[l + 1] - start[l], r.matrix);
      }
      // Runs of rows tiled in face q go out whole; the indices shift by q faces.
      for (int64_t q = 0; q < faces; ++q) {
        const int32_t shift = static_cast<int32_t>(q * per_face);
        for (int l = 0; l < kPixels;) {
          const int64_t i = block.first + l + q * per_face;
          if (!r.tiled[i]) {
            ++l;
            continue;
          }
          int e = l;
          while (e < kPixels && r.tiled[block.first + e + q * per_face]) ++e;
          const int64_t total = start[e] - start[l];
          stream_copy_shifted(r.col + rp[i], staged_col.data() + start[l], total, shift);
          stream_copy(r.val + rp[i], staged_val.data() + start[l], total);
          if (r.degree != nullptr) {
            for (int x = l; x < e; ++x) r.degree[block.first + x + q * per_face] = staged_degree[x];
          }
          l = e;
        }
      }
    }
    _mm_sfence();
  }
}

}  // namespace knn
}  // namespace sphaera::transforms

#endif
