package video

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// readClipGolden reads testdata/pipeline/clip_golden.txt (written by
// gen_clips.py) as lines of a kind and integers.
func readClipGolden(t *testing.T) map[string][][]int {
	t.Helper()
	f, err := os.Open("testdata/pipeline/clip_golden.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][][]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		nums := make([]int, len(fields)-1)
		for i, s := range fields[1:] {
			if nums[i], err = strconv.Atoi(s); err != nil {
				t.Fatalf("clip_golden.txt: %q: %v", sc.Text(), err)
			}
		}
		out[fields[0]] = append(out[fields[0]], nums)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out["eval"]) == 0 || len(out["pad"]) == 0 || len(out["fit"]) == 0 {
		t.Fatalf("clip_golden.txt: missing cases: %d eval, %d pad, %d fit", len(out["eval"]), len(out["pad"]), len(out["fit"]))
	}
	return out
}

// pyRange is Python's list(range(start, stop, step)) for step > 0.
func pyRange(start, stop, step int) []int {
	var r []int
	for i := start; i < stop; i += step {
		r = append(r, i)
	}
	return r
}

func TestEvalClipStartsGolden(t *testing.T) {
	for _, c := range readClipGolden(t)["eval"] {
		T, L, want := c[0], c[1], c[2:]
		if got := EvalClipStarts(T, L); !slices.Equal(got, want) {
			t.Errorf("EvalClipStarts(%d, %d) = %v, want %v (Python)", T, L, got, want)
		}
	}
}

func TestEvalClipStartsPython(t *testing.T) {
	for L := 1; L <= 40; L++ {
		for T := 1; T <= 300; T++ {
			want := []int{0, 0, 0, 0}
			if T >= L+4 {
				want = pyRange(0, T-L, (T-L)/4)[:4]
			}
			got := EvalClipStarts(T, L)
			if !slices.Equal(got, want) {
				t.Fatalf("EvalClipStarts(%d, %d) = %v, want %v", T, L, got, want)
			}
			for _, s := range got {
				idx := ClipIndices(T, s, L, 1)
				if len(idx) != L || idx[0] != s {
					t.Fatalf("T=%d L=%d: ClipIndices from %d = %v", T, L, s, idx)
				}
				for k, i := range idx {
					if (s+k < T && i != s+k) || (s+k >= T && i != -1) {
						t.Fatalf("T=%d L=%d: ClipIndices from %d = %v", T, L, s, idx)
					}
				}
			}
		}
	}
	if EvalClipStarts(0, 16) != nil || EvalClipStarts(16, 0) != nil {
		t.Error("EvalClipStarts with a zero size is not nil")
	}
}

func TestTrainClipIndicesPadded(t *testing.T) {
	pcg := rand.NewPCG(1, 1)
	rng := rand.New(pcg)
	for _, c := range readClipGolden(t)["pad"] {
		T, L, stride, want := c[0], c[1], c[2], c[3:]
		before := *pcg
		if got := TrainClipIndices(rng, T, L, stride); !slices.Equal(got, want) {
			t.Errorf("TrainClipIndices(T=%d, L=%d, stride=%d) = %v, want %v (Python)", T, L, stride, got, want)
		}
		if *pcg != before {
			t.Errorf("TrainClipIndices(T=%d, L=%d, stride=%d) used the generator for a padded clip", T, L, stride)
		}
	}
}

func TestTrainClipIndicesFit(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	for _, c := range readClipGolden(t)["fit"] {
		T, L, stride, lo, hi := c[0], c[1], c[2], c[3], c[4]
		seen := map[int]int{}
		draws := 40 * (hi - lo + 1)
		for n := 0; n < draws; n++ {
			idx := TrainClipIndices(rng, T, L, stride)
			if len(idx) != L {
				t.Fatalf("T=%d L=%d stride=%d: %d indices", T, L, stride, len(idx))
			}
			for k, i := range idx {
				if i != idx[0]+k*stride || i >= T {
					t.Fatalf("T=%d L=%d stride=%d: indices %v", T, L, stride, idx)
				}
			}
			seen[idx[0]]++
		}
		for s := lo; s <= hi; s++ {
			if seen[s] == 0 {
				t.Errorf("T=%d L=%d stride=%d: start %d never drawn in %d draws", T, L, stride, s, draws)
			}
		}
		if len(seen) != hi-lo+1 {
			t.Errorf("T=%d L=%d stride=%d: drew starts %v, want %d..%d", T, L, stride, seen, lo, hi)
		}
	}
	if TrainClipIndices(rng, 10, 0, 1) != nil || TrainClipIndices(rng, 0, 4, 1) != nil || TrainClipIndices(rng, 10, 4, 0) != nil {
		t.Error("TrainClipIndices with a bad size is not nil")
	}
}

func TestTrainClipIndicesSeeded(t *testing.T) {
	a := rand.New(rand.NewPCG(7, 8))
	b := rand.New(rand.NewPCG(7, 8))
	for T := 1; T < 200; T++ {
		if x, y := TrainClipIndices(a, T, 16, 1), TrainClipIndices(b, T, 16, 1); !slices.Equal(x, y) {
			t.Fatalf("T=%d: same seed gave %v and %v", T, x, y)
		}
	}
}

func TestGather(t *testing.T) {
	v, _ := New(3, 1, 2, 1)
	copy(v.Frames, []uint8{1, 2, 3, 4, 5, 6})
	v.FPS, v.Source = 25, "x.avi"
	g, err := Gather(v, []int{2, 0, 2, -1})
	if err != nil {
		t.Fatal(err)
	}
	if g.T != 4 || g.FPS != 25 || g.Source != "x.avi" || string(g.Frames) != string([]uint8{5, 6, 1, 2, 5, 6, 0, 0}) {
		t.Errorf("Gather = T %d %v", g.T, g.Frames)
	}
	for _, idx := range [][]int{{3}, {-2}, {}} {
		if _, err := Gather(v, idx); err == nil || !strings.Contains(err.Error(), "x.avi") {
			t.Errorf("Gather(%v): error %v, want one naming x.avi", idx, err)
		}
	}
}

func ExampleEvalClipStarts() {
	for _, t := range []int{10, 16, 19, 20, 47, 100} {
		fmt.Println(t, EvalClipStarts(t, 16))
	}
	// A 10-frame video gives a padded clip: frames 0..9, then zero frames.
	fmt.Println(ClipIndices(10, 0, 16, 1))
	// Output:
	// 10 [0 0 0 0]
	// 16 [0 0 0 0]
	// 19 [0 0 0 0]
	// 20 [0 1 2 3]
	// 47 [0 7 14 21]
	// 100 [0 21 42 63]
	// [0 1 2 3 4 5 6 7 8 9 -1 -1 -1 -1 -1 -1]
}
