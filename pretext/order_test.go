package pretext

import (
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	G "gorgonia.org/gorgonia"

	"github.com/vidssl/vidssl/internal/golden"
	"github.com/vidssl/vidssl/nn"
	"github.com/vidssl/vidssl/video"
)

func load(t *testing.T) map[string]golden.Tensor {
	t.Helper()
	gd, err := golden.Load(filepath.Join("testdata", "order.json"))
	if err != nil {
		t.Fatal(err)
	}
	return gd
}

func ints(g golden.Tensor) []int {
	out := make([]int, len(g.Data))
	for i, v := range g.Data {
		out[i] = int(v)
	}
	return out
}

func TestPermutationTable(t *testing.T) {
	gd := load(t)
	for k, name := range map[int]string{4: "perms4", 3: "perms3"} {
		perms, err := Permutations(k)
		if err != nil {
			t.Fatal(err)
		}
		if len(perms) != Classes(k) {
			t.Errorf("K=%d: %d permutations, Classes says %d", k, len(perms), Classes(k))
		}
		want := ints(gd[name])
		var got []int
		for c, p := range perms {
			got = append(got, p...)
			idx, err := Index(p)
			if err != nil || idx != c {
				t.Errorf("Index(%v) = %d, %v; want %d", p, idx, err, c)
			}
			q, err := Permutation(k, c)
			if err != nil || !slices.Equal(p, q) {
				t.Errorf("Permutation(%d, %d) = %v, %v; want %v", k, c, q, err, p)
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("K=%d table differs from itertools.permutations (-want +got):\n%s", k, diff)
		}
	}
	if Classes(4) != 24 {
		t.Errorf("Classes(4) = %d, want 24", Classes(4))
	}
	if Classes(1) != 1 || Classes(0) != 0 || Classes(MaxFrames+1) != 0 {
		t.Error("Classes outside 1..MaxFrames")
	}
	// The table is copied: changing it changes nothing.
	p, _ := Permutations(4)
	p[0][0] = 3
	if q, _ := Permutation(4, 0); q[0] != 0 {
		t.Error("Permutations returned the shared table")
	}
}

func TestIndexErrors(t *testing.T) {
	for _, p := range [][]int{nil, {0, 0}, {1, 2}, {0, -1}, make([]int, MaxFrames+1)} {
		if _, err := Index(p); err == nil {
			t.Errorf("Index(%v): no error", p)
		}
	}
	if _, err := Permutation(4, 24); err == nil {
		t.Error("Permutation(4, 24): no error")
	}
	if _, err := Permutations(0); err == nil {
		t.Error("Permutations(0): no error")
	}
}

func goldenClip(t *testing.T, g golden.Tensor) *video.Video {
	t.Helper()
	v, err := video.New(g.Shape[0], g.Shape[1], g.Shape[2], g.Shape[3])
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range g.Data {
		v.Frames[i] = uint8(x)
	}
	return v
}

func TestShuffleGolden(t *testing.T) {
	gd := load(t)
	clip := goldenClip(t, gd["clip"])
	for _, c := range ints(gd["shuffle_labels"]) {
		perm, _ := Permutation(4, c)
		got, class, err := Shuffle(clip, perm)
		if err != nil {
			t.Fatal(err)
		}
		if class != c {
			t.Errorf("Shuffle by %v: class %d, want %d", perm, class, c)
		}
		want := goldenClip(t, gd["shuffled_"+strconv.Itoa(c)])
		if !slices.Equal(got.Frames, want.Frames) {
			t.Errorf("Shuffle by %v differs from numpy's clip[perm]", perm)
		}
	}
}

// TestShuffleInverse: permuting then inverting is exact for every order of
// K = 4 and for random clips and orders of K = 1..6.
func TestShuffleInverse(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for k := 1; k <= 6; k++ {
		v, err := video.New(k, 5, 7, 3)
		if err != nil {
			t.Fatal(err)
		}
		for i := range v.Frames {
			v.Frames[i] = uint8(rng.IntN(256))
		}
		v.Source = "clip.avi"
		perms, _ := Permutations(k)
		for c, perm := range perms {
			if k > 4 && c%37 != 0 {
				continue
			}
			s, class, err := Shuffle(v, perm)
			if err != nil {
				t.Fatal(err)
			}
			if class != c {
				t.Fatalf("K=%d: class %d, want %d", k, class, c)
			}
			for tt, src := range perm {
				if !slices.Equal(s.Frame(tt), v.Frame(src)) {
					t.Fatalf("K=%d perm %v: frame %d is not frame %d", k, perm, tt, src)
				}
			}
			back, err := Unshuffle(s, perm)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(back.Frames, v.Frames) || back.Source != v.Source || back.T != k {
				t.Fatalf("K=%d perm %v: Unshuffle(Shuffle) differs from the clip", k, perm)
			}
		}
		// RandomShuffle gives a consistent class and covers the classes.
		seen := map[int]bool{}
		for i := 0; i < 200; i++ {
			s, class, err := RandomShuffle(rng, v)
			if err != nil {
				t.Fatal(err)
			}
			perm, _ := Permutation(k, class)
			back, _ := Unshuffle(s, perm)
			if !slices.Equal(back.Frames, v.Frames) {
				t.Fatalf("K=%d: RandomShuffle's class %d does not undo its shuffle", k, class)
			}
			seen[class] = true
		}
		if want := min(Classes(k), 24); k <= 4 && len(seen) != want {
			t.Errorf("K=%d: RandomShuffle drew %d classes of %d", k, len(seen), want)
		}
	}
}

func TestShuffleErrors(t *testing.T) {
	v, _ := video.New(4, 2, 2, 1)
	v.Source = "a.avi"
	if _, _, err := Shuffle(v, []int{0, 1, 2}); err == nil || !strings.Contains(err.Error(), "a.avi") {
		t.Errorf("short permutation: %v", err)
	}
	if _, _, err := Shuffle(v, []int{0, 1, 2, 2}); err == nil {
		t.Error("repeated index: no error")
	}
	if _, err := Unshuffle(nil, []int{0}); err == nil {
		t.Error("nil clip: no error")
	}
	long, _ := video.New(MaxFrames+1, 2, 2, 1)
	if _, _, err := RandomShuffle(rand.New(rand.NewPCG(1, 1)), long); err == nil {
		t.Error("9 frames: no error")
	}
}

// TestHeadGolden compares the head's logits through the cross-entropy of two
// views with PyTorch: loss and the gradients of h1, h2, weight and bias.
func TestHeadGolden(t *testing.T) {
	gd := load(t)
	approx := cmpopts.EquateApprox(1e-4, 1e-6)
	for _, tag := range []string{"a", "b"} {
		n, f := gd[tag+".h1"].Shape[0], gd[tag+".h1"].Shape[1]
		head, err := NewOrderHead(f, 4, rand.New(rand.NewPCG(1, 1)))
		if err != nil {
			t.Fatal(err)
		}
		if head.Classes() != 24 || head.Linear.Weight.Name != "reordering_head.weight" || head.Linear.Bias.Name != "reordering_head.bias" {
			t.Fatalf("head: %d classes, names %s %s", head.Classes(), head.Linear.Weight.Name, head.Linear.Bias.Name)
		}
		copy(head.Linear.Weight.Data(), gd[tag+".weight"].Float32())
		copy(head.Linear.Bias.Data(), gd[tag+".bias"].Float32())
		g := nn.NewGraph(true, nil)
		h1, h2 := g.Input("h1", n, f), g.Input("h2", n, f)
		y1, y2 := g.Input("y1", n), g.Input("y2", n)
		l1, err := head.Forward(g, h1)
		if err != nil {
			t.Fatal(err)
		}
		l2, err := head.Forward(g, h2)
		if err != nil {
			t.Fatal(err)
		}
		c1, err := Loss(l1, y1)
		if err != nil {
			t.Fatal(err)
		}
		c2, err := Loss(l2, y2)
		if err != nil {
			t.Fatal(err)
		}
		sum, err := G.Add(c1, c2)
		if err != nil {
			t.Fatal(err)
		}
		loss, err := G.Mul(sum, G.NewConstant(float32(0.5)))
		if err != nil {
			t.Fatal(err)
		}
		_, params := g.Learnables()
		grads, err := G.Grad(loss, append(G.Nodes{h1, h2}, params...)...)
		if err != nil {
			t.Fatal(err)
		}
		prog := nn.NewEvaluator(g)
		defer prog.Close()
		if _, err := prog.Run(t.Context(),
			nn.Feed{Node: h1, Data: gd[tag+".h1"].Float32()}, nn.Feed{Node: h2, Data: gd[tag+".h2"].Float32()},
			nn.Feed{Node: y1, Data: gd[tag+".y1"].Float32()}, nn.Feed{Node: y2, Data: gd[tag+".y2"].Float32()}); err != nil {
			t.Fatal(err)
		}
		lv, err := nn.ScalarValue(loss.Value())
		if err != nil {
			t.Fatal(err)
		}
		check := func(what string, got []float32) {
			t.Helper()
			g := make([]float64, len(got))
			for i, v := range got {
				g[i] = float64(v)
			}
			if diff := cmp.Diff(gd[tag+"."+what].Data, g, approx); diff != "" {
				t.Errorf("%s %s differs from PyTorch (-want +got):\n%s", tag, what, diff)
			}
		}
		check("loss", []float32{lv})
		for i, what := range []string{"dh1", "dh2", "dweight", "dbias"} {
			check(what, grads[i].Value().Data().([]float32))
		}
	}
}

func TestAccuracy(t *testing.T) {
	acc, err := Accuracy([]float32{0, 2, 1, 5, 0, 0, 1, 1, 0}, []int{1, 0, 2}, 3)
	if err != nil || acc != 2.0/3 { // the tie in row 3 goes to class 0
		t.Errorf("Accuracy = %v, %v; want 2/3", acc, err)
	}
	if _, err := Accuracy([]float32{0, 1}, []int{2}, 2); err == nil {
		t.Error("label out of range: no error")
	}
	if _, err := Accuracy([]float32{0, 1, 2}, []int{0}, 2); err == nil {
		t.Error("wrong size: no error")
	}
}
