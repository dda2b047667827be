package gpu

import (
	"slices"
	"strings"
	"testing"

	"github.com/vidssl/vidssl/internal/cuda"
)

// TestPTXModule parses the generated module for both targets: the header,
// one .entry per kernelSpec in order with the declared parameter types,
// every parameter loaded, every register declared and used with a
// compatible type, every branch to a defined label (parsePTX checks these).
func TestPTXModule(t *testing.T) {
	for _, target := range []string{"sm_52", "sm_75"} {
		src := ptxModule(target)
		m, err := parsePTX(src)
		if err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		if m.version != "7.0" || m.target != target || !strings.Contains(src, ".address_size 64") {
			t.Errorf("header: version %q target %q", m.version, m.target)
		}
		var names []string
		for _, k := range kernelSpecs {
			names = append(names, k.name)
		}
		if !slices.Equal(m.order, names) {
			t.Errorf("entries %v, want %v", m.order, names)
		}
		for _, k := range kernelSpecs {
			e := m.entries[k.name]
			if e == nil {
				continue
			}
			var types []string
			for _, p := range e.params {
				types = append(types, p.typ)
			}
			if !slices.Equal(types, k.params) {
				t.Errorf("%s: parameters %v, spec %v", k.name, types, k.params)
			}
			loads := 0
			for _, in := range e.instrs {
				if in.op[0] == "ld" && in.op[1] == "param" {
					loads++
				}
			}
			if loads != len(k.params) {
				t.Errorf("%s loads %d parameters, declares %d", k.name, loads, len(k.params))
			}
			if e.instrs[len(e.instrs)-1].op[0] != "ret" {
				t.Errorf("%s does not end with ret", k.name)
			}
		}
	}
}

func TestPTXTarget(t *testing.T) {
	if got := ptxTarget(12080); got != "sm_52" {
		t.Errorf("ptxTarget(12080) = %s", got)
	}
	if got := ptxTarget(13000); got != "sm_75" {
		t.Errorf("ptxTarget(13000) = %s", got)
	}
}

// TestKernelTargetFallback: when the driver's JIT rejects the first target,
// the other is tried.
func TestKernelTargetFallback(t *testing.T) {
	dev := &simDevice{driver: 13000, failPTX: "sm_75"}
	c := newCUDABackend(dev, CUDAOptions{})
	if err := c.init(); err != nil {
		t.Fatal(err)
	}
	if dev.mod.target != "sm_52" {
		t.Errorf("loaded %s, want the sm_52 fallback", dev.mod.target)
	}
	dev = &simDevice{driver: 12000, failPTX: "sm_52"}
	if err := newCUDABackend(dev, CUDAOptions{}).init(); err != nil || dev.mod.target != "sm_75" {
		t.Errorf("init = %v with target %v, want the sm_75 fallback", err, dev.mod)
	}
}

func TestLaunchParams(t *testing.T) {
	if _, err := launchParams("vs_relu", []karg{argU64(3), argU64(0)}); err == nil || !strings.Contains(err.Error(), "takes 3 parameters, given 2") {
		t.Errorf("short launch: %v", err)
	}
	f32s := func(v ...float32) []karg {
		out := make([]karg, len(v))
		for i, x := range v {
			out[i] = argF32(x)
		}
		return out
	}
	ptrs := []karg{argU64(9), argU64(1), argU64(2), argU64(3), argU64(4)}
	if _, err := launchParams("vs_adam", append(append(ptrs[:5:5], argU64(0)), f32s(1, 1, 1, 1, 1, 1, 1)...)); err == nil || !strings.Contains(err.Error(), "parameter 5 is .f32, given .u64") {
		t.Errorf("mistyped launch: %v", err)
	}
	if _, err := launchParams("vs_nope", nil); err == nil {
		t.Error("unknown kernel launched")
	}
	p, err := launchParams("vs_adam", append(ptrs[:5:5], f32s(2.5, -1, 0, 0, 0, 0, 0, 0)...))
	if err != nil || p[5] != 0x40200000 || p[6] != 0xBF800000 {
		t.Errorf("launchParams = %x, %v; want f32 bits in the low word", p, err)
	}
	for _, c := range []struct {
		n    uint64
		want int
	}{{1, 1}, {256, 1}, {257, 2}, {1 << 40, maxGrid}} {
		if got := gridFor(c.n); got != c.want {
			t.Errorf("gridFor(%d) = %d, want %d", c.n, got, c.want)
		}
	}
}

// TestLaunchSequence checks which kernels the CUDA backend queues for ops.
func TestLaunchSequence(t *testing.T) {
	e, dev, err := newSimEngine(12040)
	if err != nil {
		t.Fatal(err)
	}
	x := newT(t, e, 2, 3, 1, 2, 2)
	y := newT(t, e, 2, 3)
	w, b, out := newT(t, e, 1, 3), newT(t, e, 1), newT(t, e, 2, 1)
	dout, dy, dw, db := newT(t, e, 2, 3), newT(t, e, 2, 1), newT(t, e, 1, 3), newT(t, e, 1)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(e.ReLU(x, x))
	must(e.GlobalAvgPool(x, y))
	must(e.Linear(y, w, b, out))
	must(e.LinearBackward(y, w, dy, dout, dw, db))
	must(e.LinearBackward(y, w, dy, nil, dw, nil))
	must(e.GlobalAvgPoolBackward(dout, x))
	want := []string{"vs_relu", "vs_gap", "vs_bias_rows", "vs_sum_rows", "vs_gap_bwd"}
	if !slices.Equal(dev.launches, want) {
		t.Errorf("launches %v, want %v", dev.launches, want)
	}
}

func TestPackedStrides(t *testing.T) {
	if got := packedStrides([]int{2, 3, 4, 5, 6}); !slices.Equal(got, []int32{360, 120, 30, 6, 1}) {
		t.Errorf("packedStrides = %v", got)
	}
	// R3D-18's stem output at the benchmark batch.
	if got := packedStrides([]int{88, 64, 16, 56, 56}); !slices.Equal(got, []int32{64 * 16 * 56 * 56, 16 * 56 * 56, 56 * 56, 56, 1}) {
		t.Errorf("packedStrides = %v", got)
	}
}

func TestConvDescArgs(t *testing.T) {
	g, err := ConvParams{Stride: [3]int{1, 2, 2}, Padding: [3]int{1, 3, 3}}.geometry("t", []int{2, 3, 16, 112, 112}, []int{64, 3, 3, 7, 7})
	if err != nil {
		t.Fatal(err)
	}
	if g.y != [5]int{2, 64, 16, 56, 56} {
		t.Errorf("stem output %v", g.y)
	}
	pad, stride, dil := convDescArgs(g)
	if !slices.Equal(pad, []int32{1, 3, 3}) || !slices.Equal(stride, []int32{1, 2, 2}) || !slices.Equal(dil, []int32{1, 1, 1}) {
		t.Errorf("conv desc args pad %v stride %v dilation %v", pad, stride, dil)
	}
	g, _ = ConvParams{Stride: [3]int{2, 2, 2}}.geometry("t", []int{2, 64, 16, 56, 56}, []int{128, 64, 1, 1, 1})
	if g.y != [5]int{2, 128, 8, 28, 28} {
		t.Errorf("downsample output %v", g.y)
	}
	if _, err := (ConvParams{}).geometry("Conv3d", []int{1, 3, 2, 2, 2}, []int{4, 3, 3, 3, 3}); err == nil || !strings.Contains(err.Error(), "larger than the padded input") {
		t.Errorf("oversized kernel: %v", err)
	}
	if _, err := (ConvParams{}).geometry("Conv3d", []int{1, 3, 4, 4, 4}, []int{4, 2, 3, 3, 3}); err == nil || !strings.Contains(err.Error(), "3 channels, weight") {
		t.Errorf("channel mismatch: %v", err)
	}
}

func TestPoolDescArgs(t *testing.T) {
	g, err := PoolParams{Kernel: [3]int{1, 3, 3}, Stride: [3]int{1, 2, 2}, Padding: [3]int{0, 1, 1}, Max: true}.geometry("t", []int{2, 64, 16, 56, 56})
	if err != nil {
		t.Fatal(err)
	}
	mode, nan, win, pad, stride := poolDescArgs(g)
	if mode != cuda.DNNPoolingMax || nan != cuda.DNNPropagateNaN || !slices.Equal(win, []int32{1, 3, 3}) || !slices.Equal(pad, []int32{0, 1, 1}) || !slices.Equal(stride, []int32{1, 2, 2}) {
		t.Errorf("max pool args %v %v %v %v %v", mode, nan, win, pad, stride)
	}
	if g.y != [5]int{2, 64, 16, 28, 28} {
		t.Errorf("pool output %v", g.y)
	}
	g, _ = PoolParams{Kernel: [3]int{2, 2, 2}}.geometry("t", []int{1, 1, 4, 4, 4})
	if mode, _, _, _, stride := poolDescArgs(g); mode != cuda.DNNPoolingAvgInclPad || !slices.Equal(stride, []int32{2, 2, 2}) {
		t.Errorf("avg pool mode %d stride %v (zero stride means the kernel)", mode, stride)
	}
}

func TestChooseAlgo(t *testing.T) {
	perfs := []cuda.ConvPerf{
		{Algo: 6, Status: 3000},
		{Algo: 1, Memory: 1 << 30},
		{Algo: 7, Memory: 100, MathType: cuda.DNNTensorOp},
		{Algo: 0, Memory: 10, MathType: cuda.DNNFMAMath},
		{Algo: 2},
	}
	a, err := chooseAlgo(perfs, 1000, false)
	if err != nil || a.algo != 0 || a.workspace != 10 || a.mathType != cuda.DNNFMAMath {
		t.Errorf("chooseAlgo(FP32) = %+v, %v; want algo 0", a, err)
	}
	if a, _ := chooseAlgo([]cuda.ConvPerf{{Algo: 1, MathType: cuda.DNNDefaultMath}}, 0, false); a.mathType != cuda.DNNFMAMath {
		t.Errorf("FP32 choice runs with math type %d, want FMA", a.mathType)
	}
	if a, _ := chooseAlgo(perfs, 1000, true); a.algo != 7 || a.mathType != cuda.DNNTensorOp {
		t.Errorf("chooseAlgo(TF32) = %+v; want algo 7", a)
	}
	if a, _ := chooseAlgo(perfs, 2<<30, true); a.algo != 1 {
		t.Errorf("chooseAlgo(big workspace) = %+v; want algo 1", a)
	}
	if _, err := chooseAlgo(perfs[:1], 1000, false); err == nil || !strings.Contains(err.Error(), "algo 6: status 3000") {
		t.Errorf("no usable algorithm: %v", err)
	}
}

// TestConvKey: the algorithm cache distinguishes every attribute of a
// convolution and nothing else.
func TestConvKey(t *testing.T) {
	geo := func(x, w []int, p ConvParams) convKey {
		g, err := p.geometry("t", x, w)
		if err != nil {
			t.Fatal(err)
		}
		return g.key()
	}
	x, w := []int{2, 64, 8, 28, 28}, []int{64, 64, 3, 3, 3}
	base := geo(x, w, ConvParams{Padding: [3]int{1, 1, 1}})
	same := geo(x, w, ConvParams{Stride: [3]int{1, 1, 1}, Padding: [3]int{1, 1, 1}}) // zero stride means 1
	if base != same {
		t.Errorf("keys %v and %v differ", base, same)
	}
	others := []convKey{
		geo(x, w, ConvParams{Stride: [3]int{2, 2, 2}, Padding: [3]int{1, 1, 1}}),
		geo(x, w, ConvParams{Padding: [3]int{0, 1, 1}}),
		geo([]int{4, 64, 8, 28, 28}, w, ConvParams{Padding: [3]int{1, 1, 1}}),
		geo(x, []int{128, 64, 3, 3, 3}, ConvParams{Padding: [3]int{1, 1, 1}}),
	}
	seen := map[convKey]bool{base: true}
	for _, k := range others {
		if seen[k] {
			t.Errorf("key %v collides", k)
		}
		seen[k] = true
	}
}

// TestEngineChecks: bad arguments are errors naming the op, before any work.
func TestEngineChecks(t *testing.T) {
	e, other := NewHostEngine(), NewHostEngine()
	x := newT(t, e, 1, 3, 4, 4, 4)
	w := newT(t, e, 2, 3, 3, 3, 3)
	y := newT(t, e, 1, 2, 2, 2, 2)
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"wrong output shape", e.Conv3d(x, w, newT(t, e, 1, 2, 4, 4, 4), ConvParams{}), "Conv3d: output is [1 2 4 4 4], want [1 2 2 2 2]"},
		{"other engine", e.Conv3d(x, newT(t, other, 2, 3, 3, 3, 3), y, ConvParams{}), "belongs to another engine"},
		{"upload size", e.Upload(x, make([]float32, 5)), "upload: 5 values"},
		{"relu shape", e.ReLU(x, mustView(t, x, 0, 100)), "ReLU: output is [100], want [1 3 4 4 4]"},
		{"relu partial overlap", e.ReLU(mustView(t, x, 0, 10), mustView(t, x, 5, 10)), "ReLU: output Tensor[10] overlaps input Tensor[10]"},
		{"add partial overlap", e.Add(mustView(t, x, 0, 10), mustView(t, x, 10, 10), mustView(t, x, 5, 10)), "overlaps input"},
		{"conv in place", e.Conv3d(x, w, mustView(t, x, 0, 1, 2, 2, 2, 2), ConvParams{}), "overlaps input"},
		{"free view", e.Free(mustView(t, x, 0, 4)), "is a view"},
		{"view out of range", func() error { _, err := x.View(190, 3); return err }(), "does not fit"},
		{"adam overlap", e.Adam(mustView(t, x, 0, 8), mustView(t, x, 4, 8), mustView(t, x, 16, 8), mustView(t, x, 24, 8), AdamStep{LR: 1, Beta1: 0.9, Beta2: 0.99, Step: 1}), "overlap"},
		{"adam step 0", e.Adam(mustView(t, x, 0, 8), mustView(t, x, 8, 8), mustView(t, x, 16, 8), mustView(t, x, 24, 8), AdamStep{LR: 1, Beta1: 0.9, Beta2: 0.99}), "step 0"},
		{"sgd overlap", e.SGD(mustView(t, x, 0, 8), mustView(t, x, 8, 8), mustView(t, x, 4, 8), SGDStep{LR: 1, Momentum: 0.9}), "overlap"},
		{"sgd sizes", e.SGD(mustView(t, x, 0, 8), mustView(t, x, 8, 4), nil, SGDStep{LR: 1}), "want equal sizes"},
		{"sgd no buffer", e.SGD(mustView(t, x, 0, 8), mustView(t, x, 8, 8), nil, SGDStep{LR: 1, Momentum: 0.9}), "without a momentum buffer"},
		{"sgd nesterov", e.SGD(mustView(t, x, 0, 8), mustView(t, x, 8, 8), mustView(t, x, 16, 8), SGDStep{LR: 1, Momentum: 0.9, Dampening: 0.1, Nesterov: true}), "Nesterov momentum needs"},
		{"sgd nil", e.SGD(nil, mustView(t, x, 8, 8), nil, SGDStep{LR: 1}), "SGD: a nil tensor"},
		{"adam nil", e.Adam(mustView(t, x, 0, 8), nil, mustView(t, x, 16, 8), mustView(t, x, 24, 8), AdamStep{LR: 1, Beta1: 0.9, Beta2: 0.99, Step: 1}), "Adam: a nil tensor"},
	}
	for _, c := range cases {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, c.err, c.want)
		}
	}
	if err := e.Free(x); err != nil {
		t.Fatal(err)
	}
	if err := e.ReLU(x, x); err == nil || !strings.Contains(err.Error(), "freed") {
		t.Errorf("use after free: %v", err)
	}
}

func mustView(t *testing.T, x *Tensor, off int, shape ...int) *Tensor {
	t.Helper()
	v, err := x.View(off, shape...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
