// Command convbench measures vidssl's Conv3d on the CPU at R3D-18's layer
// shapes and compares it with PyTorch on the same machine.
//
// For each shape it prints the throughput (GFLOP/s, two per multiply-add) of
// the forward pass and of forward plus backward (input and weight gradients)
// through gorgonia graphs built with nn.Conv3d, then, when Debian's
// /usr/bin/python3 has torch, the same for torch.nn.functional.conv3d with as
// many threads as GOMAXPROCS, and the Go/PyTorch ratios. Each figure is the
// best of -iters timed runs after one warm-up run; with -rounds above one,
// Go and PyTorch are measured in turn that many times and the best of every
// round is kept, which evens out a machine whose load changes. The CPU's
// model and vector extensions and the active BLAS (set VIDSSL_BLAS=go,
// go-generic, openblas or gonum to force one) are printed first.
//
// Usage:
//
//	go run ./cmd/convbench [-shapes stem,layer1] [-iters 3] [-rounds 2] [-batch 2] [-frames 16] [-python /usr/bin/python3]
package main

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/vidssl/vidssl/internal/blas"
	"github.com/vidssl/vidssl/nn"
)

//go:embed torchbench.py
var torchScript string

// shape is one convolution of the benchmark, for a batch of one at 16 frames
// of 112x112 (-batch and -frames scale it).
type shape struct {
	Name    string `json:"name"`
	X       []int  `json:"x"`
	W       []int  `json:"w"`
	Stride  [3]int `json:"stride"`
	Padding [3]int `json:"padding"`
}

// r3dShapes are R3D-18's distinct convolutions.
var r3dShapes = []shape{
	{"stem", []int{1, 3, 16, 112, 112}, []int{64, 3, 3, 7, 7}, [3]int{1, 2, 2}, [3]int{1, 3, 3}},
	{"layer1", []int{1, 64, 16, 56, 56}, []int{64, 64, 3, 3, 3}, [3]int{1, 1, 1}, [3]int{1, 1, 1}},
	{"layer2.0.conv1", []int{1, 64, 16, 56, 56}, []int{128, 64, 3, 3, 3}, [3]int{2, 2, 2}, [3]int{1, 1, 1}},
	{"layer2", []int{1, 128, 8, 28, 28}, []int{128, 128, 3, 3, 3}, [3]int{1, 1, 1}, [3]int{1, 1, 1}},
	{"layer3", []int{1, 256, 4, 14, 14}, []int{256, 256, 3, 3, 3}, [3]int{1, 1, 1}, [3]int{1, 1, 1}},
	{"layer4", []int{1, 512, 2, 7, 7}, []int{512, 512, 3, 3, 3}, [3]int{1, 1, 1}, [3]int{1, 1, 1}},
	{"downsample", []int{1, 64, 16, 56, 56}, []int{128, 64, 1, 1, 1}, [3]int{2, 2, 2}, [3]int{}},
}

func main() {
	names := flag.String("shapes", "", "comma-separated shapes to run (default all): "+shapeNames())
	iters := flag.Int("iters", 3, "timed runs per measurement (the best is reported)")
	rounds := flag.Int("rounds", 2, "alternating Go and PyTorch measurements per shape (the best is reported)")
	batch := flag.Int("batch", 2, "batch size")
	frames := flag.Int("frames", 16, "frames per clip at the stem (deeper layers scale with it)")
	python := flag.String("python", "/usr/bin/python3", "Python interpreter with torch; empty skips PyTorch")
	flag.Parse()
	if err := run(*names, *iters, *rounds, *batch, *frames, *python); err != nil {
		fmt.Fprintln(os.Stderr, "convbench:", err)
		os.Exit(1)
	}
}

func shapeNames() string {
	var s []string
	for _, sh := range r3dShapes {
		s = append(s, sh.Name)
	}
	return strings.Join(s, ",")
}

func run(names string, iters, rounds, batch, frames int, python string) error {
	if iters < 1 || rounds < 1 || batch < 1 || frames < 1 {
		return fmt.Errorf("-iters, -rounds, -batch and -frames must be positive")
	}
	shapes, err := pick(names, batch, frames)
	if err != nil {
		return err
	}
	threads := runtime.GOMAXPROCS(0)
	var torch *torchProcess
	if python != "" {
		if torch, err = startTorch(python); err != nil {
			fmt.Printf("PyTorch: not available from %s (%v)\n", python, err)
		} else {
			defer torch.close()
		}
	}
	fmt.Printf("CPU: %s\n", blas.CPUInfo())
	fmt.Printf("BLAS: %s; GOMAXPROCS=%d", blas.Active(), threads)
	if torch != nil {
		fmt.Printf("; PyTorch %s with %d threads", torch.version, threads)
	}
	fmt.Printf("; best of %d runs x %d rounds\n\n", iters, rounds)

	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "shape\tinput\tGFLOP\tGo fwd\tGo fwd+bwd\ttorch fwd\ttorch fwd+bwd\tGo/torch fwd\tGo/torch fwd+bwd\t")
	for _, s := range shapes {
		flops := convFlops(s)
		var goF, goFB, thF, thFB float64 // best GFLOP/s
		for r := 0; r < rounds; r++ {
			fwd, fwdBwd, err := timeGo(s, iters)
			if err != nil {
				return err
			}
			goF, goFB = max(goF, flops/fwd.Seconds()/1e9), max(goFB, 3*flops/fwdBwd.Seconds()/1e9)
			if torch != nil {
				tf, tfb, err := torch.time(s, iters, threads)
				if err != nil {
					return err
				}
				thF, thFB = max(thF, flops/tf/1e9), max(thFB, 3*flops/tfb/1e9)
			}
		}
		row := fmt.Sprintf("%s\t%v\t%.2f\t%.1f\t%.1f\t", s.Name, tensor.Shape(s.X), flops/1e9, goF, goFB)
		if torch != nil {
			row += fmt.Sprintf("%.1f\t%.1f\t%.2f\t%.2f\t", thF, thFB, goF/thF, goFB/thFB)
		} else {
			row += "-\t-\t-\t-\t"
		}
		fmt.Fprintln(tw, row)
	}
	tw.Flush()
	fmt.Println("\nGFLOP/s; GFLOP is one forward pass; fwd+bwd counts 3x (input and weight gradients).")
	return nil
}

func pick(names string, batch, frames int) ([]shape, error) {
	var out []shape
	want := map[string]bool{}
	for _, n := range strings.Split(names, ",") {
		if n = strings.TrimSpace(n); n != "" {
			want[n] = true
		}
	}
	found := map[string]bool{}
	for _, s := range r3dShapes {
		if len(want) > 0 && !want[s.Name] {
			continue
		}
		found[s.Name] = true
		s.X = append([]int(nil), s.X...)
		s.X[0] = batch
		s.X[2] = max(1, s.X[2]*frames/16)
		out = append(out, s)
	}
	for n := range want {
		if found[n] {
			continue
		}
		return nil, fmt.Errorf("unknown shape %q (have %s)", n, shapeNames())
	}
	return out, nil
}

// convFlops is the number of floating-point operations of one forward pass.
func convFlops(s shape) float64 {
	f := 2 * float64(s.X[0]) * float64(s.W[0])
	for _, v := range s.W[1:] {
		f *= float64(v)
	}
	for i := 0; i < 3; i++ {
		f *= float64((s.X[2+i]+2*s.Padding[i]-s.W[2+i])/s.Stride[i] + 1)
	}
	return f
}

func randTensor(rng *rand.Rand, shape ...int) *tensor.Dense {
	t := tensor.New(tensor.WithShape(shape...), tensor.Of(tensor.Float32))
	for i, d := 0, t.Data().([]float32); i < len(d); i++ {
		d[i] = float32(rng.NormFloat64())
	}
	return t
}

// timeGo returns the best times of a forward graph and of a forward and
// backward graph for shape s.
func timeGo(s shape, iters int) (fwd, fwdBwd time.Duration, err error) {
	rng := rand.New(rand.NewPCG(1, 2))
	xv, wv := randTensor(rng, s.X...), randTensor(rng, s.W...)
	cfg := nn.ConvConfig{Name: s.Name, Stride: s.Stride, Padding: s.Padding}

	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float32, 5, G.WithShape(s.X...), G.WithName("x"), G.WithValue(xv))
	w := G.NewTensor(g, tensor.Float32, 5, G.WithShape(s.W...), G.WithName("w"), G.WithValue(wv))
	if _, err := nn.Conv3d(x, w, nil, cfg); err != nil {
		return 0, 0, err
	}
	if fwd, err = timeMachine(g, iters); err != nil {
		return 0, 0, err
	}

	g = G.NewGraph()
	x = G.NewTensor(g, tensor.Float32, 5, G.WithShape(s.X...), G.WithName("x"), G.WithValue(xv))
	w = G.NewTensor(g, tensor.Float32, 5, G.WithShape(s.W...), G.WithName("w"), G.WithValue(wv))
	y, err := nn.Conv3d(x, w, nil, cfg)
	if err != nil {
		return 0, 0, err
	}
	ys := y.Shape().Clone()
	dy := G.NewTensor(g, tensor.Float32, 5, G.WithShape(ys...), G.WithName("dy"), G.WithValue(randTensor(rng, ys...)))
	if _, err := G.Backpropagate(G.Nodes{y}, G.Nodes{dy}, G.Nodes{x, w}); err != nil {
		return 0, 0, err
	}
	fwdBwd, err = timeMachine(g, iters)
	return fwd, fwdBwd, err
}

func timeMachine(g *G.ExprGraph, iters int) (time.Duration, error) {
	m := G.NewTapeMachine(g)
	defer m.Close()
	best := time.Duration(1<<63 - 1)
	for i := 0; i <= iters; i++ { // run 0 is the warm-up
		t0 := time.Now()
		if err := m.RunAll(); err != nil {
			return 0, err
		}
		if d := time.Since(t0); i > 0 && d < best {
			best = d
		}
		m.Reset()
	}
	return best, nil
}

// torchProcess is the embedded script running under Python, answering one
// timing request per line.
type torchProcess struct {
	cmd     *exec.Cmd
	in      io.WriteCloser
	out     *bufio.Reader
	stderr  *bytes.Buffer
	version string
}

func startTorch(python string) (*torchProcess, error) {
	out, err := exec.Command(python, "-c", "import torch; print(torch.__version__)").Output()
	if err != nil {
		return nil, err
	}
	t := &torchProcess{cmd: exec.Command(python, "-c", torchScript), stderr: &bytes.Buffer{}, version: strings.TrimSpace(string(out))}
	t.cmd.Stderr = t.stderr
	if t.in, err = t.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := t.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	t.out = bufio.NewReader(stdout)
	if err := t.cmd.Start(); err != nil {
		return nil, err
	}
	return t, nil
}

// time returns PyTorch's best forward and forward+backward times in seconds
// for shape s.
func (t *torchProcess) time(s shape, iters, threads int) (fwd, fwdBwd float64, err error) {
	req, err := json.Marshal(map[string]any{"threads": threads, "iters": iters, "name": s.Name,
		"x": s.X, "w": s.W, "stride": s.Stride, "padding": s.Padding})
	if err != nil {
		return 0, 0, err
	}
	if _, err := t.in.Write(append(req, '\n')); err != nil {
		return 0, 0, fmt.Errorf("PyTorch %s: %v: %s", s.Name, err, strings.TrimSpace(t.stderr.String()))
	}
	line, err := t.out.ReadBytes('\n')
	if err != nil {
		return 0, 0, fmt.Errorf("PyTorch %s: %v: %s", s.Name, err, strings.TrimSpace(t.stderr.String()))
	}
	var res struct {
		Fwd    float64 `json:"fwd"`
		FwdBwd float64 `json:"fwdbwd"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(line), &res); err != nil {
		return 0, 0, fmt.Errorf("PyTorch %s: reading %q: %v", s.Name, line, err)
	}
	return res.Fwd, res.FwdBwd, nil
}

func (t *torchProcess) close() {
	t.in.Close()
	t.cmd.Wait()
}
