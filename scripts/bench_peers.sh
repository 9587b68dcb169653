#!/usr/bin/env bash
# The peers Sphaera is measured against, in a virtual environment of their own (.venv-peers, git ignores it;
# neither the product nor CI uses it), and Sphaera's ChebConv against deepsphere-pytorch's in one run.
#
#   bash scripts/bench_peers.sh --install     installs the peers only, for `sphaera bench --peers` (idempotent)
#   bash scripts/bench_peers.sh [NSIDE...]    also compares with deepsphere-pytorch, e.g. 64 256 (default 256)
#
# The environment reuses the torch of the project's .venv (the same pinned wheel, through a .pth file: no second
# download; pip is held to that version) and holds, from PyPI at pinned versions: numpy, scipy, healpy,
# torch-geometric and torch-harmonics (the release built for that torch), which bench/peers/layer_peers.py runs
# for `sphaera bench --peers`; and deepsphere-pytorch's source at a pinned commit (its layer file only; its
# package needs more than the layer does), cloned from DEEPSPHERE_REPO (a URL or a local clone; default GitHub).
#
# The comparison with deepsphere-pytorch: forward and forward + backward time (best of REPEATS, default 3) and
# peak memory of each, one process per case, for each nside given. Same problem on both sides: the V2 k = 8
# graph of the full sky (written by `sphaera graph --out`), float32, B = 8 maps of 16 channels to 16, K = 5,
# all cores. Needs a build (scripts/build.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
DEEPSPHERE_COMMIT=43f03f1bef146d256a7e1c1e69df6712d089b9e5  # deepsphere-pytorch master, 2022-04-04
peers=.venv-peers
repeats=${REPEATS:-3}
install_only=0
[[ ${1:-} == --install ]] && { install_only=1; shift; }
nsides=("$@")
[[ ${#nsides[@]} -gt 0 ]] || nsides=(256)
PEER_PACKAGES=(numpy scipy "healpy==1.20.1" "torch-geometric==2.8.1" "torch-harmonics==0.9.2")

site=$(compgen -G ".venv/lib/python3*/site-packages" | head -n1) ||
  { echo "bench_peers: no .venv with torch (run scripts/install_deps.sh)" >&2; exit 1; }
torch_version=$(.venv/bin/python -c 'import torch; print(torch.__version__.split("+")[0])')
if [[ ! -x $peers/bin/python ]]; then
  /usr/bin/python3 -m venv "$peers"
fi
peer_site=$(compgen -G "$peers/lib/python3*/site-packages" | head -n1)
echo "$PWD/$site" > "$peer_site/sphaera_torch.pth"
if ! "$peers/bin/python" -c 'import numpy, scipy, healpy, torch_geometric, torch_harmonics' 2>/dev/null; then
  echo "torch==$torch_version" > "$peers/constraints.txt"
  "$peers/bin/pip" install --disable-pip-version-check --progress-bar off -c "$peers/constraints.txt" "${PEER_PACKAGES[@]}"
fi
if [[ $install_only == 1 ]]; then
  echo "bench_peers: peers installed in $peers (sphaera bench --peers uses them)"
  exit 0
fi
[[ -x build/bench/chebconv_bench && -x build/sphaera ]] || { echo "bench_peers: build first (scripts/build.sh)" >&2; exit 1; }
src=$peers/src/deepsphere-pytorch
if [[ ! -d $src/.git ]]; then
  git clone -q --no-checkout "${DEEPSPHERE_REPO:-https://github.com/deepsphere/deepsphere-pytorch}" "$src"
fi
git -C "$src" checkout -q "$DEEPSPHERE_COMMIT" -- deepsphere/layers/chebyshev.py  # the layer file alone

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Ours: the Google Benchmark case, best of the repetitions; peer: its script. Each prints "SECONDS PEAK_GB" (peak
# resident memory while the layer runs: input, Laplacian and what the layer allocates; see either side's comment).
ours() {
  ./build/bench/chebconv_bench --benchmark_filter="$1" --benchmark_repetitions="$repeats" \
    --benchmark_out="$work/bench.json" --benchmark_out_format=json > /dev/null 2> "$work/err.txt" ||
    { cat "$work/err.txt" >&2; return 1; }
  python3 - "$work/bench.json" <<'PY'
import json, sys
runs = [b for b in json.load(open(sys.argv[1]))["benchmarks"]
        if "aggregate_name" not in b and b.get("run_type", "iteration") == "iteration"]
unit = {"s": 1, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}[runs[0]["time_unit"]]
print(min(b["real_time"] for b in runs) * unit, max(b["peak_GB"] for b in runs))
PY
}
peer() {
  "$peers/bin/python" -W ignore bench/peers/deepsphere_chebconv.py --peer-source "$src" --laplacian "$work/lap.mtx" \
    --mode "$1" --repeats "$repeats" | python3 -c 'import json,sys; r=json.loads(sys.stdin.read().splitlines()[-1]); print(r["seconds"], r["peak_GB"])'
}

printf '%-6s %-17s %12s %12s %9s %12s %12s %9s\n' nside case "sphaera s" "peer s" speedup "sphaera GB" "peer GB" "mem ratio"
for nside in "${nsides[@]}"; do
  ./build/sphaera graph --nside "$nside" --k 8 --out "$work/lap.mtx" > /dev/null 2>&1
  for mode in forward backward; do
    if [[ $mode == forward ]]; then filter="ChebConvForward/$nside/"; else filter="ChebConvForwardBackward/$nside/"; fi
    read -r ours_s ours_gb < <(ours "$filter")
    read -r peer_s peer_gb < <(peer "$mode")
    python3 - "$nside" "$mode" "$ours_s" "$peer_s" "$ours_gb" "$peer_gb" <<'PY'
import sys
n, mode, s, p, m, pm = sys.argv[1], sys.argv[2], *map(float, sys.argv[3:])
case = "forward" if mode == "forward" else "forward+backward"
print(f"{n:<6} {case:<17} {s:12.3f} {p:12.3f} {p / s:8.1f}x {m:12.2f} {pm:12.2f} {m / pm:9.2f}")
PY
  done
done
echo "threads: $(nproc) (all cores, both sides); BLAS: LibTorch's (the same wheel on both sides)"
