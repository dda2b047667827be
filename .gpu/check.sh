#!/usr/bin/env bash
# GPU checks for packages gpu and pretrain, for a machine with an NVIDIA
# GPU (CUDA 12 or 13 driver, cuBLAS, cuDNN 9; no network needed). Run from
# anywhere:
#
#   .gpu/check.sh            # about 3-5 minutes
#
# 1. Builds the test binary of ./gpu (CGO_ENABLED=0 go test -c) unless
#    VIDSSL_GPU_TEST_BIN names one; when there is no Go toolchain or the
#    build fails (no module cache offline), it uses .gpu/bin/gpu.test, built
#    elsewhere with: CGO_ENABLED=0 go test -c -o .gpu/bin/gpu.test ./gpu
# 2. Runs the device-vs-CPU equivalence tests: every device op against the
#    nn CPU op on small 5-D tensors (elementwise within 1e-3), and R3D-18,
#    R(2+1)D-18, MC3-18 and a user-defined nn model's training steps (one
#    generic plan) against the CPU graph's step: losses within 1e-3; each
#    gradient, running statistic and Adam moment tensor within 1e-2 and
#    each parameter change within 5e-2 in relative L2 norm (see gpuStepTol
#    in gpu/cuda_test.go for why per tensor).
# 3. Fine-tunes and pretrains (MI-SimCLR+FO) a tiny model on echosynth
#    videos on the GPU and on the CPU, with Adam and with SGD (finetune's
#    TestFineTuneOnCUDA and TestFineTuneSGDOnCUDA, pretrain's TestRunOnCUDA
#    and TestRunSGDOnCUDA: losses within 1e-2, weights within 5e-2);
#    compares pretrain's own training step on the GPU (deviceStep) with its
#    CPU graph (cpuStep) for MI-SimCLR+FO steps of R3D-18 and SimCLR steps
#    of a tiny encoder (pretrain's TestCUDAStepMatchesCPU, the tolerances of
#    step 2); and runs the tiny preset of examples/aorticstenosis with
#    -device cuda (built here, or .gpu/bin/{finetune,pretrain}.test and
#    .gpu/bin/aorticstenosis built elsewhere).
# 4. Benchmarks an R3D-18 training step at (88, 3, 16, 112, 112), or the
#    largest batch that fits, in Go (gpu's TestCUDATrainBenchmark) and, when
#    a python with CUDA torch is found, in PyTorch eager with
#    cudnn.benchmark on the same GPU, and prints clips/s and the ratio; then
#    the same for pretrain's self-supervised step (MI-SimCLR+FO, 392 pairs
#    of 4 x 112 x 112 clips, or the most that fit; pretrain's
#    TestCUDASSLBenchmark from the pretrain test binary of step 3, and
#    .gpu/bench_ssl_torch.py), in pairs/s.
#
# Logs go to $OUT (default /tmp/vidssl-gpu). Library search: see
# internal/cuda (VIDSSL_CUDA_LIB_DIR, LD_LIBRARY_PATH, system and pip
# nvidia/*/lib directories). BATCH, PAIRS, STEPS and TF32 (1) tune the
# benchmarks.
set -u -o pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/vidssl-gpu}
mkdir -p "$OUT"
status=0

echo "== device"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 || echo "(no nvidia-smi)"

BIN=${VIDSSL_GPU_TEST_BIN:-}
if [ -z "$BIN" ] && command -v go >/dev/null 2>&1; then
	echo "== build"
	if CGO_ENABLED=0 go test -c -o "$OUT/gpu.test" ./gpu; then
		BIN=$OUT/gpu.test
	else
		echo "(build failed; no module cache offline?)"
	fi
fi
if [ -z "$BIN" ] && [ -x .gpu/bin/gpu.test ]; then
	echo "(using the prebuilt .gpu/bin/gpu.test)"
	BIN=.gpu/bin/gpu.test
fi
if [ -z "$BIN" ]; then
	echo "FAIL: cannot build the test binary and no prebuilt one (VIDSSL_GPU_TEST_BIN or .gpu/bin/gpu.test)"
	exit 1
fi

echo "== equivalence tests (device ops and R3D-18 steps vs CPU)"
timeout 240 "$BIN" -test.v -test.count=1 -test.timeout=235s \
	-test.run 'TestOpsMatchNN|TestCUDA' 2>&1 | tee "$OUT/equivalence.log" |
	grep -E '^(=== RUN|--- |PASS|FAIL|ok|panic)|_test.go:|BENCH' | grep -v '^=== RUN'
rc=${PIPESTATUS[0]}
if [ "$rc" -ne 0 ]; then
	echo "FAIL: equivalence tests (exit $rc; log $OUT/equivalence.log)"
	status=1
fi
if grep -q 'no CUDA device' "$OUT/equivalence.log"; then
	echo "FAIL: the tests found no usable CUDA device (see the skip messages above)"
	status=1
fi

# testbin PKG NAME: the test binary of ./PKG, built here or prebuilt in .gpu/bin.
testbin() {
	if command -v go >/dev/null 2>&1 && CGO_ENABLED=0 go test -c -o "$OUT/$2.test" "./$1" 2>/dev/null; then
		echo "$OUT/$2.test"
	elif [ -x ".gpu/bin/$2.test" ]; then
		echo "$PWD/.gpu/bin/$2.test"
	fi
}

PRETRAIN_BIN=""
for t in finetune:TestFineTuneOnCUDA,TestFineTuneSGDOnCUDA pretrain:TestRunOnCUDA,TestRunSGDOnCUDA,TestCUDAStepMatchesCPU; do
	pkg=${t%%:*}
	names=${t#*:}
	echo "== $pkg on the GPU vs the CPU ($names)"
	BINP=$(testbin "$pkg" "$pkg")
	if [ -z "$BINP" ]; then
		echo "FAIL: no $pkg test binary"
		status=1
		continue
	fi
	[ "$pkg" = pretrain ] && PRETRAIN_BIN=$BINP
	(cd "$pkg" && timeout 240 "$BINP" -test.v -test.count=1 -test.timeout=235s -test.run "^(${names//,/|})\$") 2>&1 |
		tee "$OUT/$pkg.log" | grep -E '^(--- |PASS|FAIL|ok|panic)|_test.go:'
	if [ "${PIPESTATUS[0]}" -ne 0 ]; then
		echo "FAIL: $pkg on the GPU (log $OUT/$pkg.log)"
		status=1
	fi
	for name in ${names//,/ }; do
		if ! grep -q -- "--- PASS: $name" "$OUT/$pkg.log"; then
			echo "FAIL: $pkg's $name did not pass on the GPU (log $OUT/$pkg.log)"
			status=1
		fi
	done
done

echo "== pipeline: examples/aorticstenosis -preset tiny -device cuda"
EX=""
if command -v go >/dev/null 2>&1 && CGO_ENABLED=0 go build -o "$OUT/aorticstenosis" ./examples/aorticstenosis 2>/dev/null; then
	EX=$OUT/aorticstenosis
elif [ -x .gpu/bin/aorticstenosis ]; then
	EX=.gpu/bin/aorticstenosis
fi
if [ -z "$EX" ]; then
	echo "FAIL: no aorticstenosis binary"
	status=1
else
	rm -rf /tmp/vidssl-tiny-cuda
	if timeout 120 "$EX" -preset tiny -device cuda -quiet -out /tmp/vidssl-tiny-cuda >"$OUT/pipeline.log" 2>&1; then
		grep -E 'device=|level=(WARN|ERROR)|done' "$OUT/pipeline.log"
		cp /tmp/vidssl-tiny-cuda/results.csv "$OUT/pipeline-results.csv" 2>/dev/null && cat "$OUT/pipeline-results.csv"
	else
		tail -5 "$OUT/pipeline.log"
		echo "FAIL: the tiny pipeline on the GPU (log $OUT/pipeline.log)"
		status=1
	fi
fi

echo "== benchmark: Go"
VIDSSL_GPU_BENCH=1 VIDSSL_GPU_BENCH_BATCH=${BATCH:-88} VIDSSL_GPU_BENCH_STEPS=${STEPS:-10} VIDSSL_GPU_BENCH_TF32=${TF32:-1} \
	timeout 120 "$BIN" -test.v -test.count=1 -test.timeout=115s -test.run 'TestCUDATrainBenchmark$' 2>&1 |
	tee "$OUT/bench_go.log" | grep -E 'BENCH|_test.go:|FAIL|panic'
GO_LINE=$(grep '^BENCH go' "$OUT/bench_go.log" | tail -1)
if [ -z "$GO_LINE" ]; then
	echo "FAIL: no Go benchmark result (log $OUT/bench_go.log)"
	exit 1
fi
B=$(sed -n 's/.* batch=\([0-9]*\).*/\1/p' <<<"$GO_LINE")
GO_CPS=$(sed -n 's/.* clips_per_s=\([0-9.]*\).*/\1/p' <<<"$GO_LINE")

echo "== benchmark: PyTorch"
PY=""
for p in ${PYTHON:-} python3 /usr/bin/python3 /usr/local/bin/python3 python; do
	if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' >/dev/null 2>&1; then
		PY=$p
		break
	fi
done
if [ -z "$PY" ]; then
	echo "SKIP: no python with CUDA torch; Go: $GO_CPS clips/s at batch $B"
	exit $status
fi
timeout 120 "$PY" .gpu/bench_torch.py --batch "$B" --steps "${STEPS:-10}" --tf32 "${TF32:-1}" 2>&1 | tee "$OUT/bench_torch.log" | grep -E 'BENCH|Error|error'
PT_LINE=$(grep '^BENCH torch' "$OUT/bench_torch.log" | tail -1)
if [ -z "$PT_LINE" ]; then
	echo "SKIP: PyTorch benchmark failed (log $OUT/bench_torch.log); Go: $GO_CPS clips/s at batch $B"
	exit $status
fi
PT_CPS=$(sed -n 's/.* clips_per_s=\([0-9.]*\).*/\1/p' <<<"$PT_LINE")
awk -v g="$GO_CPS" -v p="$PT_CPS" -v b="$B" 'BEGIN { printf "RESULT batch=%d go_clips_per_s=%.2f torch_clips_per_s=%.2f go/torch=%.3f\n", b, g, p, g / p }'

echo "== benchmark: pretrain's self-supervised step (MI-SimCLR+FO, two views of 4 x 112 x 112), Go then PyTorch"
if [ -z "$PRETRAIN_BIN" ]; then
	echo "FAIL: no pretrain test binary for the self-supervised benchmark"
	exit 1
fi
VIDSSL_GPU_BENCH=1 VIDSSL_GPU_BENCH_PAIRS=${PAIRS:-392} VIDSSL_GPU_BENCH_STEPS=${STEPS:-10} VIDSSL_GPU_BENCH_TF32=${TF32:-1} \
	timeout 150 "$PRETRAIN_BIN" -test.v -test.count=1 -test.timeout=145s -test.run 'TestCUDASSLBenchmark$' 2>&1 |
	tee "$OUT/bench_ssl_go.log" | grep -E 'BENCH|_test.go:|FAIL|panic'
GO_LINE=$(grep '^BENCH go-ssl' "$OUT/bench_ssl_go.log" | tail -1)
if [ -z "$GO_LINE" ]; then
	echo "FAIL: no Go self-supervised benchmark result (log $OUT/bench_ssl_go.log)"
	exit 1
fi
NP=$(sed -n 's/.* pairs=\([0-9]*\).*/\1/p' <<<"$GO_LINE")
GO_PPS=$(sed -n 's/.* pairs_per_s=\([0-9.]*\).*/\1/p' <<<"$GO_LINE")
(cd .gpu && timeout 150 "$PY" bench_ssl_torch.py --pairs "$NP" --steps "${STEPS:-10}" --tf32 "${TF32:-1}") 2>&1 | tee "$OUT/bench_ssl_torch.log" | grep -E 'BENCH|Error|error'
PT_LINE=$(grep '^BENCH torch-ssl' "$OUT/bench_ssl_torch.log" | tail -1)
if [ -z "$PT_LINE" ]; then
	echo "SKIP: PyTorch self-supervised benchmark failed (log $OUT/bench_ssl_torch.log); Go: $GO_PPS pairs/s at $NP pairs"
	exit $status
fi
PT_PPS=$(sed -n 's/.* pairs_per_s=\([0-9.]*\).*/\1/p' <<<"$PT_LINE")
awk -v g="$GO_PPS" -v p="$PT_PPS" -v b="$NP" 'BEGIN { printf "RESULT ssl pairs=%d go_pairs_per_s=%.2f torch_pairs_per_s=%.2f go/torch=%.3f\n", b, g, p, g / p }'
exit $status
