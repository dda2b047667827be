// Command r3dbench times the R3D-18 training step (forward, BCEWithLogits,
// backward, Adam) in Go and, when /usr/bin/python3 has torch, in PyTorch on
// the same machine with the same number of threads, and prints clips/s, peak
// resident memory and the Go/PyTorch ratios.
//
//	go run ./cmd/r3dbench                       # both default shapes
//	go run ./cmd/r3dbench -shapes 8x4x112x112 -steps 5
//
// Each measurement runs in a child process of its own, so that peak RSS
// (VmHWM) is that run's alone. Besides the mean over the timed steps it
// reports the fastest step of each side ("best"): on a machine shared with
// other jobs the mean swings with their load (PyTorch's OpenMP threads
// suffer most), while the best step of a few is close to the unloaded speed.
// The PyTorch child inherits the environment, so its instruction set can be
// capped to compare the AVX2 kernels (VIDSSL_BLAS=go-avx2) with a PyTorch
// limited to AVX2 on an AVX-512 machine; the header prints these variables
// when they are set:
//
//	VIDSSL_BLAS=go-avx2 ATEN_CPU_CAPABILITY=avx2 DNNL_MAX_CPU_ISA=AVX2 go run ./cmd/r3dbench
//
// To profile the Go step:
//
//	go run ./cmd/r3dbench -worker 8x4x112x112 -steps 2 -cpuprofile cpu.prof && go tool pprof -top cpu.prof
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/vidssl/vidssl/internal/blas"
	"github.com/vidssl/vidssl/internal/cputime"
	"github.com/vidssl/vidssl/nn"
	"github.com/vidssl/vidssl/resnet3d"
)

type result struct {
	ClipsPerSec     float64 `json:"clips_per_sec"`      // mean over the timed steps
	BestClipsPerSec float64 `json:"best_clips_per_sec"` // the fastest step
	CPUSecPerStep   float64 `json:"cpu_sec_per_step"`   // user+system CPU time of the process per timed step
	PeakRSSMiB      float64 `json:"peak_rss_mib"`
	Error           string  `json:"error,omitempty"`
}

func main() {
	shapes := flag.String("shapes", "8x4x112x112,2x16x112x112", "comma-separated NxTxHxW batch shapes")
	steps := flag.Int("steps", 3, "timed steps per shape (after one warm-up step)")
	python := flag.String("python", "/usr/bin/python3", "Python interpreter with torch, for the comparison")
	worker := flag.String("worker", "", "internal: run one measurement in this process")
	cpuprofile := flag.String("cpuprofile", "", "with -worker: write a CPU profile of the timed steps to this file")
	flag.Parse()
	if *worker != "" {
		if os.Getenv("GOGC") == "" {
			// nn's large ops reuse their outputs, but gorgonia's own ops and
			// the small tensors are allocated anew each step; collecting
			// sooner reuses that memory instead of faulting in fresh pages.
			debug.SetGCPercent(25)
		}
		if *cpuprofile != "" {
			f, err := os.Create(*cpuprofile)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			defer f.Close()
			if err := pprof.StartCPUProfile(f); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			defer pprof.StopCPUProfile()
		}
		res := measureGo(*worker, *steps)
		json.NewEncoder(os.Stdout).Encode(res)
		return
	}
	threads := runtime.GOMAXPROCS(0)
	fmt.Printf("R3D-18 training step (forward, BCEWithLogits, backward, Adam), %d threads, Go BLAS: %s\n", threads, blas.Active())
	fmt.Printf("CPU: %s\n", blas.CPUInfo())
	for _, v := range torchISAVars {
		if val, ok := os.LookupEnv(v); ok {
			fmt.Printf("PyTorch: %s=%s\n", v, val)
		}
	}
	fmt.Println()
	fmt.Printf("%-16s %10s %8s %8s %10s %10s %8s %8s %10s %7s %7s %7s %7s\n", "shape", "Go clips/s", "Go best", "Go CPU s", "Go RSS MiB", "Py clips/s", "Py best", "Py CPU s", "Py RSS MiB", "speed", "best", "CPU", "RSS")
	for _, s := range strings.Split(*shapes, ",") {
		g := runChild(os.Args[0], []string{"-worker", s, "-steps", strconv.Itoa(*steps)})
		p := runChild(*python, []string{"-c", torchScript, s, strconv.Itoa(*steps), strconv.Itoa(threads)})
		line := fmt.Sprintf("%-16s %10s %8s %8s %10s", s, num(g.ClipsPerSec, g.Error), num(g.BestClipsPerSec, g.Error), num(g.CPUSecPerStep, g.Error), num(g.PeakRSSMiB, g.Error))
		if p.Error != "" {
			line += fmt.Sprintf(" PyTorch: %s", p.Error)
		} else {
			line += fmt.Sprintf(" %10.2f %8.2f %8.2f %10.0f %6.2fx %6.2fx %6.2fx %6.2fx", p.ClipsPerSec, p.BestClipsPerSec, p.CPUSecPerStep, p.PeakRSSMiB,
				g.ClipsPerSec/p.ClipsPerSec, g.BestClipsPerSec/p.BestClipsPerSec, p.CPUSecPerStep/g.CPUSecPerStep, g.PeakRSSMiB/p.PeakRSSMiB)
		}
		fmt.Println(line)
		if g.Error != "" {
			fmt.Fprintln(os.Stderr, "Go:", g.Error)
		}
	}
	fmt.Println("\nspeed = Go clips/s / PyTorch clips/s (means; higher is better); best = the same for each side's fastest step;")
	fmt.Println("CPU = PyTorch CPU seconds per step / Go's (higher is better for Go; less sensitive to other jobs' load);")
	fmt.Println("RSS = Go peak RSS / PyTorch peak RSS (lower is better)")
}

// torchISAVars are the environment variables that cap the instruction set
// of PyTorch's own kernels (ATen) and of oneDNN's, which it uses for
// convolutions.
var torchISAVars = []string{"ATEN_CPU_CAPABILITY", "DNNL_MAX_CPU_ISA"}

func num(v float64, err string) string {
	if err != "" {
		return "error"
	}
	return fmt.Sprintf("%.2f", v)
}

func runChild(prog string, args []string) result {
	var out, errb bytes.Buffer
	cmd := exec.Command(prog, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(errb.String())
		if i := strings.LastIndex(msg, "\n"); i >= 0 {
			msg = msg[i+1:]
		}
		return result{Error: fmt.Sprintf("%v: %s", err, msg)}
	}
	var r result
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		return result{Error: fmt.Sprintf("bad output %q", out.String())}
	}
	return r
}

func parseShape(s string) ([4]int, error) {
	var d [4]int
	parts := strings.Split(s, "x")
	if len(parts) != 4 {
		return d, fmt.Errorf("shape %q: want NxTxHxW", s)
	}
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v <= 0 {
			return d, fmt.Errorf("shape %q: bad size %q", s, p)
		}
		d[i] = v
	}
	return d, nil
}

func measureGo(shape string, steps int) result {
	d, err := parseShape(shape)
	if err != nil {
		return result{Error: err.Error()}
	}
	n, t, h, w := d[0], d[1], d[2], d[3]
	rng := rand.New(rand.NewPCG(1, 2))
	model, err := resnet3d.New(resnet3d.R3D18(1), rng)
	if err != nil {
		return result{Error: err.Error()}
	}
	tr, x, y, err := resnet3d.NewClassifierTrainer(model, n, t, h, w, 1, nn.NewAdam(1e-4), rng)
	if err != nil {
		return result{Error: err.Error()}
	}
	defer tr.Close()
	data := make([]float32, n*3*t*h*w)
	for i := range data {
		data[i] = rng.Float32()
	}
	labels := make([]float32, n)
	for i := range labels {
		labels[i] = float32(i % 2)
	}
	ctx := context.Background()
	if _, err := tr.Run(ctx, nn.Feed{Node: x, Data: data}, nn.Feed{Node: y, Data: labels}); err != nil {
		return result{Error: err.Error()}
	}
	cpu0 := cputime.Process().Seconds()
	start := time.Now()
	best := math.Inf(1)
	for i := 0; i < steps; i++ {
		t0 := time.Now()
		if _, err := tr.Run(ctx, nn.Feed{Node: x, Data: data}, nn.Feed{Node: y, Data: labels}); err != nil {
			return result{Error: err.Error()}
		}
		best = min(best, time.Since(t0).Seconds())
	}
	sec := time.Since(start).Seconds()
	cpu := (cputime.Process().Seconds() - cpu0) / float64(steps)
	return result{ClipsPerSec: float64(n*steps) / sec, BestClipsPerSec: float64(n) / best, CPUSecPerStep: cpu, PeakRSSMiB: peakRSS()}
}

// peakRSS reads this process's peak resident set size (VmHWM) in MiB.
func peakRSS() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

const torchScript = `
import json, resource, sys, time
import torch
from torchvision.models.video import r3d_18
shape, steps, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
n, t, h, w = (int(v) for v in shape.split("x"))
torch.set_num_threads(threads)
torch.manual_seed(0)
model = r3d_18(num_classes=1)
model.train()
opt = torch.optim.Adam(model.parameters(), lr=1e-4)
loss_fn = torch.nn.BCEWithLogitsLoss()
x = torch.rand(n, 3, t, h, w)
y = torch.tensor([float(i % 2) for i in range(n)])
def step():
    opt.zero_grad()
    loss = loss_fn(model(x).squeeze(1), y)
    loss.backward()
    opt.step()
step()
def cpu():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime
cpu0 = cpu()
start = time.time()
best = float("inf")
for _ in range(steps):
    t0 = time.time()
    step()
    best = min(best, time.time() - t0)
sec = time.time() - start
print(json.dumps({"clips_per_sec": n * steps / sec, "best_clips_per_sec": n / best,
                  "cpu_sec_per_step": (cpu() - cpu0) / steps,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
`
