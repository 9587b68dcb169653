#include "sphaera/transforms/healpix_grid.h"
#include "sphaera/transforms/ring_grids.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <sstream>

#include <ATen/ATen.h>
#include <healpix_base.h>

#include "sphaera/core/check.h"

namespace sphaera::transforms {

// Values computed on first use, shared by copies of a grid.
struct HealpixGrid::Lazy {
  std::once_flag pixels_once;
  at::Tensor pixels;
  std::once_flag directions_once;
  at::Tensor directions;
  std::once_flag neighbours_once;
  at::Tensor neighbours;
  std::once_flag rings_once;
  std::shared_ptr<const RingLayout> rings;
};

namespace {

T_Healpix_Base<int64> nest_base(int64_t nside) { return T_Healpix_Base<int64>(nside, NEST, SET_NSIDE); }

bool is_power_of_two(int64_t n) { return n > 0 && (n & (n - 1)) == 0; }

}  // namespace

HealpixGrid::HealpixGrid(int64_t nside) : nside_(nside), size_(0) {
  check_nside(nside);
  size_ = npix_full_sky();
  init();
}

HealpixGrid::HealpixGrid(int64_t nside, at::Tensor nest_pixels) : nside_(nside), size_(0) {
  check_nside(nside);
  SPHAERA_CHECK(nest_pixels.defined() && nest_pixels.dim() == 1 && nest_pixels.scalar_type() == at::kLong,
                "HealpixGrid: nest_pixels must be an int64 1-D tensor, got ",
                nest_pixels.defined() ? c10::toString(nest_pixels.scalar_type()) : "undefined", " ",
                nest_pixels.defined() ? nest_pixels.sizes() : at::IntArrayRef{});
  SPHAERA_CHECK(nest_pixels.numel() > 0, "HealpixGrid: nest_pixels is empty (a grid needs at least one pixel)");
  nest_pixels_ = nest_pixels.to(at::kCPU).contiguous().clone();
  const int64_t* p = nest_pixels_.data_ptr<int64_t>();
  const int64_t n = nest_pixels_.numel();
  size_ = n;
  const int64_t npix = npix_full_sky();
  for (int64_t i = 0; i < n; ++i) {
    SPHAERA_CHECK(p[i] >= 0 && p[i] < npix, "HealpixGrid: NEST pixel ", p[i], " (at position ", i, ") is outside [0, ",
                  npix, ") for nside ", nside);
    SPHAERA_CHECK(i == 0 || p[i] > p[i - 1], "HealpixGrid: nest_pixels must be strictly increasing, but position ", i,
                  " holds ", p[i], " after ", p[i - 1]);
  }
  init();
}

void HealpixGrid::init() { lazy_ = std::make_shared<Lazy>(); }

std::shared_ptr<HealpixGrid> HealpixGrid::patch(int64_t nside, int64_t order, int64_t index) {
  check_nside(nside);
  SPHAERA_CHECK(is_power_of_two(order) && order <= nside,
                "HealpixGrid::patch: order must be a power of two ≤ nside = ", nside, ", got ", order);
  const int64_t patches = 12 * order * order;
  SPHAERA_CHECK(index >= 0 && index < patches, "HealpixGrid::patch: index must be in [0, ", patches, ") for order ",
                order, ", got ", index);
  const int64_t n = (nside / order) * (nside / order);
  auto grid = std::make_shared<HealpixGrid>(nside, at::arange(index * n, (index + 1) * n, at::kLong));
  grid->patch_order_ = order;
  grid->patch_index_ = index;
  return grid;
}

int64_t HealpixGrid::size() const { return size_; }

const at::Tensor& HealpixGrid::nest_pixels() const {
  if (nest_pixels_.defined()) return nest_pixels_;
  std::call_once(lazy_->pixels_once, [this] { lazy_->pixels = at::arange(size_, at::kLong); });
  return lazy_->pixels;
}

bool HealpixGrid::is_full_sky() const { return size() == npix_full_sky(); }

at::Tensor HealpixGrid::directions() const {
  std::call_once(lazy_->directions_once, [this] {
    const int64_t n = size();
    auto out = at::empty({n, 3}, at::kDouble);
    healpix_nest_directions(nside_, is_full_sky() ? nullptr : nest_pixels_.data_ptr<int64_t>(), n,
                            out.data_ptr<double>());
    lazy_->directions = out;
  });
  return lazy_->directions;
}

at::Tensor HealpixGrid::quadrature_weights() const {
  return at::full({size()}, 4.0 * M_PI / static_cast<double>(npix_full_sky()), at::kDouble);
}

std::string HealpixGrid::key() const {
  std::ostringstream out;
  out << "healpix(nside=" << nside_ << ",nest";
  if (patch_order_ > 0) {
    out << ",patch=" << patch_index_ << ",order=" << patch_order_;
  } else if (!is_full_sky()) {
    // FNV-1a over the pixel values: identifies the subset in cache keys without spelling it out.
    uint64_t h = 1469598103934665603ull;
    const int64_t* p = nest_pixels_.data_ptr<int64_t>();
    for (int64_t i = 0; i < size(); ++i) {
      uint64_t v = static_cast<uint64_t>(p[i]);
      for (int b = 0; b < 8; ++b) {
        h ^= (v >> (8 * b)) & 0xffu;
        h *= 1099511628211ull;
      }
    }
    char hex[17];
    std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(h));
    out << ",pixels=" << size() << ",hash=" << hex;
  }
  out << ")";
  return out.str();
}

int64_t HealpixGrid::position_of(int64_t nest_pixel) const {
  if (nest_pixel < 0 || nest_pixel >= npix_full_sky()) return -1;
  if (is_full_sky()) return nest_pixel;
  const int64_t* p = nest_pixels_.data_ptr<int64_t>();
  const int64_t* end = p + size();
  const int64_t* it = std::lower_bound(p, end, nest_pixel);
  return (it != end && *it == nest_pixel) ? it - p : -1;
}

at::Tensor HealpixGrid::neighbours() const {
  std::call_once(lazy_->neighbours_once, [this] {
    const int64_t n = size();
    auto out = at::empty({n, 8}, at::kLong);
    int64_t* o = out.data_ptr<int64_t>();
    const bool full = is_full_sky();
    const int64_t* pix = full ? nullptr : nest_pixels_.data_ptr<int64_t>();
    const auto base = nest_base(nside_);
#pragma omp parallel for schedule(static) if (n > 20000)
    for (int64_t i = 0; i < n; ++i) {
      fix_arr<int64, 8> nb;
      base.neighbors(full ? i : pix[i], nb);
      for (int j = 0; j < 8; ++j) {
        o[8 * i + j] = nb[j] < 0 ? -1 : (full ? nb[j] : position_of(nb[j]));
      }
    }
    lazy_->neighbours = out;
  });
  return lazy_->neighbours;
}

std::shared_ptr<HealpixGrid> HealpixGrid::coarsened() const {
  SPHAERA_CHECK(nside_ >= 2, "HealpixGrid::coarsened: ", key(), " is already at nside 1 (no coarser HEALPix level)");
  if (is_full_sky()) return std::make_shared<HealpixGrid>(nside_ / 2);
  if (patch_order_ > 0 && nside_ / 2 >= patch_order_) return patch(nside_ / 2, patch_order_, patch_index_);
  const int64_t n = size();
  const int64_t* p = nest_pixels_.data_ptr<int64_t>();
  SPHAERA_CHECK(n % 4 == 0, "HealpixGrid::coarsened: ", key(), " has ", n,
                " pixels, not whole groups of 4 NEST children");
  auto parents = at::empty({n / 4}, at::kLong);
  int64_t* q = parents.data_ptr<int64_t>();
  for (int64_t j = 0; j < n / 4; ++j) {
    const int64_t parent = p[4 * j] / 4;
    for (int c = 0; c < 4; ++c) {
      SPHAERA_CHECK(p[4 * j + c] == 4 * parent + c, "HealpixGrid::coarsened: in ", key(), " the parent ", parent,
                    " (nside ", nside_ / 2, ") of NEST pixel ", p[4 * j],
                    " lacks some of its 4 children, so the grid cannot be pooled");
    }
    q[j] = parent;
  }
  return std::make_shared<HealpixGrid>(nside_ / 2, parents);
}

std::shared_ptr<HealpixGrid> HealpixGrid::refined() const {
  SPHAERA_CHECK(nside_ * 2 <= 8192, "HealpixGrid::refined: ", key(), " is at nside ", nside_,
                "; nside 16384 is beyond the supported 8192");
  if (is_full_sky()) return std::make_shared<HealpixGrid>(nside_ * 2);
  if (patch_order_ > 0) return patch(nside_ * 2, patch_order_, patch_index_);
  auto children = (nest_pixels_.unsqueeze(1) * 4 + at::arange(4, at::kLong).unsqueeze(0)).reshape({-1});
  return std::make_shared<HealpixGrid>(nside_ * 2, children);
}

at::Tensor HealpixGrid::ring_to_nest() const {
  SPHAERA_CHECK(is_full_sky(), "HealpixGrid::ring_to_nest: RING order exists only on the full sky, not on ", key());
  const int64_t n = size();
  auto out = at::empty({n}, at::kLong);
  int64_t* o = out.data_ptr<int64_t>();
  const auto base = nest_base(nside_);
#pragma omp parallel for schedule(static) if (n > 20000)
  for (int64_t r = 0; r < n; ++r) o[r] = base.ring2nest(r);
  return out;
}

at::Tensor HealpixGrid::nest_to_ring() const {
  SPHAERA_CHECK(is_full_sky(), "HealpixGrid::nest_to_ring: RING order exists only on the full sky, not on ", key());
  const int64_t n = size();
  auto out = at::empty({n}, at::kLong);
  int64_t* o = out.data_ptr<int64_t>();
  const auto base = nest_base(nside_);
#pragma omp parallel for schedule(static) if (n > 20000)
  for (int64_t i = 0; i < n; ++i) o[i] = base.nest2ring(i);
  return out;
}

namespace {
// The 4·nside − 1 rings of the full sky, in RING order (ring_order left undefined).
std::shared_ptr<RingLayout> healpix_ring_layout(int64_t nside) {
  auto layout = std::make_shared<RingLayout>();
  layout->rings = healpix_rings(nside);
  return layout;
}
}  // namespace

std::shared_ptr<const RingLayout> HealpixGrid::rings() const {
  if (!is_full_sky()) return nullptr;
  std::call_once(lazy_->rings_once, [&] {
    auto layout = healpix_ring_layout(nside_);
    layout->ring_order = ring_to_nest();
    lazy_->rings = std::move(layout);
  });
  return lazy_->rings;
}

HealpixRingOrderGrid::HealpixRingOrderGrid(int64_t nside) : nside_(nside) {
  SPHAERA_CHECK(nside >= 1 && nside <= 8192 && (nside & (nside - 1)) == 0,
                "HealpixRingOrderGrid: nside must be a power of two in [1, 8192], got ", nside);
  layout_ = healpix_ring_layout(nside);
}

at::Tensor HealpixRingOrderGrid::directions() const {
  // The NEST grid's vectors (healpix_nest_directions), in RING order: the same doubles in either order.
  const at::Tensor ring2nest = HealpixGrid(nside_).ring_to_nest();
  at::Tensor out = at::empty({size(), 3}, at::kDouble);
  healpix_nest_directions(nside_, ring2nest.data_ptr<int64_t>(), size(), out.data_ptr<double>());
  return out;
}

at::Tensor HealpixRingOrderGrid::quadrature_weights() const {
  return at::full({size()}, 4.0 * M_PI / static_cast<double>(size()), at::kDouble);
}

std::string HealpixRingOrderGrid::key() const { return "healpix(nside=" + std::to_string(nside_) + ",ring)"; }

int64_t full_sky_healpix_nside(const Grid& grid) {
  if (const auto* g = dynamic_cast<const HealpixGrid*>(&grid)) return g->is_full_sky() ? g->nside() : 0;
  if (const auto* g = dynamic_cast<const HealpixRingOrderGrid*>(&grid)) return g->nside();
  return 0;
}

}  // namespace sphaera::transforms
