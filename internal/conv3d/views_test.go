package conv3d

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/vidssl/vidssl/internal/blas"
)

// TestConv3dViews checks that the kernels give the same results on
// slices cut from larger buffers (as gpu's host engine passes views of its
// arenas) with other values around them and capacities that end with
// them, and with scratch buffers left dirty by earlier calls: they read
// nothing outside their arguments and write nothing outside their outputs.
func TestConv3dViews(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	// The convolutions of a width-8 R(2+1)D on 3 clips of 4 frames of
	// 20x20, where the host engine once disagreed with nn's graph (it was
	// batch norm's conditioning, not the kernels).
	for _, c := range []struct {
		x, w        []int
		stride, pad [3]int
	}{
		{[]int{3, 3, 4, 20, 20}, []int{45, 3, 1, 7, 7}, [3]int{1, 2, 2}, [3]int{0, 3, 3}},
		{[]int{3, 45, 4, 10, 10}, []int{8, 45, 3, 1, 1}, [3]int{1, 1, 1}, [3]int{1, 0, 0}},
		{[]int{3, 8, 4, 10, 10}, []int{18, 8, 1, 3, 3}, [3]int{1, 1, 1}, [3]int{0, 1, 1}},
		{[]int{3, 18, 4, 10, 10}, []int{8, 18, 3, 1, 1}, [3]int{1, 1, 1}, [3]int{1, 0, 0}},
		{[]int{3, 8, 4, 10, 10}, []int{28, 8, 1, 3, 3}, [3]int{1, 2, 2}, [3]int{0, 1, 1}},
		{[]int{3, 28, 4, 5, 5}, []int{16, 28, 3, 1, 1}, [3]int{2, 1, 1}, [3]int{1, 0, 0}},
		{[]int{3, 16, 2, 5, 5}, []int{36, 16, 1, 3, 3}, [3]int{1, 1, 1}, [3]int{0, 1, 1}},
		{[]int{3, 64, 1, 2, 2}, []int{144, 64, 1, 3, 3}, [3]int{1, 1, 1}, [3]int{0, 1, 1}},
		{[]int{3, 144, 1, 2, 2}, []int{64, 144, 3, 1, 1}, [3]int{1, 1, 1}, [3]int{1, 0, 0}},
	} {
		g := testGeom(c.x, c.w, c.stride, c.pad)
		embed := func(n int, fill float32) ([]float32, []float32) {
			buf := make([]float32, n+200)
			for i := range buf {
				buf[i] = fill
			}
			return buf, buf[100 : 100+n : 100+n]
		}
		x, w, dy := randSlice(rng, size(g.X())), randSlice(rng, size(g.W())), randSlice(rng, size(g.Y()))
		bl := blas.MustDefault()
		y0, dx0, dw0 := make([]float32, len(dy)), make([]float32, len(x)), make([]float32, len(w))
		Forward(bl, &g, x, w, nil, y0)
		BackwardData(bl, &g, w, dy, dx0)
		BackwardFilter(bl, &g, x, dy, dw0)
		nan := float32(math.NaN())
		for b := 0; b < 23; b++ {
			for k := 0; k < 4; k++ {
				sp := getScratch(1 << b)
				for i := range *sp {
					(*sp)[i] = 1e6
				}
				putScratch(sp)
			}
		}
		_, xg := embed(len(x), 1e6)
		copy(xg, x)
		_, wg := embed(len(w), 1e6)
		copy(wg, w)
		_, dyg := embed(len(dy), 1e6)
		copy(dyg, dy)
		yb, y := embed(len(dy), nan)
		dxb, dx := embed(len(x), nan)
		dwb, dw := embed(len(w), 7)
		clear(dw)
		Forward(bl, &g, xg, wg, nil, y)
		BackwardData(bl, &g, wg, dyg, dx)
		BackwardFilter(bl, &g, xg, dyg, dw)
		for _, p := range []struct {
			n    string
			a, b []float32
			buf  []float32
		}{{"y", y0, y, yb}, {"dx", dx0, dx, dxb}, {"dw", dw0, dw, dwb}} {
			if out := append(slices.Clone(p.buf[:100]), p.buf[len(p.buf)-100:]...); slices.ContainsFunc(out, func(v float32) bool { return v == v && v != 7 }) {
				t.Errorf("%v %v: wrote outside %s", c.x, c.w, p.n)
			}
			for i := range p.a {
				if p.a[i] != p.b[i] {
					t.Errorf("%v %v: %s[%d] %g vs %g", c.x, c.w, p.n, i, p.a[i], p.b[i])
					break
				}
			}
		}
	}
}
