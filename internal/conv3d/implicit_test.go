package conv3d

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vidssl/vidssl/internal/blas"
	"github.com/vidssl/vidssl/internal/tensorcmp"
)

// TestConv3dImplicitShapes checks the implicit-GEMM forward, weight-gradient
// and (at stride 1, transposed) input-gradient paths against
// the definition on randomised shapes with every kernel, stride and
// padding R3D, MC3 and R(2+1)D use (3x7x7 s(1,2,2), 3x3x3 s1 and s2,
// 1x3x3 and 3x1x1 with their strides, and odd ones), odd sizes, and x, w
// and y cut at unaligned starts, on the default back end (which
// VIDSSL_BLAS picks), vidssl's SGEMM with its best and generic kernels,
// and a serial one (gonum and OpenBLAS have no implicit path).
func TestConv3dImplicitShapes(t *testing.T) {
	serial, _ := blas.Serial(blas.Go())
	impls := []blas.Impl{blas.Go(), blas.GoGeneric(), serial}
	if _, ok := blas.OffsetsOf(blas.MustDefault()); ok {
		impls = append(impls, blas.MustDefault()) // go-avx2 under VIDSSL_BLAS=go-avx2
	}
	kernels := []struct {
		k, stride, pad [3]int
	}{
		{[3]int{3, 7, 7}, [3]int{1, 2, 2}, [3]int{1, 3, 3}},
		{[3]int{3, 3, 3}, [3]int{1, 1, 1}, [3]int{1, 1, 1}},
		{[3]int{3, 3, 3}, [3]int{2, 2, 2}, [3]int{1, 1, 1}},
		{[3]int{1, 3, 3}, [3]int{1, 1, 1}, [3]int{0, 1, 1}},
		{[3]int{1, 3, 3}, [3]int{1, 2, 2}, [3]int{0, 1, 1}},
		{[3]int{3, 1, 1}, [3]int{1, 1, 1}, [3]int{1, 0, 0}},
		{[3]int{3, 1, 1}, [3]int{2, 1, 1}, [3]int{1, 0, 0}},
		{[3]int{1, 7, 7}, [3]int{1, 2, 2}, [3]int{0, 3, 3}},
		{[3]int{2, 3, 4}, [3]int{1, 3, 2}, [3]int{0, 2, 1}},
		{[3]int{3, 3, 3}, [3]int{1, 1, 3}, [3]int{1, 0, 2}},
	}
	rng := rand.New(rand.NewPCG(13, 13))
	for trial := 0; trial < 40; trial++ {
		kc := kernels[trial%len(kernels)]
		n, cin, cout := 1+rng.IntN(3), 1+rng.IntN(9), []int{1, 3, 8, 13, 16, 17, 24, 33}[rng.IntN(8)]
		xs := []int{n, cin, max(kc.k[0], 1+rng.IntN(6)), max(kc.k[1], 1+rng.IntN(13)), max(kc.k[2], 1+rng.IntN(40))}
		ws := []int{cout, cin, kc.k[0], kc.k[1], kc.k[2]}
		g := testGeom(xs, ws, kc.stride, kc.pad)
		x := make([]float32, 1+size([5]int(xs)))
		w := make([]float32, 3+size([5]int(ws)))
		for i := range x {
			x[i] = rng.Float32()*2 - 1
		}
		for i := range w {
			w[i] = rng.Float32()*2 - 1
		}
		x, w = x[1:], w[3:]
		want := make([]float32, size(g.Y()))
		naiveConv3d(&g, x, w, want)
		dy := make([]float32, len(want))
		for i := range dy {
			dy[i] = rng.Float32()*2 - 1
		}
		wantDx, wantDw := make([]float32, len(x)), make([]float32, len(w))
		naiveConv3dGrads(&g, x, w, dy, wantDx, wantDw)
		for _, bl := range impls {
			for _, trim := range []bool{true, false} {
				t.Run(fmt.Sprintf("%d/%s/trim=%t/x=%v/w=%v/s=%v/p=%v", trial, bl.Name(), trim, xs, ws, kc.stride, kc.pad), func(t *testing.T) {
					old, oldForce, oldUse := useTrim, forceImplicit, useImplicit
					useTrim, forceImplicit, useImplicit = trim, true, true // also under VIDSSL_CONV=vol2col
					defer func() { useTrim, forceImplicit, useImplicit = old, oldForce, oldUse }()
					if !g.implicitOK(bl) {
						t.Fatal("the implicit path does not serve this case")
					}
					ybuf := make([]float32, 2+len(want))
					for i := range ybuf {
						ybuf[i] = float32(math.NaN())
					}
					y := ybuf[1 : 1+len(want)]
					Forward(bl, &g, x, w, nil, y)
					if !math.IsNaN(float64(ybuf[0])) || !math.IsNaN(float64(ybuf[len(ybuf)-1])) {
						t.Fatal("wrote outside y")
					}
					tensorcmp.Approx(t, "y", want, y)
					dwbuf := make([]float32, 2+len(w))
					dw := dwbuf[1 : 1+len(w)]
					dwbuf[0], dwbuf[len(dwbuf)-1] = 7, 7
					BackwardFilter(bl, &g, x, dy[:len(want):len(want)], dw)
					if dwbuf[0] != 7 || dwbuf[len(dwbuf)-1] != 7 {
						t.Fatal("wrote outside dw")
					}
					tensorcmp.Approx(t, "dw", wantDw, dw)
					// The input gradient: at stride 1 a forward pass on the
					// implicit path (transposed), else col2vol.
					dxbuf := make([]float32, 2+len(x))
					dx := dxbuf[1 : 1+len(x)]
					dxbuf[0], dxbuf[len(dxbuf)-1] = 7, 7
					BackwardData(bl, &g, w, dy[:len(want):len(want)], dx)
					if dxbuf[0] != 7 || dxbuf[len(dxbuf)-1] != 7 {
						t.Fatal("wrote outside dx")
					}
					tensorcmp.Approx(t, "dx", wantDx, dx)
				})
			}
		}
	}
}

// FuzzConv3dImplicit checks the implicit path's forward pass and weight
// gradient against the definition on shapes drawn from the fuzzer's bytes:
// batch, channels, sizes, kernel, stride and padding per dimension.
//
//	go test -run - -fuzz FuzzConv3dImplicit -fuzztime 1m ./internal/conv3d/
func FuzzConv3dImplicit(f *testing.F) {
	f.Add([]byte{1, 3, 8, 4, 9, 9, 3, 7, 7, 1, 2, 2, 1, 3, 3})
	f.Add([]byte{2, 5, 13, 3, 6, 11, 3, 3, 3, 2, 2, 2, 1, 1, 1})
	f.Add([]byte{1, 4, 9, 2, 5, 7, 1, 3, 3, 1, 2, 2, 0, 1, 1})
	f.Add([]byte{3, 2, 16, 5, 3, 4, 3, 1, 1, 2, 1, 1, 1, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 15 {
			return
		}
		v := func(i, lo, n int) int { return lo + int(b[i])%n }
		n, cin, cout := v(0, 1, 3), v(1, 1, 9), v(2, 1, 33)
		k := [3]int{v(6, 1, 4), v(7, 1, 7), v(8, 1, 7)}
		stride := [3]int{v(9, 1, 3), v(10, 1, 3), v(11, 1, 3)}
		var pad [3]int
		for d := range pad {
			pad[d] = int(b[12+d]) % k[d] // below the kernel size
		}
		xs := []int{n, cin, v(3, 1, 7), v(4, 1, 14), v(5, 1, 20)}
		ws := []int{cout, cin, k[0], k[1], k[2]}
		if !fits(xs, ws, pad) {
			return // a kernel larger than the padded input
		}
		g := testGeom(xs, ws, stride, pad)
		rng := rand.New(rand.NewPCG(uint64(len(b)), uint64(b[0])))
		x, w := make([]float32, size([5]int(xs))), make([]float32, size([5]int(ws)))
		for i := range x {
			x[i] = rng.Float32()*2 - 1
		}
		for i := range w {
			w[i] = rng.Float32()*2 - 1
		}
		want := make([]float32, size(g.Y()))
		naiveConv3d(&g, x, w, want)
		dy := make([]float32, len(want))
		for i := range dy {
			dy[i] = rng.Float32()*2 - 1
		}
		wantDx, wantDw := make([]float32, len(x)), make([]float32, len(w))
		naiveConv3dGrads(&g, x, w, dy, wantDx, wantDw)
		old, oldUse := forceImplicit, useImplicit
		forceImplicit, useImplicit = true, true
		defer func() { forceImplicit, useImplicit = old, oldUse }()
		bl := blas.MustDefault()
		if !g.implicitOK(bl) {
			t.Skip("the default back end has no implicit path")
		}
		y, dw := make([]float32, len(want)), make([]float32, len(w))
		Forward(bl, &g, x, w, nil, y)
		BackwardFilter(bl, &g, x, dy, dw)
		tensorcmp.Approx(t, "y", want, y)
		tensorcmp.Approx(t, "dw", wantDw, dw)
		dx := make([]float32, len(x))
		BackwardData(bl, &g, w, dy, dx)
		tensorcmp.Approx(t, "dx", wantDx, dx)
	})
}
