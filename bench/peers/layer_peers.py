"""One case of `sphaera bench --peers`: the peer library doing what a Sphaera layer does, timed on the same problem.

`sphaera bench` runs this in the peers' virtual environment (.venv-peers, made by `scripts/bench_peers.sh
--install`; never needed by the product or CI) after measuring its own layer, on maps of the same shape (B maps of
C channels to C, random, of the same dtype), with the same threads and the same warm-up and repeats. Peers:

  torch_geometric  its ChebConv (K terms, normalization "sym", lambda_max 2) on the edges and weights of the
                   graph whose rescaled Laplacian Sphaera uses (--laplacian, a MatrixMarket file: its off-diagonal
                   entries, as magnitudes). Inputs [B, V, C], the static-graph layout of PyG's message passing.
  torch_harmonics  the spectral layer built from its RealSHT / InverseRealSHT on the Gauss-Legendre grid of
                   --rings rings of 2 rings - 1 points: analysis, a real channel mix per degree (einsum), synthesis,
                   differentiable by autograd.
  healpy           the layer's transforms, map2alm (--iter, as the layer's) of the B C input maps and alm2map
                   of the B C outputs, in float64 (healpy has no other); forward + backward does them twice (each backward applies
                   the adjoint of each transform: as much work). healpy has no autograd.

Prints one JSON line: {"peer", "what", "forward": {median_s, min_s, max_s, runs_s}, "forward_backward": {...},
"peak_bytes"} (peak resident memory while the peer ran, Linux's VmHWM reset after its setup), or
{"peer", "unavailable": reason} when the peer is not installed.

  python layer_peers.py --peer torch_geometric --pixels V --laplacian L.mtx --K 5 [--batch 4 --channels 16 ...]
"""

import argparse
import ctypes
import gc
import json
import os
import pathlib
import statistics
import sys
import time

from deepsphere_chebconv import peak_memory_gb


def timing(warmup, repeats, work):
    for _ in range(warmup):
        work()
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        runs.append(time.perf_counter() - start)
    return {"median_s": statistics.median(runs), "min_s": min(runs), "max_s": max(runs), "runs_s": runs}


def reset_peak():
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def torch_geometric_case(args, torch):
    import numpy as np
    import scipy.io
    import scipy.sparse
    from torch_geometric.nn import ChebConv

    lap = scipy.sparse.coo_matrix(scipy.io.mmread(str(args.laplacian)))
    off = lap.row != lap.col
    edge_index = torch.from_numpy(np.vstack([lap.row[off], lap.col[off]]).astype(np.int64))
    edge_weight = torch.from_numpy(np.abs(lap.data[off])).to(args.dtype)
    pixels = lap.shape[0]
    if pixels != args.pixels:
        sys.exit(f"layer_peers: {args.laplacian} has {pixels} rows, not the case's {args.pixels} pixels")
    del lap, off
    layer = ChebConv(args.channels, args.channels, args.K, normalization="sym").to(args.dtype)
    x = torch.randn(args.batch, pixels, args.channels, dtype=args.dtype)
    what = f"torch-geometric ChebConv K={args.K} ({edge_index.shape[1]} edges)"
    return what, lambda inp: layer(inp, edge_index, edge_weight, lambda_max=2.0), x, list(layer.parameters())


def torch_harmonics_case(args, torch):
    import torch_harmonics as th

    nlat, nlon, modes = args.rings, 2 * args.rings - 1, args.lmax + 1
    if nlat * nlon != args.pixels:
        sys.exit(f"layer_peers: {nlat} x {nlon} Gauss-Legendre points are not the case's {args.pixels} pixels")
    sht = th.RealSHT(nlat, nlon, lmax=modes, mmax=modes, grid="legendre-gauss").to(args.dtype)
    isht = th.InverseRealSHT(nlat, nlon, lmax=modes, mmax=modes, grid="legendre-gauss").to(args.dtype)
    weight = torch.randn(args.channels, args.channels, modes, dtype=args.dtype, requires_grad=True)

    def layer(inp):
        coefficients = torch.view_as_real(sht(inp))  # [B, C, l, m, 2]
        mixed = torch.einsum("bclmr,col->bolmr", coefficients, weight)
        return isht(torch.view_as_complex(mixed.contiguous()))

    x = torch.randn(args.batch, args.channels, nlat, nlon, dtype=args.dtype)
    return f"torch-harmonics RealSHT + mix + InverseRealSHT, lmax {args.lmax}", layer, x, [weight]


def healpy_result(args):
    import healpy as hp
    import numpy as np

    nside = int(round((args.pixels / 12) ** 0.5))
    if 12 * nside * nside != args.pixels:
        sys.exit(f"layer_peers: {args.pixels} pixels is not a HEALPix sky")
    rng = np.random.default_rng(args.seed)
    maps = rng.standard_normal((args.batch * args.channels, args.pixels))

    def transforms():
        alm = hp.map2alm(maps, lmax=args.lmax, iter=args.iter, pol=False)
        hp.alm2map(alm, nside, lmax=args.lmax, pol=False)

    def twice():
        transforms()
        transforms()

    reset_peak()
    forward = timing(args.warmup, args.repeats, transforms)
    forward_backward = timing(args.warmup, args.repeats, twice)
    return {"what": f"healpy map2alm (iter {args.iter}) + alm2map of {args.batch * args.channels} maps, lmax {args.lmax}, "
                    "float64",
            "forward": forward, "forward_backward": forward_backward, "peak_bytes": peak_memory_gb() * 1e9}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peer", choices=["torch_geometric", "torch_harmonics", "healpy"], required=True)
    parser.add_argument("--pixels", type=int, required=True)
    parser.add_argument("--laplacian", type=pathlib.Path, help="torch_geometric: the rescaled Laplacian (.mtx)")
    parser.add_argument("--K", type=int, default=5, help="torch_geometric: Chebyshev terms")
    parser.add_argument("--rings", type=int, default=0, help="torch_harmonics: Gauss-Legendre rings")
    parser.add_argument("--lmax", type=int, default=0, help="torch_harmonics, healpy: band limit")
    parser.add_argument("--iter", type=int, default=0, help="healpy: map2alm's refinement steps")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # before any OpenMP runtime starts (healpy)

    try:
        __import__(args.peer)  # the --peer names are the packages' import names
    except ImportError as e:
        print(json.dumps({"peer": args.peer, "unavailable": f"not installed in {sys.prefix} ({e})"}))
        return
    if args.peer == "healpy":
        print(json.dumps({"peer": args.peer, **healpy_result(args)}))
        return

    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    args.dtype = getattr(torch, args.dtype)
    make = torch_geometric_case if args.peer == "torch_geometric" else torch_harmonics_case
    what, layer, x, parameters = make(args, torch)
    inp = x.clone().requires_grad_(True)
    with torch.no_grad():
        grad_output = torch.randn_like(layer(x))
    reset_peak()

    def forward():
        with torch.no_grad():
            layer(x)

    def forward_backward():
        # As the C++ side: the input's and the parameters' gradients, from a given output gradient.
        torch.autograd.grad(layer(inp), [inp, *parameters], grad_output)

    result = {"peer": args.peer, "what": what, "forward": timing(args.warmup, args.repeats, forward),
              "forward_backward": timing(args.warmup, args.repeats, forward_backward),
              "peak_bytes": peak_memory_gb() * 1e9}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
