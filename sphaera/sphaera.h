#pragma once
/// Sphaera umbrella header: the public API of every part (link the CMake target Sphaera::sphaera).
///
///   core/        sparse CSR matrices and differentiable products, checks, runtime (threads, seeds, devices)
///   transforms/  samplings of the sphere (HEALPix), DeepSphere graphs and Laplacians
///   models/      layers (ChebConv, HEALPix pooling, ...), the layer registry, networks
///   data_tools/  HEALPix FITS maps, manifests, normalisation, synthetic data, map rendering
///   train/       configs, the trainer, checkpoints, metrics
#include "sphaera/core/check.h"
#include "sphaera/core/runtime.h"
#include "sphaera/core/sparse.h"
#include "sphaera/transforms/graph.h"
#include "sphaera/transforms/grid.h"
#include "sphaera/transforms/healpix_grid.h"
#include "sphaera/transforms/legendre.h"
#include "sphaera/transforms/points.h"
#include "sphaera/transforms/ring_grids.h"
#include "sphaera/transforms/sht.h"
#include "sphaera/transforms/wigner.h"
#include "sphaera/transforms/alm_layout.h"
#include "sphaera/models/cheb_conv.h"
#include "sphaera/models/functional.h"
#include "sphaera/models/layers.h"
#include "sphaera/models/network.h"
#include "sphaera/models/registry.h"
#include "sphaera/models/spectral_conv.h"
#include "sphaera/data_tools/alm_fits.h"
#include "sphaera/data_tools/atomic_file.h"
#include "sphaera/data_tools/healpix_fits.h"
#include "sphaera/data_tools/manifest.h"
#include "sphaera/data_tools/matrix_market.h"
#include "sphaera/data_tools/normalization.h"
#include "sphaera/data_tools/render.h"
#include "sphaera/data_tools/synth.h"
#include "sphaera/train/checkpoint.h"
#include "sphaera/train/config.h"
#include "sphaera/train/experiment.h"
#include "sphaera/train/metrics.h"
#include "sphaera/train/trainer.h"
