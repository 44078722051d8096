#!/usr/bin/env bash
# The local build on a lent GPU, as one short run (about 3-5 minutes on one H100, 16 CPUs):
#   1. CLAP input features on CUDA equal transformers' ClapFeatureExtractor (pytest -m gpu);
#   2. benchmarks/build.py --device cuda in fp32, bf16 and fp16 (SFXKIT_GPU_PRECISION): build
#      throughput against the raw CLAP audio forward in the same run (target >= 0.8x on a GPU).
# Results: build_gpu.json, build_gpu_bf16.json, build_gpu_fp16.json and features-cuda.txt under
# $OUT when it is set (the device runner brings that folder back), else benchmarks/results/.
# Needs a CUDA build of torch in the active environment (python on PATH, or PYTHON=...).
# Run from the repository root:  bash benchmarks/gpu_check.sh
# A CPU dry run of the same entry points, smaller:  DEVICE=cpu CLIPS=16 ROUNDS=1 bash benchmarks/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python}
DEVICE=${DEVICE:-cuda}
CLIPS=${CLIPS:-256}
ROUNDS=${ROUNDS:-3}
RES=${OUT:-benchmarks/results}
mkdir -p "$RES"
export SFXKIT_PROGRESS=0
status=0

"$PY" - "$DEVICE" <<'EOF' || exit 2
import sys

import torch

dev = sys.argv[1]
if dev.startswith("cuda") and not torch.cuda.is_available():
    sys.exit(f"gpu_check: torch {torch.__version__} sees no CUDA device; install a CUDA build")
name = torch.cuda.get_device_name(0) if dev.startswith("cuda") else "cpu"
print(f"gpu_check: torch {torch.__version__}, device {name}, {torch.get_num_threads()} threads")
EOF

echo "== CLAP features on $DEVICE vs transformers (max |diff| must be <= 1e-4 dB)"
if [ "$DEVICE" = cpu ]; then marker="not gpu"; else marker="gpu"; fi
timeout 150 "$PY" -m pytest tests/index/engines/test_clap_features.py -m "$marker" -q -p no:cacheprovider \
    2>&1 | tee "$RES/features-$DEVICE.txt" | tail -3
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

for precision in fp32 bf16 fp16; do
    if [ "$DEVICE" = cpu ]; then
        out="$RES/build_cpu_check_$precision.json"
    elif [ "$precision" = fp32 ]; then
        out="$RES/build_gpu.json"
    else
        out="$RES/build_gpu_$precision.json"
    fi
    echo "== build vs raw CLAP forward, $DEVICE, $precision -> $out"
    SFXKIT_GPU_PRECISION=$precision timeout 150 "$PY" benchmarks/build.py --device "$DEVICE" \
        --clips "$CLIPS" --rounds "$ROUNDS" --ray-files 0 --out "$out" \
        --note "gpu_check.sh, $precision" 2>&1 | tail -2
    [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
done
exit $status
