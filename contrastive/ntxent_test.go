package contrastive

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/vidssl/vidssl/internal/golden"
	"github.com/vidssl/vidssl/internal/gradcheck"
)

func loadGolden(t *testing.T) (map[string]golden.Tensor, []string) {
	t.Helper()
	gd, err := golden.Load(filepath.Join("testdata", "ntxent.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []string
	for k := range gd {
		if name, ok := strings.CutSuffix(k, ".loss"); ok {
			cases = append(cases, name)
		}
	}
	sort.Strings(cases)
	if len(cases) < 6 {
		t.Fatalf("golden has %d cases", len(cases))
	}
	return gd, cases
}

func dense(g golden.Tensor) *tensor.Dense {
	return tensor.New(tensor.WithShape(g.Shape...), tensor.WithBacking(g.Float32()))
}

var approx = cmpopts.EquateApprox(1e-4, 1e-6)

func closeTo(t *testing.T, what string, want []float64, got []float32) {
	t.Helper()
	g := make([]float64, len(got))
	for i, v := range got {
		g[i] = float64(v)
	}
	if diff := cmp.Diff(want, g, approx); diff != "" {
		t.Errorf("%s differs from PyTorch (-want +got):\n%s", what, diff)
	}
}

func groupInts(g golden.Tensor) []int {
	out := make([]int, len(g.Data))
	for i, v := range g.Data {
		out[i] = int(v)
	}
	return out
}

// TestNTXentGolden runs the op in a gorgonia graph, with gorgonia.Grad, and
// compares value and both gradients with the public code's NT_Xent.
func TestNTXentGolden(t *testing.T) {
	gd, cases := loadGolden(t)
	for _, c := range cases {
		t.Run(c, func(t *testing.T) {
			z1v, z2v := dense(gd[c+".z1"]), dense(gd[c+".z2"])
			tau := gd[c+".tau"].Data[0]
			g := G.NewGraph()
			s := z1v.Shape()
			z1 := G.NewTensor(g, tensor.Float32, 2, G.WithShape(s...), G.WithName("z1"), G.WithValue(z1v))
			z2 := G.NewTensor(g, tensor.Float32, 2, G.WithShape(s...), G.WithName("z2"), G.WithValue(z2v))
			var groups *G.Node
			gt, masked := gd[c+".groups"]
			if masked {
				groups = G.NewTensor(g, tensor.Float32, 1, G.WithShape(s[0]), G.WithName("groups"), G.WithValue(dense(gt)))
			}
			loss, err := NTXent(z1, z2, groups, tau)
			if err != nil {
				t.Fatal(err)
			}
			grads, err := G.Grad(loss, z1, z2)
			if err != nil {
				t.Fatal(err)
			}
			m := G.NewTapeMachine(g)
			defer m.Close()
			if err := m.RunAll(); err != nil {
				t.Fatal(err)
			}
			lv, err := scalarOf(loss.Value())
			if err != nil {
				t.Fatal(err)
			}
			closeTo(t, "loss", gd[c+".loss"].Data, []float32{lv})
			closeTo(t, "dz1", gd[c+".dz1"].Data, grads[0].Value().Data().([]float32))
			closeTo(t, "dz2", gd[c+".dz2"].Data, grads[1].Value().Data().([]float32))

			// The plain-slice version agrees.
			var gi []int
			if masked {
				gi = groupInts(gt)
			}
			l2, d1, d2, err := NTXentGrad(z1v.Data().([]float32), z2v.Data().([]float32), s[0], s[1], tau, gi)
			if err != nil {
				t.Fatal(err)
			}
			closeTo(t, "NTXentGrad loss", gd[c+".loss"].Data, []float32{float32(l2)})
			closeTo(t, "NTXentGrad dz1", gd[c+".dz1"].Data, d1)
			closeTo(t, "NTXentGrad dz2", gd[c+".dz2"].Data, d2)
		})
	}
}

func randDense(rng *rand.Rand, scale float64, shape ...int) *tensor.Dense {
	n := 1
	for _, s := range shape {
		n *= s
	}
	d := make([]float32, n)
	for i := range d {
		d[i] = float32(rng.NormFloat64() * scale)
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(d))
}

func TestNTXentGradcheck(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct {
		n, d   int
		tau    float64
		groups []float32
	}{
		{2, 3, 0.5, nil},
		{4, 5, 0.2, nil},
		{5, 4, 0.3, []float32{0, 1, 0, 2, 1}},
		{3, 6, 1, []float32{7, 7, 7}},
	} {
		inputs := []*tensor.Dense{randDense(rng, 1, tc.n, tc.d), randDense(rng, 1, tc.n, tc.d)}
		wrt := []bool{true, true}
		if tc.groups != nil {
			inputs = append(inputs, tensor.New(tensor.WithShape(tc.n), tensor.WithBacking(tc.groups)))
			wrt = append(wrt, false)
		}
		build := func(g *G.ExprGraph, in []*G.Node) (*G.Node, error) {
			var groups *G.Node
			if len(in) == 3 {
				groups = in[2]
			}
			return NTXent(in[0], in[1], groups, tc.tau)
		}
		// float32 forward: a step of 1e-2 keeps the rounding noise small.
		if err := gradcheck.Check(build, inputs, wrt, gradcheck.Options{Eps: 1e-2, Tol: 2e-2, Seed: 5}); err != nil {
			t.Errorf("n=%d d=%d tau=%v groups=%v: %v", tc.n, tc.d, tc.tau, tc.groups, err)
		}
	}
}

// TestNTXentMasking checks the mask's meaning directly: with groups that are
// all distinct the loss is the unmasked one, and masking a pair removes
// exactly its two rows from the others' denominators.
func TestNTXentMasking(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	n, d := 4, 6
	z1 := randDense(rng, 1, n, d).Data().([]float32)
	z2 := randDense(rng, 1, n, d).Data().([]float32)
	plain, _, _, err := NTXentGrad(z1, z2, n, d, 0.1, nil)
	if err != nil {
		t.Fatal(err)
	}
	distinct, _, _, err := NTXentGrad(z1, z2, n, d, 0.1, []int{3, 1, 2, 0})
	if err != nil {
		t.Fatal(err)
	}
	if plain != distinct {
		t.Errorf("distinct groups: loss %v, unmasked %v", distinct, plain)
	}
	masked, _, _, err := NTXentGrad(z1, z2, n, d, 0.1, []int{0, 0, 1, 2})
	if err != nil {
		t.Fatal(err)
	}
	// Reference by brute force: row k's denominator excludes the rows of
	// pair 1 when k is of pair 0 and vice versa.
	m := 2 * n
	unit := func(k int) []float64 {
		r := rowOf(z1, z2, n, d, k)
		var ss float64
		for _, v := range r {
			ss += float64(v) * float64(v)
		}
		out := make([]float64, d)
		for i, v := range r {
			out[i] = float64(v) / math.Sqrt(ss)
		}
		return out
	}
	var want float64
	for k := 0; k < m; k++ {
		var den float64
		for j := 0; j < m; j++ {
			if j == k || (k%n <= 1 && j%n <= 1 && j%n != k%n) {
				continue
			}
			var dot float64
			for i, v := range unit(k) {
				dot += v * unit(j)[i]
			}
			den += math.Exp(dot / 0.1)
		}
		var pos float64
		for i, v := range unit(k) {
			pos += v * unit((k + n) % m)[i]
		}
		want += math.Log(den) - pos/0.1
	}
	want /= float64(m)
	if math.Abs(masked-want) > 1e-9*math.Abs(want) {
		t.Errorf("masked loss %v, brute force %v", masked, want)
	}
	if !(masked < plain) {
		t.Errorf("masking negatives should lower the loss: masked %v, plain %v", masked, plain)
	}
}

func TestNTXentErrors(t *testing.T) {
	g := G.NewGraph()
	a := G.NewMatrix(g, tensor.Float32, G.WithShape(3, 4), G.WithName("a"))
	b := G.NewMatrix(g, tensor.Float32, G.WithShape(3, 5), G.WithName("b"))
	grp := G.NewVector(g, tensor.Float32, G.WithShape(2), G.WithName("g"))
	for _, tc := range []struct {
		z2, groups *G.Node
		tau        float64
		want       string
	}{
		{b, nil, 0.1, "same shape"},
		{a, nil, 0, "temperature"},
		{a, nil, math.Inf(1), "temperature"},
		{a, grp, 0.1, "groups"},
	} {
		if _, err := NTXent(a, tc.z2, tc.groups, tc.tau); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NTXent(%v, %v, tau %v): error %v, want %q", tc.z2.Shape(), tc.groups, tc.tau, err, tc.want)
		}
	}
	z := []float32{1, 2, float32(math.NaN()), 4}
	if _, _, _, err := NTXentGrad(z, []float32{1, 1, 1, 1}, 2, 2, 0.1, nil); err == nil || !strings.Contains(err.Error(), "z1[2] is NaN") {
		t.Errorf("NaN embedding: error %v", err)
	}
	if _, _, _, err := NTXentGrad(z[:3], z[:3], 2, 2, 0.1, nil); err == nil {
		t.Error("wrong length: no error")
	}
	if _, _, _, err := NTXentGrad([]float32{1, 2}, []float32{1, 2}, 1, 2, 0.1, []int{1, 2}); err == nil {
		t.Error("wrong group count: no error")
	}
}

// TestNTXentOpRuns checks the op inside a graph run twice with new data and
// with non-integer group ids (an error from Do).
func TestNTXentOpRuns(t *testing.T) {
	g := G.NewGraph()
	z1v := tensor.New(tensor.WithShape(2, 3), tensor.WithBacking([]float32{1, 0, 0, 0, 1, 0}))
	z2v := tensor.New(tensor.WithShape(2, 3), tensor.WithBacking([]float32{1, 0.1, 0, 0, 1, 0.1}))
	gv := tensor.New(tensor.WithShape(2), tensor.WithBacking([]float32{0, 1}))
	z1 := G.NewTensor(g, tensor.Float32, 2, G.WithShape(2, 3), G.WithName("z1"), G.WithValue(z1v))
	z2 := G.NewTensor(g, tensor.Float32, 2, G.WithShape(2, 3), G.WithName("z2"), G.WithValue(z2v))
	grp := G.NewTensor(g, tensor.Float32, 1, G.WithShape(2), G.WithName("groups"), G.WithValue(gv))
	loss, err := NTXent(z1, z2, grp, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	m := G.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	first, _ := scalarOf(loss.Value())
	gv.Data().([]float32)[1] = 0 // same group: only the positives remain
	m.Reset()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	if second, _ := scalarOf(loss.Value()); second != 0 || first == 0 {
		t.Errorf("loss %v then %v, want > 0 then 0", first, second)
	}
	gv.Data().([]float32)[1] = 0.5
	m.Reset()
	if err := m.RunAll(); err == nil || !strings.Contains(err.Error(), "groups[1] = 0.5") {
		t.Errorf("fractional group id: error %v", err)
	}
}

func TestGroupCodes(t *testing.T) {
	got := GroupCodes([]string{"b", "a", "b", "c", "a"})
	if diff := cmp.Diff(GroupIDs{0, 1, 0, 2, 1}, got); diff != "" {
		t.Error(diff)
	}
	if diff := cmp.Diff([]float32{0, 1, 0, 2, 1}, got.Float32s()); diff != "" {
		t.Error(diff)
	}
}
