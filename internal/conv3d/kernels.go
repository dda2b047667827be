package conv3d

import (
	"math/bits"
	"runtime"
	"sync"

	"github.com/vidssl/vidssl/internal/blas"
	"github.com/vidssl/vidssl/internal/parallel"
	"github.com/vidssl/vidssl/internal/vec"
)

// The CPU convolution lowers each batch item to matrix products (SGEMM from
// internal/blas). For a block of output rows (to, ho), vol2col writes the
// K x Pb matrix col whose row k = (kt, ci, kh, kw) holds, for every output
// position p of the block, the input value the kernel tap k sees at p (zero
// in the padding), and W is the weight with its columns in the same order
// (tapMajor). Then
//
//	forward:         Y[:, block]  = W (Cout x K) * col
//	backward data:   dcol         = W^T * dY[:, block], added back by col2vol
//	backward filter: dW          += dY[:, block] * col^T
//
// Blocks bound the scratch memory to about colBlockFloats values whatever the
// batch and frame sizes (a whole-clip vol2col of R3D-18's layer1 would take
// 347 MB per item) and keep the matrix in cache between vol2col and the SGEMM
// that reads it. Around that plan:
//
//   - With vidssl's SGEMM, the forward pass (and so the input gradient of
//     stride-1 layers) and, where measured faster, the weight gradient run
//     without vol2col: implicit GEMM, reading the padded input in place
//     (implicit.go). VIDSSL_CONV=vol2col turns that off.
//   - 1x1x1 stride-1 unpadded convolutions skip vol2col: the input itself is
//     the K x P matrix; with a larger stride (the downsample shortcut) they
//     gather the values read and scatter their gradient directly
//     (strided.go).
//   - Each item is first copied into a zero-padded buffer (paddedInput), so
//     that vol2col copies whole rows without bounds checks; with a stride
//     along W the rows are split by phase, so those copies stay contiguous.
//   - Convolutions with stride 1 along W and few output channels use the
//     row-shift lowering of shift.go, which copies a third as much.
//   - Kernel taps that read only padding, for every output position, are
//     dropped first (trimmed): at 4 frames R3D-18's layer3 and layer4 see a
//     single frame, so two of their three temporal taps would multiply
//     zeros, two thirds of their work.
//   - Output frames whose temporal taps partly read padding (the first and
//     last frames with padding 1) use only the rows of the taps that read
//     input: with kT outermost in K those are a contiguous range of W's
//     columns and col's rows (tapRuns). At 2 frames, one third of the work.
//   - The input gradient of a stride-1 convolution is itself a convolution
//     (of dy with the flipped, transposed kernel), which replaces col2vol's
//     scattered additions by vol2col's copies where the batch is large
//     against the weight (transposedMinRatio).
//
// The choices and block sizes were tuned on R3D-18's layers on two cores
// (go run ./cmd/convbench); this package's and nn's tests run every path
// on the same cases (AllPaths).

// colBlockFloats bounds the size of one vol2col block, in float32 values.
var colBlockFloats = 1 << 21

// partBlockFloats bounds instead the blocks of a batch split over
// goroutines (splitItems): their products have few output channels, so they
// read each vol2col value once, a stream that is cheap only while the block
// stays in the core's L2 (1 MiB on a Zen 4) between vol2col and the SGEMM.
const partBlockFloats = 1 << 17

// blockFloats is the bound on g's vol2col blocks.
func (g *Geom) blockFloats() int {
	if g.serial {
		return min(colBlockFloats, partBlockFloats)
	}
	return colBlockFloats
}

// minBlockCols is the fewest columns a block has (when the output has as
// many), even past colBlockFloats: SGEMM is slow on narrow matrices.
var minBlockCols = 512

// transposedMinRatio is the least ratio of output positions in the batch
// (N*To*Ho*Wo) to output channels at which the input gradient is computed as
// a transposed convolution: below it, flipping and transposing the weight
// costs more than col2vol's additions (R3D-18's layer3 and layer4).
const transposedMinRatio = 16

// useTrim enables dropping kernel taps that read only padding (trimmed);
// tests turn it off to check the untrimmed paths on the same cases.
var useTrim = true

// useShift enables the row-shift lowering (shift.go) where it applies;
// tests turn it off to check the plain vol2col path on the same cases.
var useShift = true

// copyGrain is the smallest number of copied values worth a goroutine.
const copyGrain = 1 << 14

// itemSplitMaxWork is the most multiply-adds per batch item (Cout*K*P) at
// which a convolution runs as parts of its batch on goroutines of their own,
// each computing its items one at a time with serial products and copies
// (splitItems), rather than one item at a time with each product and copy
// split across goroutines. The example's width-8 network on 48x48 clips has
// 1 to 8 million per item: products too small to split without the fork
// and join costing a good share of them (the smallest ones, at layer3 and
// layer4, are not split at all). R3D-18 at 112x112 has over 50 million at
// every layer, where the split products are near the SGEMM's peak. Tests
// set it to -1 to check the unsplit paths on small cases.
var itemSplitMaxWork = 1 << 24

// scratchPools hold scratch buffers (*[]float32) across calls, by size class:
// pool b holds buffers of capacity 1<<b. Ops take and return buffers for the
// length of one Do, so concurrent Do calls never share one.
var scratchPools [64]sync.Pool

// getScratch returns a buffer of n values with undefined contents.
func getScratch(n int) *[]float32 {
	b := bits.Len(uint(max(n, 1) - 1))
	if p, ok := scratchPools[b].Get().(*[]float32); ok {
		*p = (*p)[:n]
		return p
	}
	s := make([]float32, n, 1<<b)
	return &s
}

// putScratch returns a buffer from getScratch to its pool.
func putScratch(p *[]float32) {
	scratchPools[bits.Len(uint(cap(*p)-1))].Put(p)
}

// blockRows returns how many output rows (to, ho) go in one vol2col block:
// as many as fit in blockFloats, spread evenly over the blocks.
func (g *Geom) blockRows() int {
	rows := g.ot * g.oh
	r := g.blockFloats() / max(1, g.kdim()*g.ow)
	r = max(r, minBlockCols/g.ow) // SGEMM is slow on narrow matrices
	r = min(max(r, 1), rows)
	nb := (rows + r - 1) / r
	return (rows + nb - 1) / nb
}

// validRange returns the range [lo, hi) of output indices o in [0, out) whose
// input index o*stride - pad + k lies in [0, in).
func validRange(k, stride, pad, in, out int) (lo, hi int) {
	if d := pad - k; d > 0 {
		lo = (d + stride - 1) / stride
	}
	if d := in - 1 + pad - k; d >= 0 {
		hi = d/stride + 1
	}
	lo, hi = min(lo, out), min(hi, out)
	return lo, max(lo, hi)
}

// paddedInput holds one batch item of a convolution's input with its zero
// padding, (Cin, T+2pt, H+2ph, W+2pw), so that vol2col and vol2rows copy
// without bounds checks and, along rows, in long runs. With a stride s > 1
// along W (and a kernel wider than one) each padded row is stored as s
// phases, columns w with the same w mod s together (w/s within the phase),
// so that the columns one kernel tap reads at stride s are contiguous too.
type paddedInput struct {
	g          *Geom
	buf        *[]float32
	x          []float32 // the current item, padded
	tp, hp, wp int
	phases     int // sw when rows are split in phases, else 1
	wq         int // the length of a phase: ceil(wp / phases)
	row        int // the length of a stored row: phases * wq
}

// newPaddedInput returns an empty padded buffer for g. Without padding or
// phases it holds no memory of its own unless withBuffer is true.
func newPaddedInput(g *Geom, withBuffer bool) *paddedInput {
	p := &paddedInput{g: g, tp: g.t + 2*g.pt, hp: g.h + 2*g.ph, wp: g.w + 2*g.pw, phases: 1}
	if g.sw > 1 && g.kw > 1 {
		p.phases = g.sw
	}
	p.wq = (p.wp + p.phases - 1) / p.phases
	p.row = p.phases * p.wq
	if withBuffer || g.pt != 0 || g.ph != 0 || g.pw != 0 || p.phases > 1 {
		p.buf = getScratch(g.cin * p.tp * p.hp * p.row)
		clear(*p.buf) // the borders stay zero across items
	}
	return p
}

// tap returns where the columns wo*sw+kw (wo = 0, 1, ...) of kernel tap kw
// lie in a stored row: from off, step apart.
func (p *paddedInput) tap(kw int) (off, step int) {
	if p.phases > 1 {
		return (kw%p.phases)*p.wq + kw/p.phases, 1
	}
	return kw, p.g.sw
}

// load makes xn, one item (Cin, T, H, W), the current item.
func (p *paddedInput) load(xn []float32) {
	if p.buf == nil {
		p.x = xn
		return
	}
	p.x = *p.buf
	p.rows(xn, true)
}

// store copies the unpadded values of the buffer into dxn, one item (Cin, T,
// H, W): the reverse of load.
func (p *paddedInput) store(dxn []float32) { p.rows(dxn, false) }

// rows copies every input row between x (Cin, T, H, W) and the buffer: into
// the buffer when in is true, out of it otherwise.
func (p *paddedInput) rows(x []float32, in bool) {
	g, xp := p.g, *p.buf
	// The range of stored columns of each phase that hold input columns,
	// the same for every row (two phases need none: vec.Deinterleave2).
	var ranges [][2]int
	if p.phases > 2 {
		ranges = make([][2]int, p.phases)
		for ph := range ranges {
			ranges[ph][0], ranges[ph][1] = validRange(ph, p.phases, g.pw, g.w, p.wq)
		}
	}
	g.parFor(g.cin*g.t, max(1, copyGrain/(g.h*g.w)), func(lo, hi int) {
		for plane := lo; plane < hi; plane++ {
			ci, ti := plane/g.t, plane%g.t
			for h := 0; h < g.h; h++ {
				pr := xp[((ci*p.tp+ti+g.pt)*p.hp+h+g.ph)*p.row:][:p.row]
				xr := x[((ci*g.t+ti)*g.h+h)*g.w:][:g.w]
				if p.phases == 1 {
					if in {
						copy(pr[g.pw:], xr)
					} else {
						copy(xr, pr[g.pw:])
					}
					continue
				}
				if p.phases == 2 {
					// Input column i is padded column i+pw: phase (i+pw)%2,
					// index (i+pw)/2, so the even and the odd input columns
					// are each a run of one phase.
					e0, o0 := (g.pw%2)*p.wq+g.pw/2, ((g.pw+1)%2)*p.wq+(g.pw+1)/2
					even, odd := pr[e0:e0+(g.w+1)/2], pr[o0:o0+g.w/2]
					if in {
						vec.Deinterleave2(even, odd, xr)
					} else {
						vec.Interleave2(xr, even, odd)
					}
					continue
				}
				for ph, r := range ranges {
					// Phase ph holds padded columns j*sw+ph: input columns j*sw+ph-pw.
					if r[0] >= r[1] {
						continue
					}
					d := pr[ph*p.wq+r[0] : ph*p.wq+r[1]]
					src := xr[r[0]*p.phases+ph-g.pw:]
					src = src[:(len(d)-1)*p.phases+1]
					if in {
						for j := range d {
							d[j] = src[j*p.phases]
						}
					} else {
						for j, v := range d {
							src[j*p.phases] = v
						}
					}
				}
			}
		}
	})
}

func (p *paddedInput) release() {
	if p.buf != nil {
		putScratch(p.buf)
	}
}

// vol2col fills col (K x Pb, Pb = (r1-r0)*ow) from the padded item in p,
// for output rows [r0, r1).
func vol2col(p *paddedInput, r0, r1 int, col []float32) {
	g, xp := p.g, p.x
	pb := (r1 - r0) * g.ow
	g.parFor(g.kdim(), max(1, copyGrain/pb), func(lo, hi int) {
		for k := lo; k < hi; k++ {
			kw := k % g.kw
			kh := (k / g.kw) % g.kh
			ci := (k / (g.kw * g.kh)) % g.cin
			kt := k / (g.kw * g.kh * g.cin)
			dst := col[k*pb : (k+1)*pb]
			off, step := p.tap(kw)
			for r := r0; r < r1; r++ {
				to, ho := r/g.oh, r%g.oh
				src := xp[((ci*p.tp+to*g.st+kt)*p.hp+ho*g.sh+kh)*p.row+off:]
				d := dst[(r-r0)*g.ow : (r-r0+1)*g.ow]
				if step == 1 {
					copy(d, src[:g.ow])
				} else {
					src = src[:(g.ow-1)*step+1]
					for wo := range d {
						d[wo] = src[wo*step]
					}
				}
			}
		}
	})
}

// col2vol adds col (K x Pb), the gradient of a vol2col block for output rows
// [r0, r1), into the padded item in p, the reverse of vol2col. Work is split
// by padded input plane (ci, t), so that no two goroutines write the same
// values.
func col2vol(p *paddedInput, col []float32, r0, r1 int) {
	g, xp := p.g, *p.buf
	pb := (r1 - r0) * g.ow
	to0, to1 := r0/g.oh, (r1-1)/g.oh  // inclusive
	t0, t1 := to0*g.st, to1*g.st+g.kt // padded planes [t0, t1) are touched
	nt := t1 - t0
	g.parFor(g.cin*nt, 1, func(lo, hi int) {
		for task := lo; task < hi; task++ {
			ci, t := task/nt, t0+task%nt
			if t < g.pt || t >= g.pt+g.t {
				// A padding plane: discarded, and the rows of col that
				// would land here were not computed (tapRuns).
				continue
			}
			for kt := 0; kt < g.kt; kt++ {
				num := t - kt
				if num < 0 || num%g.st != 0 {
					continue
				}
				to := num / g.st
				if to < to0 || to > to1 {
					continue
				}
				rs, re := max(r0, to*g.oh), min(r1, (to+1)*g.oh)
				for kh := 0; kh < g.kh; kh++ {
					for kw := 0; kw < g.kw; kw++ {
						k := ((kt*g.cin+ci)*g.kh+kh)*g.kw + kw
						src := col[k*pb : (k+1)*pb]
						off, step := p.tap(kw)
						for r := rs; r < re; r++ {
							d := xp[((ci*p.tp+t)*p.hp+(r-to*g.oh)*g.sh+kh)*p.row+off:]
							s := src[(r-r0)*g.ow:][:g.ow]
							if step == 1 {
								d = d[:g.ow]
								for i := range d {
									d[i] += s[i]
								}
							} else {
								d = d[:(g.ow-1)*step+1]
								for i, v := range s {
									d[i*step] += v
								}
							}
						}
					}
				}
			}
		}
	})
}

// trimmed returns the geometry of g without the kernel taps that read only
// padding at every output position, and the first tap kept per dimension (T,
// H, W); the same convolution, with less work. ok is false when no tap can
// be dropped.
func (g *Geom) trimmed() (tg Geom, first [3]int, ok bool) {
	if !useTrim {
		return Geom{}, first, false
	}
	tg = *g
	k := [3]*int{&tg.kt, &tg.kh, &tg.kw}
	pad := [3]*int{&tg.pt, &tg.ph, &tg.pw}
	stride, in, out := [3]int{g.st, g.sh, g.sw}, [3]int{g.t, g.h, g.w}, [3]int{g.ot, g.oh, g.ow}
	for d := 0; d < 3; d++ {
		lo, hi := -1, -1 // the first and last taps that read input
		for i := 0; i < *k[d]; i++ {
			if a, b := validRange(i, stride[d], *pad[d], in[d], out[d]); a < b {
				if lo < 0 {
					lo = i
				}
				hi = i
			}
		}
		if lo < 0 || (lo == 0 && hi == *k[d]-1) || lo > *pad[d] {
			continue
		}
		// Output o reads input o*s - p + i = o*s - (p-lo) + (i-lo): the kept
		// taps with the padding reduced by lo, provided that gives the same
		// number of outputs (the padding stays symmetric).
		nk, np := hi-lo+1, *pad[d]-lo
		if (in[d]+2*np-nk)/stride[d]+1 != out[d] {
			continue
		}
		*k[d], *pad[d], first[d] = nk, np, lo
		ok = true
	}
	return tg, first, ok
}

// trimWeight copies into wt, a kernel of tg, the taps of w (a kernel of g)
// that tg keeps, from first on; with add it does the reverse, adding wt into
// those taps of w.
func trimWeight(g, tg *Geom, first [3]int, w, wt []float32, add bool) {
	kv, tkv := g.kt*g.kh*g.kw, tg.kt*tg.kh*tg.kw
	g.parFor(g.cout*g.cin, max(1, copyGrain/kv), func(lo, hi int) {
		for f := lo; f < hi; f++ {
			src, dst := w[f*kv:(f+1)*kv], wt[f*tkv:(f+1)*tkv]
			for kt := 0; kt < tg.kt; kt++ {
				for kh := 0; kh < tg.kh; kh++ {
					s := src[((kt+first[0])*g.kh+kh+first[1])*g.kw+first[2]:][:tg.kw]
					d := dst[(kt*tg.kh+kh)*tg.kw:][:tg.kw]
					if add {
						for i, v := range d {
							s[i] += v
						}
					} else {
						copy(d, s)
					}
				}
			}
		}
	})
}

// tapRange returns the temporal kernel taps [a, b) that read input, not
// padding, for output frame to.
func (g *Geom) tapRange(to int) (a, b int) {
	t0 := to*g.st - g.pt
	a, b = max(0, -t0), min(g.kt, g.t-t0)
	return a, max(a, b)
}

// tapRuns splits the output rows [lo, hi) into runs of whole frames (but for
// the ends) that read the same temporal taps [a, b), and calls f on each.
func (g *Geom) tapRuns(lo, hi int, f func(r0, r1, a, b int)) {
	for r := lo; r < hi; {
		a, b := g.tapRange(r / g.oh)
		end := min(hi, (r/g.oh+1)*g.oh)
		for end < hi {
			if a2, b2 := g.tapRange(end / g.oh); a2 != a || b2 != b {
				break
			}
			end = min(hi, end+g.oh)
		}
		f(r, end, a, b)
		r = end
	}
}

// tapMajor reorders a weight w (Cout, Cin, kT, kH, kW) as (Cout, kT, Cin, kH,
// kW) into wr, the K order of vol2col; with add it does the reverse, adding
// wr into w.
func tapMajor(g *Geom, w, wr []float32, add bool) {
	kv := g.kh * g.kw
	g.parFor(g.cout, max(1, copyGrain/g.kdim()), func(lo, hi int) {
		for co := lo; co < hi; co++ {
			for ci := 0; ci < g.cin; ci++ {
				for kt := 0; kt < g.kt; kt++ {
					s := w[((co*g.cin+ci)*g.kt+kt)*kv:][:kv]
					d := wr[((co*g.kt+kt)*g.cin+ci)*kv:][:kv]
					if add {
						for i, v := range d {
							s[i] += v
						}
					} else {
						copy(d, s)
					}
				}
			}
		}
	})
}

// itemParts returns into how many parts to split g's batch (splitItems), and
// the serial back end the parts use; 1 and bl when the convolution runs
// whole: when g is large or already a part, when the batch has a single
// item, or when bl cannot run serially.
func itemParts(bl blas.Impl, g *Geom) (int, blas.Impl) {
	if g.serial || g.cout*g.kdim()*g.outSize() > itemSplitMaxWork {
		return 1, bl
	}
	parts := min(runtime.GOMAXPROCS(0), g.n)
	if parts <= 1 {
		return 1, bl
	}
	sbl, ok := blas.Serial(bl)
	if !ok {
		return 1, bl
	}
	return parts, sbl
}

// splitItems cuts g's batch into parts runs of consecutive items [lo, hi)
// and calls f on each concurrently, with part numbered from 0 and sub the
// geometry of the run's items alone, marked serial. It returns when every
// call has.
func splitItems(g *Geom, parts int, f func(part int, sub *Geom, lo, hi int)) {
	per := (g.n + parts - 1) / parts
	var wg sync.WaitGroup
	for part := 0; part*per < g.n; part++ {
		lo, hi := part*per, min(g.n, (part+1)*per)
		sub := *g
		sub.n, sub.serial = hi-lo, true
		if hi == g.n { // the last part runs here
			f(part, &sub, lo, hi)
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(part, &sub, lo, hi)
		}()
	}
	wg.Wait()
}

// Forward computes y = conv(x, w) + b (b may be nil) into y, which
// must hold N*Cout*To*Ho*Wo values.
func Forward(bl blas.Impl, g *Geom, x, w, b, y []float32) {
	if tg, first, ok := g.trimmed(); ok {
		wbuf := getScratch(tg.cout * tg.kdim())
		trimWeight(g, &tg, first, w, *wbuf, false)
		Forward(bl, &tg, x, *wbuf, b, y)
		putScratch(wbuf)
		return
	}
	k, p := g.kdim(), g.outSize()
	inN, outN := g.cin*g.inSize(), g.cout*p
	parts, sbl := itemParts(bl, g)
	switch {
	case parts > 1:
		splitItems(g, parts, func(_ int, sub *Geom, lo, hi int) {
			Forward(sbl, sub, x[lo*inN:hi*inN], w, nil, y[lo*outN:hi*outN])
		})
	case g.pointwise():
		for n := 0; n < g.n; n++ {
			bl.Sgemm(false, false, g.cout, p, g.cin, 1, w, g.cin, x[n*inN:(n+1)*inN], p, 0, y[n*outN:(n+1)*outN], p)
		}
	case g.stridedPointwise():
		forwardStrided(bl, g, x, w, y)
	case g.implicitOK(bl):
		forwardImplicit(bl, g, x, w, y)
	case g.shiftable() && useShift:
		forwardShift(bl, g, x, w, y)
	default:
		rows, total := g.blockRows(), g.ot*g.oh
		buf, wbuf := getScratch(k*rows*g.ow), getScratch(len(w))
		col, wr := *buf, *wbuf
		tapMajor(g, w, wr, false)
		kk := k / g.kt // rows per temporal tap
		xp := newPaddedInput(g, false)
		for n := 0; n < g.n; n++ {
			yn := y[n*outN : (n+1)*outN]
			xp.load(x[n*inN : (n+1)*inN])
			for r0 := 0; r0 < total; r0 += rows {
				r1 := min(r0+rows, total)
				pb := (r1 - r0) * g.ow
				c := col[:k*pb]
				vol2col(xp, r0, r1, c)
				g.tapRuns(r0, r1, func(s0, s1, a, b int) {
					off, cols := (s0-r0)*g.ow, (s1-s0)*g.ow
					if a == b { // every tap reads padding
						for co := 0; co < g.cout; co++ {
							clear(yn[co*p+s0*g.ow:][:cols])
						}
						return
					}
					bl.Sgemm(false, false, g.cout, cols, (b-a)*kk, 1, wr[a*kk:], k, c[a*kk*pb+off:], pb, 0, yn[s0*g.ow:], p)
				})
			}
		}
		xp.release()
		putScratch(buf)
		putScratch(wbuf)
	}
	if b != nil {
		g.parFor(g.n*g.cout, max(1, copyGrain/p), func(lo, hi int) {
			for i := lo; i < hi; i++ {
				bv := b[i%g.cout]
				row := y[i*p : (i+1)*p]
				for j := range row {
					row[j] += bv
				}
			}
		})
	}
}

// BackwardData computes dx, the gradient of the input, from w and dy
// into dx, which must hold N*Cin*T*H*W values (overwritten).
func BackwardData(bl blas.Impl, g *Geom, w, dy, dx []float32) {
	if tg, first, ok := g.trimmed(); ok {
		wbuf := getScratch(tg.cout * tg.kdim())
		trimWeight(g, &tg, first, w, *wbuf, false)
		BackwardData(bl, &tg, *wbuf, dy, dx)
		putScratch(wbuf)
		return
	}
	k, p := g.kdim(), g.outSize()
	inN, outN := g.cin*g.inSize(), g.cout*p
	if g.pointwise() {
		for n := 0; n < g.n; n++ {
			bl.Sgemm(true, false, g.cin, p, g.cout, 1, w, g.cin, dy[n*outN:(n+1)*outN], p, 0, dx[n*inN:(n+1)*inN], p)
		}
		return
	}
	if tg, ok := g.transposed(g.implicitOK(bl)); ok {
		// dx is the convolution of dy with the flipped, transposed kernel:
		// vol2col copies instead of col2vol's scattered additions.
		wbuf := getScratch(len(w))
		wt := *wbuf
		flipTranspose(g, w, wt)
		Forward(bl, &tg, dy, wt, nil, dx)
		putScratch(wbuf)
		return
	}
	if parts, sbl := itemParts(bl, g); parts > 1 {
		splitItems(g, parts, func(_ int, sub *Geom, lo, hi int) {
			BackwardData(sbl, sub, w, dy[lo*outN:hi*outN], dx[lo*inN:hi*inN])
		})
		return
	}
	if g.stridedPointwise() {
		backwardDataStrided(bl, g, w, dy, dx)
		return
	}
	rows, total := g.blockRows(), g.ot*g.oh
	buf, wbuf := getScratch(k*rows*g.ow), getScratch(len(w))
	col, wr := *buf, *wbuf
	tapMajor(g, w, wr, false)
	kk := k / g.kt
	// The gradient accumulates in a padded buffer, laid out as vol2col's
	// input, so that col2vol adds along contiguous runs without bounds checks.
	dxp := newPaddedInput(g, true)
	for n := 0; n < g.n; n++ {
		dyn := dy[n*outN : (n+1)*outN]
		clear(*dxp.buf)
		for r0 := 0; r0 < total; r0 += rows {
			r1 := min(r0+rows, total)
			pb := (r1 - r0) * g.ow
			c := col[:k*pb]
			// Only the rows of taps that read input; col2vol skips the rest.
			g.tapRuns(r0, r1, func(s0, s1, a, b int) {
				if a < b {
					off := (s0 - r0) * g.ow
					bl.Sgemm(true, false, (b-a)*kk, (s1-s0)*g.ow, g.cout, 1, wr[a*kk:], k, dyn[s0*g.ow:], p, 0, c[a*kk*pb+off:], pb)
				}
			})
			col2vol(dxp, c, r0, r1)
		}
		dxp.store(dx[n*inN : (n+1)*inN])
	}
	dxp.release()
	putScratch(buf)
	putScratch(wbuf)
}

// transposed returns the geometry of the convolution that maps dy to dx when
// g has stride 1 in every dimension and padding below the kernel size: dy
// padded by k-1-p, convolved with the flipped kernel, with Cin and Cout
// swapped. With implicit true (the convolution will run on the implicit
// path) it applies whatever the ratio of positions to channels: without
// vol2col's copies it was faster than col2vol at R3D-18's layer3 and
// layer4 too (85-90 against 67-72 and 63-68 against 42-50 GFLOP per CPU
// second, BenchmarkConv3dGrad, 2026-12-07).
func (g *Geom) transposed(implicit bool) (Geom, bool) {
	if g.st != 1 || g.sh != 1 || g.sw != 1 || g.pt >= g.kt || g.ph >= g.kh || g.pw >= g.kw {
		return Geom{}, false
	}
	if !implicit && g.n*g.outSize() < transposedMinRatio*g.cout {
		return Geom{}, false
	}
	return Geom{
		n: g.n, cin: g.cout, t: g.ot, h: g.oh, w: g.ow,
		cout: g.cin, kt: g.kt, kh: g.kh, kw: g.kw,
		st: 1, sh: 1, sw: 1,
		pt: g.kt - 1 - g.pt, ph: g.kh - 1 - g.ph, pw: g.kw - 1 - g.pw,
		ot: g.t, oh: g.h, ow: g.w,
		serial: g.serial,
	}, true
}

// flipTranspose writes into wt (Cin, Cout, kT, kH, kW) the weight w (Cout,
// Cin, kT, kH, kW) with its kernel flipped in every dimension.
func flipTranspose(g *Geom, w, wt []float32) {
	kv := g.kt * g.kh * g.kw
	g.parFor(g.cin, max(1, copyGrain/(g.cout*kv)), func(lo, hi int) {
		for ci := lo; ci < hi; ci++ {
			for co := 0; co < g.cout; co++ {
				src := w[(co*g.cin+ci)*kv : (co*g.cin+ci+1)*kv]
				dst := wt[(ci*g.cout+co)*kv : (ci*g.cout+co+1)*kv]
				for i, v := range src {
					dst[kv-1-i] = v
				}
			}
		}
	})
}

// BackwardFilter computes dw, the gradient of the weight, from x and
// dy into dw, which must be zeroed and hold Cout*K values.
func BackwardFilter(bl blas.Impl, g *Geom, x, dy, dw []float32) {
	if tg, first, ok := g.trimmed(); ok {
		// The dropped taps read only padding: their gradient is zero.
		wbuf := getScratch(tg.cout * tg.kdim())
		clear(*wbuf)
		BackwardFilter(bl, &tg, x, dy, *wbuf)
		trimWeight(g, &tg, first, dw, *wbuf, true)
		putScratch(wbuf)
		return
	}
	k, p := g.kdim(), g.outSize()
	inN, outN := g.cin*g.inSize(), g.cout*p
	if g.pointwise() {
		for n := 0; n < g.n; n++ {
			bl.Sgemm(false, true, g.cout, g.cin, p, 1, dy[n*outN:(n+1)*outN], p, x[n*inN:(n+1)*inN], p, 1, dw, g.cin)
		}
		return
	}
	if parts, sbl := itemParts(bl, g); parts > 1 {
		// Each part sums its items' gradient in a buffer of its own (the
		// first in dw), added up at the end.
		bufs := make([]*[]float32, parts)
		splitItems(g, parts, func(part int, sub *Geom, lo, hi int) {
			d := dw
			if part > 0 {
				bufs[part] = getScratch(len(dw))
				d = *bufs[part]
				clear(d)
			}
			BackwardFilter(sbl, sub, x[lo*inN:hi*inN], dy[lo*outN:hi*outN], d)
		})
		for _, b := range bufs[1:] {
			if b != nil {
				for i, v := range *b {
					dw[i] += v
				}
				putScratch(b)
			}
		}
		return
	}
	if g.stridedPointwise() {
		backwardFilterStrided(bl, g, x, dy, dw)
		return
	}
	if g.implicitFilterOK(bl) {
		backwardFilterImplicit(bl, g, x, dy, dw)
		return
	}
	if g.shiftable() && useShift {
		backwardFilterShift(bl, g, x, dy, dw)
		return
	}
	rows, total := g.blockRows(), g.ot*g.oh
	buf, wbuf := getScratch(k*rows*g.ow), getScratch(len(dw))
	col, dwr := *buf, *wbuf
	clear(dwr)
	kk := k / g.kt
	xp := newPaddedInput(g, false)
	for n := 0; n < g.n; n++ {
		dyn := dy[n*outN : (n+1)*outN]
		xp.load(x[n*inN : (n+1)*inN])
		for r0 := 0; r0 < total; r0 += rows {
			r1 := min(r0+rows, total)
			pb := (r1 - r0) * g.ow
			c := col[:k*pb]
			vol2col(xp, r0, r1, c)
			g.tapRuns(r0, r1, func(s0, s1, a, b int) {
				if a < b {
					off := (s0 - r0) * g.ow
					bl.Sgemm(false, true, g.cout, (b-a)*kk, (s1-s0)*g.ow, 1, dyn[s0*g.ow:], p, c[a*kk*pb+off:], pb, 1, dwr[a*kk:], k)
				}
			})
		}
	}
	tapMajor(g, dw, dwr, true)
	xp.release()
	putScratch(buf)
	putScratch(wbuf)
}

// SumChannels sets out[c] to the sum over items and positions of x, laid out
// (n, channels, size), accumulating in float64.
func SumChannels(x []float32, n, channels, size int, out []float32) {
	parallel.For(channels, max(1, copyGrain/max(1, n*size)), func(lo, hi int) {
		for c := lo; c < hi; c++ {
			var s float64
			for i := 0; i < n; i++ {
				var si float32
				row := x[(i*channels+c)*size : (i*channels+c+1)*size]
				for j, v := range row {
					si += v
					if j&1023 == 1023 {
						s += float64(si)
						si = 0
					}
				}
				s += float64(si)
			}
			out[c] = float32(s)
		}
	})
}
