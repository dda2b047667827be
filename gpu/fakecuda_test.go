package gpu

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeEnv marks the child process that runs on the fake libraries.
const fakeEnv = "VIDSSL_FAKE_CUDA"

// TestFakeCUDALibraries builds fake libcuda.so.1, libcublas.so.12 and
// libcudnn.so.9 (testdata/fakecuda, C with the headers' prototypes and
// reference semantics on host memory) and reruns this package's CUDA tests
// in a child process that loads them through VIDSSL_CUDA_LIB_DIR: the real
// internal/cuda loader, device thread, purego calls (up to 19 arguments with
// doubles, void** kernel parameters, arrays of perf structs), descriptors,
// algorithm search and caching, workspaces and the trainer run end to end
// against CPU nn. It needs gcc and skips without it. What it cannot check is
// the real libraries' behaviour: streams, the PTX JIT, cuDNN's numerics.
func TestFakeCUDALibraries(t *testing.T) {
	if os.Getenv(fakeEnv) != "" {
		t.Skip("already on the fake libraries")
	}
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("no gcc to build the fake CUDA libraries")
	}
	dir := t.TempDir()
	for _, l := range []struct{ src, name string }{
		{"fakecuda.c", "libcuda.so.1"}, {"fakecublas.c", "libcublas.so.12"}, {"fakecudnn.c", "libcudnn.so.9"},
	} {
		out, err := exec.Command(gcc, "-O2", "-Wall", "-shared", "-fPIC", "-Wl,-soname,"+l.name,
			"-o", filepath.Join(dir, l.name), filepath.Join("testdata", "fakecuda", l.src), "-lm").CombinedOutput()
		if err != nil {
			t.Fatalf("gcc %s: %v\n%s", l.src, err, out)
		}
	}
	run := func(t *testing.T, pattern string, env ...string) string {
		t.Helper()
		log := filepath.Join(t.TempDir(), "calls.log")
		cmd := exec.Command(os.Args[0], "-test.run", pattern, "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), fakeEnv+"=1", "VIDSSL_CUDA_LIB_DIR="+dir, "FAKECUDA_LOG="+log)
		cmd.Env = append(cmd.Env, env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child test run failed: %v\n%s", err, out)
		}
		calls, _ := os.ReadFile(log)
		return string(out) + "\n" + string(calls)
	}
	t.Run("tests", func(t *testing.T) {
		out := run(t, "^(TestCUDAOpenHere|TestCUDAOutOfMemory|TestOpsMatchNN|TestCUDATinyTrainerMatchesCPU|ExampleNewTrainer)$")
		for _, want := range []string{
			"CUDA engine: cuda:0 Fake GPU (sm_90, driver 12.4, cuDNN 9.6.0, cuBLAS 120402)",
			"--- PASS: TestCUDAOutOfMemory",
			"--- PASS: TestOpsMatchNN/cuda/Conv3d_stem",
			"--- PASS: TestOpsMatchNN/cuda/BatchNorm",
			"--- PASS: TestOpsMatchNN/cuda/MaxPool3d",
			"--- PASS: TestOpsMatchNN/cuda/Linear",
			"--- PASS: TestOpsMatchNN/cuda/Adam",
			"--- PASS: TestOpsMatchNN/cuda/SGD",
			"--- PASS: TestCUDATinyTrainerMatchesCPU",
			"--- PASS: ExampleNewTrainer",
			"launch vs_adam",
			"launch vs_sgd",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("the fake-library run lacks %q:\n%s", want, out)
			}
		}
		// The algorithm search runs once per convolution shape and
		// direction of each engine (the example opens its own).
		seen := map[string]bool{}
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "find ") {
				if seen[l] {
					t.Errorf("algorithm search repeated: %s", l)
				}
				seen[l] = true
			}
		}
		if len(seen) < 3*14 {
			t.Errorf("%d algorithm searches, want at least one per direction of each convolution", len(seen))
		}
	})
	t.Run("PTX target fallback", func(t *testing.T) {
		out := run(t, "^(TestCUDAOpenHere|TestOpsMatchNN)$", "FAKECUDA_REJECT_TARGET=sm_52")
		if !strings.Contains(out, "--- PASS: TestOpsMatchNN/cuda/ReLU") {
			t.Errorf("with sm_52 rejected the kernels did not load from sm_75:\n%s", out)
		}
	})
}
