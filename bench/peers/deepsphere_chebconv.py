"""deepsphere-pytorch's ChebConv timed on a Laplacian written by `sphaera graph --out`, for scripts/bench_peers.sh.

The peer's own layer code (deepsphere/layers/chebyshev.py of a deepsphere-pytorch checkout, loaded from the file:
its package __init__ pulls in dependencies the layer does not use) runs on the same problem as
bench/chebconv_bench.cpp: B maps of C channels to C, K terms, float32, all cores. Its input layout is (B, V, Fin).
The Laplacian is rescaled as L - I (the sparsity pattern, which sets the cost, is the one the layer sees in
training; the values do not change the time). Prints one JSON line: seconds per call (best of the repeats) and
peak_GB, the peak resident memory while the layer runs (Linux's VmHWM reset after the setup, as the C++ side).

  python deepsphere_chebconv.py --peer-source DIR --laplacian L.mtx --mode forward|backward [--repeats 3]
"""

import argparse
import ctypes
import gc
import importlib.util
import json
import pathlib
import sys
import time

import numpy as np
import scipy.io
import scipy.sparse
import torch


def load_peer_layer(source: pathlib.Path):
    path = source / "deepsphere" / "layers" / "chebyshev.py"
    if not path.is_file():
        sys.exit(f"deepsphere_chebconv: {path} not found (--peer-source must be a deepsphere-pytorch checkout)")
    spec = importlib.util.spec_from_file_location("deepsphere_chebyshev", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peer-source", type=pathlib.Path, required=True)
    parser.add_argument("--laplacian", type=pathlib.Path, required=True)
    parser.add_argument("--mode", choices=["forward", "backward"], required=True)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--kernel-size", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    peer = load_peer_layer(args.peer_source)
    lap = scipy.sparse.coo_matrix(scipy.io.mmread(str(args.laplacian)))
    lap = (lap - scipy.sparse.identity(lap.shape[0], format="coo")).tocoo()
    indices = torch.from_numpy(np.vstack([lap.row, lap.col]).astype(np.int64))
    laplacian = torch.sparse_coo_tensor(indices, torch.from_numpy(lap.data.astype(np.float32)), lap.shape).coalesce()
    v = lap.shape[0]

    torch.manual_seed(0)
    layer = peer.ChebConv(args.channels, args.channels, args.kernel_size)
    x = torch.randn(args.batch, v, args.channels, requires_grad=args.mode == "backward")
    del lap, indices
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        if args.mode == "forward":
            with torch.no_grad():
                layer(laplacian, x)
        else:
            loss = layer(laplacian, x).sum()
            torch.autograd.grad(loss, [x, *layer.parameters()])  # as the C++ side: returned, not accumulated
            del loss
        times.append(time.perf_counter() - start)
    print(json.dumps({"peer": "deepsphere-pytorch", "mode": args.mode, "pixels": v, "nnz": laplacian._nnz(),
                      "threads": torch.get_num_threads(), "seconds": min(times), "all_seconds": times,
                      "peak_GB": peak_memory_gb()}))


def peak_memory_gb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1e6
    return 0.0


if __name__ == "__main__":
    main()
