package conv3d

import (
	"os"
	"runtime"
	"sync"

	"github.com/vidssl/vidssl/internal/blas"
	"github.com/vidssl/vidssl/internal/vec"
)

// Implicit GEMM: the forward convolution without a vol2col matrix. Each
// batch item is copied once into a zero-padded buffer laid out so that,
// for every kernel tap k = (kt, ci, kh, kw), the values the tap reads at
// consecutive output positions are the values of the buffer from some
// offset off[k] on, at consecutive addresses. Then for a run of output
// frames
//
//	Ygrid (Cout x n) = W (Cout x K) * B,  B[k, j] = buf[base + off[k] + j]
//
// is one blas.Offsets product: the AVX-512 kernels load B's rows straight
// from the buffer (vol2col's copy of K*P values and its trip through
// memory disappear, and so with the AVX2 6x16 kernel), the other kernels
// pack B's panels from it. The output
// comes out on a grid (j = ho*Wq + wo within a frame), whose columns past
// Wo (and rows past Ho) are discarded as the grid is copied into y, a copy
// of Cout*P values against vol2col's K*P.
//
// The layout: channel ci of the buffer is cs values long; it holds sh*sw
// sub-volumes, one per phase of the stride along H and W, each the padded
// frames as Hq x Wq planes: padded row h, column w of a frame goes to
// sub-volume (h%sh, w%sw), at row h/sh, column w/sw, so that the columns
// and rows one tap reads at the stride are contiguous and Wq apart, and
// consecutive frames one plane apart. For a stride 1 that is the plain
// padded volume. cs is padded to an
// odd number of cache lines, so that the channels of one tap, cs apart, do
// not all fall in the same L1 sets.
//
// With a stride of 1 along W, consecutive rows share their padding: a row
// is Wq = max(W+pw, Wo) values long, its input at columns [pw, pw+W), and
// a tap that reads past the right edge of row h reads the zeros at the
// start of row h+1 (the left padding, pw long) instead of padding of its
// own. The grid then has Wq-Wo = pw discarded columns a row (for the
// "same" convolutions of R3D-18) instead of 2pw: 1/15 of the product at a
// 14x14 frame instead of 1/8, 1/8 at 7x7 instead of 2/9.
//
// Output frames go in runs that read the same temporal taps (the rows of
// W and B of the other taps, which read only padding, are skipped, as
// tapRuns does for vol2col); with a temporal stride of 1 a run spans
// several frames, their grids one padded frame apart.

// EnvVar is the environment variable that, set to "vol2col", turns the
// implicit-GEMM path off, so that every convolution takes the vol2col,
// row-shift or strided lowering it took before (to compare them).
const EnvVar = "VIDSSL_CONV"

// useImplicit enables the implicit-GEMM forward path where it applies
// (unless VIDSSL_CONV=vol2col); tests turn it off to check the other paths
// on the same cases.
var useImplicit = os.Getenv(EnvVar) != "vol2col"

// implicitGeom is the buffer layout of the implicit path for g.
type implicitGeom struct {
	tp, hq, wq int // padded frames; rows and columns of a plane
	plane      int // hq*wq: one frame of a sub-volume
	vol        int // tp*plane: one sub-volume
	cs         int // one channel: sh*sw*vol, padded
}

func newImplicitGeom(g *Geom) implicitGeom {
	var l implicitGeom
	l.tp = g.t + 2*g.pt
	l.hq = (g.h + 2*g.ph + g.sh - 1) / g.sh
	l.wq = (g.w + 2*g.pw + g.sw - 1) / g.sw
	if g.sw == 1 {
		// Rows share their padding: a row's right padding is the next
		// row's left padding (see the layout above).
		l.wq = max(g.w+g.pw, g.ow)
	}
	l.plane = l.hq * l.wq
	l.vol = l.tp * l.plane
	// The last taps of a channel's last row read up to pw values past its
	// sub-volume (the next row's left padding, which is not there).
	lines := (g.sh*g.sw*l.vol + g.pw + 15) / 16
	if lines%2 == 0 {
		lines++
	}
	l.cs = lines * 16
	return l
}

// implicitOK reports whether the implicit path serves g with bl: with
// vidssl's SGEMM, for every convolution but the pointwise ones when its
// kernels read B in place (AVX-512), else only for convolutions too large
// to run as parts of their batch (itemSplitMaxWork): the AVX2 kernels,
// when they packed B's panels from the offsets and A, made the width-8
// network's steps 10-15% slower than the row-shift lowering
// (BenchmarkSmallStep, VIDSSL_BLAS=go-avx2), while R3D-18's layers gained
// (layer1's forward 67 against 44 GFLOP per CPU second). With the AVX2
// 6x16 kernel now reading both in place too, the implicit path still made
// them slower (0.190-0.200 against 0.169-0.176 CPU s per pretraining
// step, 0.103-0.105 against 0.088-0.104 fine-tuning, BenchmarkSmallStep
// -benchtime 10x, 3 alternated runs under load, 2026-12-07).
func (g *Geom) implicitOK(bl blas.Impl) bool {
	if !useImplicit || g.pointwise() || g.stridedPointwise() {
		return false
	}
	if _, ok := blas.OffsetsOf(bl); !ok {
		return false
	}
	return forceImplicit || blas.ReadsInPlace(bl) || g.cout*g.kdim()*g.outSize() > itemSplitMaxWork
}

// implicitFilterOK reports whether the implicit path computes g's weight
// gradient with bl, which it does where that was measured faster (see
// backwardFilterImplicit; BenchmarkConv3dGrad, 2026-12-07): with at
// least 32 output and 9 input channels, when the workers' sums (Cout x K)
// stay in L2 or the products are long (R3D-18's layer1 and layer2, the
// width-8 network's layer3 and layer4; not R3D-18's layer3 and layer4,
// whose frames of 14x14 and 7x7 give products of a few hundred columns
// that each update 7 and 28 MB of sums); and for the width-8 network's
// stem (at most 8 output and 4 input channels, dot products).
func (g *Geom) implicitFilterOK(bl blas.Impl) bool {
	if !g.implicitOK(bl) {
		return false
	}
	if forceImplicit {
		return true
	}
	if !blas.ReadsInPlace(bl) {
		// The AVX2 kernels pack A, the input's rows here, once per
		// kernel tap: slower than vol2col at R3D-18's layer1 and layer2
		// (55 against 60 and 68 against 81 GFLOP per CPU second).
		return false
	}
	if g.cout <= 8 {
		return g.cin <= 4
	}
	if g.cin <= 8 || g.cout < 32 {
		return false
	}
	if g.cout*g.kdim() <= 1<<19 {
		return true
	}
	l := newImplicitGeom(g)
	cols, n := 0, 0
	implicitRuns(g, &l, max(1024, implicitChunkFloats/g.cout), func(t implicitTask) {
		cols += t.nc
		n++
	})
	return cols >= 1024*n
}

// forceImplicit makes the implicit path serve every convolution and
// weight gradient it can, for tests.
var forceImplicit = false

// intPool holds the offset tables (*[]int) of the implicit path.
var intPool sync.Pool

func getInts(n int) *[]int {
	if p, ok := intPool.Get().(*[]int); ok && cap(*p) >= n {
		*p = (*p)[:n]
		return p
	}
	s := make([]int, n)
	return &s
}

// implicitChunkFloats bounds the grid buffer of one product: Cout times
// its columns.
const implicitChunkFloats = 1 << 18

// forwardImplicit is Forward's implicit-GEMM path (no bias).
func forwardImplicit(bl blas.Impl, g *Geom, x, w, y []float32) {
	ob, _ := blas.OffsetsOf(bl)
	l := newImplicitGeom(g)
	k, p := g.kdim(), g.outSize()
	kk := k / g.kt
	inN, outN := g.cin*g.inSize(), g.cout*p

	wbuf := getScratch(len(w))
	wr := *wbuf
	tapMajor(g, w, wr, false) // K in the order (kt, ci, kh, kw)
	offp := getInts(k)
	off := *offp
	for kt := 0; kt < g.kt; kt++ {
		for ci := 0; ci < g.cin; ci++ {
			for kh := 0; kh < g.kh; kh++ {
				for kw := 0; kw < g.kw; kw++ {
					off[((kt*g.cin+ci)*g.kh+kh)*g.kw+kw] = ci*l.cs + ((kh%g.sh)*g.sw+kw%g.sw)*l.vol +
						kt*l.plane + (kh/g.sh)*l.wq + kw/g.sw
				}
			}
		}
	}
	xbuf := getScratch(g.cin * l.cs)
	xp := *xbuf
	clear(xp) // the padding stays zero across items
	chunk := max(1024, implicitChunkFloats/g.cout)
	gbuf := getScratch(g.cout * chunk)
	grid := *gbuf
	fstep := g.st * l.plane // the grid's columns per output frame
	for n := 0; n < g.n; n++ {
		implicitLoad(g, &l, x[n*inN:(n+1)*inN], xp)
		yn := y[n*outN : (n+1)*outN]
		for f0 := 0; f0 < g.ot; {
			a, b := g.tapRange(f0)
			f1 := f0 + 1
			for g.st == 1 && f1 < g.ot {
				if a2, b2 := g.tapRange(f1); a2 != a || b2 != b {
					break
				}
				f1++
			}
			if a == b { // every tap reads padding
				for co := 0; co < g.cout; co++ {
					clear(yn[co*p+f0*g.oh*g.ow : co*p+f1*g.oh*g.ow])
				}
				f0 = f1
				continue
			}
			cols := (f1-f0-1)*fstep + (g.oh-1)*l.wq + g.ow
			base := f0 * fstep
			for c0 := 0; c0 < cols; c0 += chunk {
				nc := min(chunk, cols-c0)
				ob.SgemmOffsets(g.cout, nc, (b-a)*kk, wr[a*kk:], k, xp[base+c0:], off[a*kk:b*kk], grid, nc)
				implicitStore(g, &l, grid, nc, c0, f0, yn)
			}
			f0 = f1
		}
	}
	putScratch(gbuf)
	putScratch(xbuf)
	intPool.Put(offp)
	putScratch(wbuf)
}

// implicitStore copies the valid columns of grid (Cout x nc), columns
// [c0, c0+nc) of the grid of output frames from f0 on, into yn, one item
// of the output.
func implicitStore(g *Geom, l *implicitGeom, grid []float32, nc, c0, f0 int, yn []float32) {
	p := g.outSize()
	fstep := g.st * l.plane
	g.parFor(g.cout, max(1, copyGrain/nc), func(lo, hi int) {
		for co := lo; co < hi; co++ {
			src := grid[co*nc : (co+1)*nc]
			dst := yn[co*p:]
			for j := c0; j < c0+nc; {
				f, rem := j/fstep, j%fstep
				ho, wo := rem/l.wq, rem%l.wq
				switch {
				case ho >= g.oh:
					j += fstep - rem // the next frame
				case wo >= g.ow:
					j += l.wq - wo // the next row
				default:
					seg := min(g.ow-wo, c0+nc-j)
					copy(dst[((f0+f)*g.oh+ho)*g.ow+wo:][:seg], src[j-c0:][:seg])
					j += seg
				}
			}
		}
	})
}

// implicitLoad copies xn, one item (Cin, T, H, W), into the buffer xp laid
// out as implicitGeom says; the padding is left as it is (zero).
func implicitLoad(g *Geom, l *implicitGeom, xn, xp []float32) {
	g.parFor(g.cin*g.t, max(1, copyGrain/(g.h*g.w)), func(lo, hi int) {
		for plane := lo; plane < hi; plane++ {
			ci, t := plane/g.t, plane%g.t
			fr := xp[ci*l.cs+(t+g.pt)*l.plane:]
			for h := 0; h < g.h; h++ {
				hp := h + g.ph
				sub := fr[(hp%g.sh)*g.sw*l.vol+(hp/g.sh)*l.wq:]
				xr := xn[((ci*g.t+t)*g.h+h)*g.w:][:g.w]
				switch g.sw {
				case 1:
					copy(sub[g.pw:g.pw+g.w], xr)
				case 2:
					// Input column i is padded column i+pw: phase
					// (i+pw)%2, column (i+pw)/2.
					e := sub[(g.pw%2)*l.vol+g.pw/2:][:(g.w+1)/2]
					o := sub[((g.pw+1)%2)*l.vol+(g.pw+1)/2:][:g.w/2]
					vec.Deinterleave2(e, o, xr)
				default:
					for i, v := range xr {
						c := i + g.pw
						sub[(c%g.sw)*l.vol+c/g.sw] = v
					}
				}
			}
		}
	})
}

// implicitTask is one product of the implicit path: columns [c0, c0+nc)
// of the grid of the output frames from f0 on, which read the temporal
// taps [a, b).
type implicitTask struct{ f0, a, b, c0, nc int }

// implicitTasks lists g's products, the same for every batch item: runs of
// output frames that read the same temporal taps (several frames only at
// temporal stride 1), cut into chunks of at most chunk columns. Frames
// that read only padding are left out.
func implicitTasks(g *Geom, l *implicitGeom, chunk int) []implicitTask {
	var tasks []implicitTask
	implicitRuns(g, l, chunk, func(t implicitTask) { tasks = append(tasks, t) })
	return tasks
}

// implicitRuns calls f on each of implicitTasks' products, in order.
func implicitRuns(g *Geom, l *implicitGeom, chunk int, f func(implicitTask)) {
	fstep := g.st * l.plane
	for f0 := 0; f0 < g.ot; {
		a, b := g.tapRange(f0)
		f1 := f0 + 1
		for g.st == 1 && f1 < g.ot {
			if a2, b2 := g.tapRange(f1); a2 != a || b2 != b {
				break
			}
			f1++
		}
		if a < b {
			cols := (f1-f0-1)*fstep + (g.oh-1)*l.wq + g.ow
			for c0 := 0; c0 < cols; c0 += chunk {
				f(implicitTask{f0, a, b, c0, min(chunk, cols-c0)})
			}
		}
		f0 = f1
	}
}

// implicitGather is the reverse of implicitStore: it fills grid (Cout x
// nc) with the values of dyn, one item of the output gradient, at grid
// columns [c0, c0+nc) of the frames from f0 on, and zeros at the grid's
// columns that are no output position.
func implicitGather(g *Geom, l *implicitGeom, dyn []float32, grid []float32, nc, c0, f0 int) {
	p := g.outSize()
	fstep := g.st * l.plane
	for co := 0; co < g.cout; co++ {
		dst := grid[co*nc : (co+1)*nc]
		src := dyn[co*p:]
		for j := c0; j < c0+nc; {
			f, rem := j/fstep, j%fstep
			ho, wo := rem/l.wq, rem%l.wq
			var seg int
			switch {
			case ho >= g.oh:
				seg = min(fstep-rem, c0+nc-j)
				clear(dst[j-c0:][:seg])
			case wo >= g.ow:
				seg = min(l.wq-wo, c0+nc-j)
				clear(dst[j-c0:][:seg])
			default:
				seg = min(g.ow-wo, c0+nc-j)
				copy(dst[j-c0:][:seg], src[((f0+f)*g.oh+ho)*g.ow+wo:][:seg])
			}
			j += seg
		}
	}
}

// implicitGatherT is implicitGather writing the transpose: grid is nc x
// Cout, row j holding grid column c0+j.
func implicitGatherT(g *Geom, l *implicitGeom, dyn []float32, grid []float32, nc, c0, f0 int) {
	p := g.outSize()
	fstep := g.st * l.plane
	for j := c0; j < c0+nc; {
		f, rem := j/fstep, j%fstep
		ho, wo := rem/l.wq, rem%l.wq
		var seg int
		switch {
		case ho >= g.oh:
			seg = min(fstep-rem, c0+nc-j)
			clear(grid[(j-c0)*g.cout:][:seg*g.cout])
		case wo >= g.ow:
			seg = min(l.wq-wo, c0+nc-j)
			clear(grid[(j-c0)*g.cout:][:seg*g.cout])
		default:
			seg = min(g.ow-wo, c0+nc-j)
			at := ((f0+f)*g.oh+ho)*g.ow + wo
			for co := 0; co < g.cout; co++ {
				src := dyn[co*p+at:][:seg]
				d := grid[(j-c0)*g.cout+co:]
				for i, v := range src {
					d[i*g.cout] = v
				}
			}
		}
		j += seg
	}
}

// backwardFilterImplicit is BackwardFilter's implicit-GEMM
// path. For each product of the forward pass and each kernel tap
// (kt, kh, kw), whose Cin rows of B are cs apart in the padded buffer,
//
//	dW[:, :, kt, kh, kw]^T += Btap (Cin x n) * dYgrid^T (n x Cout)
//
// with dYgrid^T the output gradient on the forward pass's grid, transposed
// (zero at the discarded columns), and Btap read in place: both operands
// of a product with nothing transposed are read where they lie, so only
// the last partial panels are packed. With at most 8 input or output
// channels (the width-8 network) it is instead
//
//	dW[:, :, kt, kh, kw] += dYgrid (Cout x n) * Btap^T
//
// which blas computes as dot products, also in place. Each of the
// GOMAXPROCS workers (one when g is serial) takes every parts-th product of
// each item, summing into a buffer of its own, and the buffers are added
// into dw at the end. dw must be zeroed.
func backwardFilterImplicit(bl blas.Impl, g *Geom, x, dy, dw []float32) {
	l := newImplicitGeom(g)
	k, p := g.kdim(), g.outSize()
	inN, outN := g.cin*g.inSize(), g.cout*p
	dot := g.cout <= 8 || g.cin <= 8
	parts, sbl := 1, bl
	if !g.serial {
		if s, ok := blas.Serial(bl); ok {
			parts, sbl = max(1, runtime.GOMAXPROCS(0)), s
		}
	}
	xbuf := getScratch(g.cin * l.cs)
	xp := *xbuf
	clear(xp)
	chunk := max(1024, implicitChunkFloats/g.cout)
	tasks := implicitTasks(g, &l, chunk)
	parts = max(1, min(parts, len(tasks)))
	grids, dws := make([]*[]float32, parts), make([]*[]float32, parts)
	for i := range grids {
		grids[i], dws[i] = getScratch(g.cout*chunk), getScratch(g.cout*k)
		clear(*dws[i])
	}
	fstep := g.st * l.plane
	work := func(part int, dyn []float32) {
		grid, dwp := *grids[part], *dws[part]
		for i := part; i < len(tasks); i += parts {
			t := tasks[i]
			if dot {
				implicitGather(g, &l, dyn, grid, t.nc, t.c0, t.f0)
			} else {
				implicitGatherT(g, &l, dyn, grid, t.nc, t.c0, t.f0)
			}
			base := t.f0*fstep + t.c0
			for kt := t.a; kt < t.b; kt++ {
				for kh := 0; kh < g.kh; kh++ {
					for kw := 0; kw < g.kw; kw++ {
						off := ((kh%g.sh)*g.sw+kw%g.sw)*l.vol + kt*l.plane + (kh/g.sh)*l.wq + kw/g.sw
						tap := (kt*g.kh+kh)*g.kw + kw
						if dot {
							// dwp is Cout x K, K in the order (tap, ci).
							sbl.Sgemm(false, true, g.cout, g.cin, t.nc, 1, grid, t.nc, xp[base+off:], l.cs, 1, dwp[tap*g.cin:], k)
						} else {
							// dwp is K x Cout, K in the order (tap, ci).
							sbl.Sgemm(false, false, g.cin, g.cout, t.nc, 1, xp[base+off:], l.cs, grid, g.cout, 1, dwp[tap*g.cin*g.cout:], g.cout)
						}
					}
				}
			}
		}
	}
	for n := 0; n < g.n; n++ {
		implicitLoad(g, &l, x[n*inN:(n+1)*inN], xp)
		dyn := dy[n*outN : (n+1)*outN]
		var wg sync.WaitGroup
		for part := 1; part < parts; part++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				work(part, dyn)
			}()
		}
		work(0, dyn)
		wg.Wait()
	}
	// dw[co, ci, tap] += the workers' sums.
	kv := g.kt * g.kh * g.kw
	g.parFor(g.cout, max(1, copyGrain/k), func(lo, hi int) {
		for co := lo; co < hi; co++ {
			d := dw[co*k : (co+1)*k]
			for _, b := range dws {
				src := *b
				for tap := 0; tap < kv; tap++ {
					for ci := 0; ci < g.cin; ci++ {
						if dot {
							d[ci*kv+tap] += src[co*k+tap*g.cin+ci]
						} else {
							d[ci*kv+tap] += src[(tap*g.cin+ci)*g.cout+co]
						}
					}
				}
			}
		}
	})
	for i := range grids {
		putScratch(grids[i])
		putScratch(dws[i])
	}
	putScratch(xbuf)
}
