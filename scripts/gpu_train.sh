#!/usr/bin/env bash
# One training session on a lent GPU machine (docs/TRAINING.md, "Training on a lent GPU").
#
# Here, once (both folders are git-ignored; together with the tracked files they stay under
# the 64 MiB that travels):
#   python -m graycodec.training.pack ../shared/data/photos/imagenet-sample ../shared/data/photos/bsds500 \
#       --out gpu_data/photos --short-side 256 --quality 78 --chroma 420      # 25.7 MiB
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux2014_x86_64 -d .whl zstandard                      # the one missing package
# Then, with the device tool:  run(command="bash scripts/gpu_train.sh 7", carry=["gpu_data", ".whl"], timeout_s=600)
# and back here:  bash scripts/gpu_train.sh --join FILES_AT runs/gpu
#
# Arguments: MINUTES of training (the run stops there, validates and releases its best).
# Environment: DATA, DEVICE (cuda), BATCH (256), LR (1e-3), STEPS (the schedule's length,
# 6000), VAL_EVERY (2000), HINTS (the --hint-fraction, 0: the shipped model's hints go through
# its refiner, never through the U-Net), EMA (the --ema decay, 0.999), OUT ($OUT on the device
# machine, else out/gpu).
set -euo pipefail
if [[ "${1:-}" == "--join" ]]; then  # reassemble the weight file the device machine sent in parts
    src=$2 dst=$3
    mkdir -p "$dst"
    name=$(cat "$src/name.txt")
    cat "$src"/weights.part.* > "$dst/$name.safetensors"
    cp "$src/card.json" "$dst/$name.json"
    cp "$src/log.jsonl" "$dst/log.jsonl"
    echo "wrote $dst/$name.safetensors"
    exit 0
fi
MINUTES=${1:-7}
DATA=${DATA:-gpu_data/photos}
OUT=${OUT:-out/gpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if ! python3 -c "import zstandard" 2>/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-}  # the working tree as it is: no install needed
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | tee "$OUT/hardware.txt" || true
python3 -m graycodec prepare "$DATA" --out /tmp/gpu-cache.npy --short-side 256 --no-progress
shipped=$(ls models/*.safetensors | head -1)
rm -rf /tmp/gpu-models /tmp/gpu-run  # a second call on a warm machine: release only this run's file
python3 -m graycodec train /tmp/gpu-cache.npy --out /tmp/gpu-models/graycodec-gpu --workdir /tmp/gpu-run \
    --init "$shipped" --short-side 256 --size 64 --batch-size "${BATCH:-256}" --lr "${LR:-1e-3}" \
    --steps "${STEPS:-6000}" --minutes "$MINUTES" --val-every "${VAL_EVERY:-2000}" --val-images 96 \
    --ckpt-every 1000 --hint-fraction "${HINTS:-0}" --ema "${EMA:-0.999}" --device "${DEVICE:-cuda}" 2>&1 | tr '\r' '\n' | grep -v '^train:' | tee "$OUT/train.log"
release=$(ls /tmp/gpu-models/graycodec-gpu-*.safetensors)
basename "$release" .safetensors > "$OUT/name.txt"
split -b 15M "$release" "$OUT/weights.part."  # at most 16 MiB a file comes back
cp "${release%.safetensors}.json" "$OUT/card.json"
cp /tmp/gpu-run/log.jsonl "$OUT/log.jsonl"
ls -la "$OUT"
