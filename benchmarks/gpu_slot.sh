#!/usr/bin/env bash
# The README's open GPU measurements in one run that fits a 15-minute device slot with its
# start-up: the configurations aimed at CycleGAN's 2.5x target, pix2pix after the overhead fixes,
# and the demo-data learning tests in bf16-mixed. Each step has its own time limit, so one that
# hangs in compilation cannot take the rest of the slot.
#
#   bash benchmarks/gpu_slot.sh OUT_DIR [WHEEL_DIR] [speed|learning|all]
#
# WHEEL_DIR: wheels to install first where the machine's image lacks packages (albumentations,
# jsonargparse, torch-fidelity, ...), without network or dependencies. Results go to OUT_DIR as
# one JSON file per benchmark step and learning.log.
set -u
out=${1:?usage: bash benchmarks/gpu_slot.sh OUT_DIR [WHEEL_DIR] [speed|learning|all]}
wheels=${2:-}
part=${3:-all}
mkdir -p "$out" && out=$(cd "$out" && pwd)
[ -z "$wheels" ] || wheels=$(cd "$wheels" && pwd) || exit 1
cd "$(dirname "$0")/.."
if [ -n "$wheels" ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/i2i_zoo_site "$wheels"/*.whl || exit 1
    export PYTHONPATH=/tmp/i2i_zoo_site:$PWD
fi
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
python3 -c "import torch, lightning; print('torch', torch.__version__, 'cudnn', torch.backends.cudnn.version(), 'lightning', lightning.__version__)"

bench() {  # bench SECONDS NAME ARGS...: one benchmark configuration, its JSON in OUT_DIR
    local limit=$1 name=$2
    shift 2
    echo "== $name: $*"
    timeout "$limit" python3 benchmarks/train_throughput.py --device cuda --image-size 256 \
        --warmup 6 --iterations 10 --repeats 3 --no-flops --json "$out/$name.json" "$@"
    echo "== $name exit $?"
}

if [ "$part" = speed ] || [ "$part" = all ]; then
    bench 60 pix2pix_b8 --method pix2pix --batch-sizes 8 --precisions 32 bf16-mixed
    bench 90 pix2pix_b8_compiled --method pix2pix --batch-sizes 8 --precisions 32 bf16-mixed --compile on --loops lightning
    bench 100 cyclegan_b8_bf16_compiled_all --method cyclegan --batch-sizes 8 --precisions bf16-mixed \
        --compile on --compile-networks G F D_A D_B
    bench 100 cyclegan_b8_bf16_reduce_overhead --method cyclegan --batch-sizes 8 --precisions bf16-mixed \
        --compile on --compile-networks G F D_A D_B --compile-mode reduce-overhead --loops lightning
fi
if [ "$part" = learning ] || [ "$part" = all ]; then
    echo "== learning tests, gpu, bf16-mixed"
    I2I_ZOO_TEST_ACCELERATOR=gpu I2I_ZOO_TEST_PRECISION=bf16-mixed \
        timeout 240 python3 -m pytest -q -p no:cacheprovider -k "learns or spl_learning" tests/methods 2>&1 | tee "$out/learning.log" | tail -15
fi
