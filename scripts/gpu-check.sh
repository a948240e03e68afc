#!/usr/bin/env bash
# On a machine with a GPU: does CUDA work inside `seal run --gpu`, and at what cost?
# Builds (once) a project whose environment has torch, installed by seal from PyPI, then runs
# the same check with the environment's interpreter directly and inside seal: CUDA available,
# the device's name, and a 4096x4096 float32 matmul's throughput (median of 5 runs each).
# Without a GPU it stops at once, loudly, with exit 2: nothing was checked.
#
#   scripts/gpu-check.sh                      # seal from PATH, else target/release/seal
#   SEAL=/path/to/seal WORK=~/gpu-check scripts/gpu-check.sh
set -euo pipefail

if [ ! -e /dev/nvidiactl ] && ! compgen -G '/dev/dri/renderD*' >/dev/null; then
    echo "gpu-check: SKIPPED: this machine has no GPU device (/dev/nvidiactl, /dev/dri/renderD*); nothing was checked" >&2
    exit 2
fi
repo=$(cd "$(dirname "$0")/.." && pwd)
SEAL=${SEAL:-$(command -v seal || echo "$repo/target/release/seal")}
[ -x "$SEAL" ] || { echo "gpu-check: no seal binary at $SEAL (cargo build --release)" >&2; exit 2; }
WORK=${WORK:-$HOME/.cache/seal-gpu-check}
mkdir -p "$WORK"
cd "$WORK"
if [ ! -x .seal/env/bin/python ]; then
    echo "gpu-check: installing torch into $WORK/.seal/env (large download, once)" >&2
    "$SEAL" install torch
fi

cat > check.py <<'PY'
import sys, time
import torch
ok = torch.cuda.is_available()
print("cuda_available", ok)
if not ok:
    sys.exit(1)
print("device", torch.cuda.get_device_name(0))
n = 4096
a = torch.randn(n, n, device="cuda")
b = torch.randn(n, n, device="cuda")
for _ in range(3):
    a @ b
torch.cuda.synchronize()
rates = []
for _ in range(5):
    t = time.perf_counter()
    for _ in range(20):
        a @ b
    torch.cuda.synchronize()
    rates.append(2 * n**3 * 20 / (time.perf_counter() - t) / 1e12)
print("tflops %.3f" % sorted(rates)[2])
PY

echo "== without seal (the environment's interpreter directly)"
bare=$(.seal/env/bin/python check.py) || { echo "$bare"; echo "gpu-check: CUDA does not work even without seal; fix the driver first" >&2; exit 1; }
echo "$bare"
echo "== seal run --gpu"
sealed=$("$SEAL" run --gpu -- python check.py) || {
    echo "$sealed"
    echo "gpu-check: FAILED: CUDA works without seal but not in seal run --gpu; seal run -v --gpu shows the Landlock and seccomp in force" >&2
    exit 1
}
echo "$sealed"
b=$(sed -n 's/^tflops //p' <<<"$bare")
s=$(sed -n 's/^tflops //p' <<<"$sealed")
python3 -c "print('gpu-check: PASSED: matmul throughput in seal / without: %.3f' % ($s / $b))"
