package video

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// inTriangle reports whether (x, y) is inside or on the triangle a, b, c
// (any orientation), exactly, in integers.
func inTriangle(x, y int, a, b, c pixelPos) bool {
	p := pixelPos{x, y}
	d1, d2, d3 := turn(a, b, p), turn(b, c, p), turn(c, a, p)
	neg := d1 < 0 || d2 < 0 || d3 < 0
	pos := d1 > 0 || d2 > 0 || d3 > 0
	return !(neg && pos)
}

// echoLike returns a T x 60 x 80 RGB video: a triangular "sector" of speckle
// with a dark blood pool inside, burned-in text at the top left and an ECG
// trace along the bottom, neither touching the sector.
func echoLike(t *testing.T) (v *Video, sector func(x, y int) bool) {
	t.Helper()
	const T, H, W = 5, 60, 80
	a, b, c := pixelPos{40, 4}, pixelPos{12, 48}, pixelPos{68, 48}
	sector = func(x, y int) bool { return inTriangle(x, y, a, b, c) }
	v, err := New(T, H, W, 3)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for f := 0; f < T; f++ {
		fr := v.Frame(f)
		set := func(x, y int, r, g, b uint8) {
			p := (y*W + x) * 3
			fr[p], fr[p+1], fr[p+2] = r, g, b
		}
		for y := 0; y < H; y++ {
			for x := 0; x < W; x++ {
				switch {
				case sector(x, y):
					dx, dy := x-40, y-32
					if dx*dx+dy*dy < 36 { // blood pool: black
						continue
					}
					g := uint8(20 + rng.IntN(200))
					if f > 0 && rng.IntN(3) == 0 { // dark in some frames only
						g = 0
					}
					set(x, y, g, g, g)
				case x >= 2 && x < 9 && y >= 2 && y < 7: // text
					set(x, y, 255, 255, 255)
				case y == 56 && x >= 2 && x < 78: // ECG, green
					set(x, y, 0, 200, 0)
				case x == 75 && y > 10 && y < 20: // a dim caliper mark
					set(x, y, 9, 9, 9)
				}
			}
		}
	}
	// Make sure the three corners of the triangle are bright in some frame,
	// so the hull is the whole triangle.
	for _, p := range []pixelPos{a, b, c} {
		v.Frame(0)[(p.Y*W+p.X)*3] = 100
	}
	return v, sector
}

func TestMaskSector(t *testing.T) {
	v, sector := echoLike(t)
	orig := append([]uint8(nil), v.Frames...)
	m, err := MaskSector(v)
	if err != nil {
		t.Fatal(err)
	}
	if string(v.Frames) != string(orig) {
		t.Fatal("MaskSector changed its input")
	}
	if m.T != v.T || m.H != v.H || m.W != v.W || m.C != v.C || m.Source != v.Source {
		t.Fatalf("size %dx%dx%dx%d, want %dx%dx%dx%d", m.T, m.H, m.W, m.C, v.T, v.H, v.W, v.C)
	}
	mask, err := SectorMask(v, SectorThreshold)
	if err != nil {
		t.Fatal(err)
	}
	for y := 0; y < v.H; y++ {
		for x := 0; x < v.W; x++ {
			if got, want := mask[y*v.W+x], sector(x, y); got != want {
				t.Errorf("mask at (x=%d, y=%d) = %v, want %v", x, y, got, want)
			}
			for f := 0; f < v.T; f++ {
				for ch := 0; ch < 3; ch++ {
					i := ((f*v.H+y)*v.W+x)*3 + ch
					want := v.Frames[i]
					if !sector(x, y) {
						want = 0
					}
					if m.Frames[i] != want {
						t.Fatalf("frame %d (x=%d, y=%d, c=%d) = %d, want %d", f, x, y, ch, m.Frames[i], want)
					}
				}
			}
		}
	}
}

func TestSectorMaskThreshold(t *testing.T) {
	v, _ := New(2, 4, 6, 1)
	// Region A: three pixels at exactly the threshold (not bright);
	// region B: two pixels one above it, in different frames.
	v.Frames[0*24+0*6+0], v.Frames[0*24+0*6+1], v.Frames[0*24+0*6+2] = 10, 10, 10
	v.Frames[0*24+3*6+5], v.Frames[1*24+2*6+4] = 11, 11 // diagonal neighbours
	mask, err := SectorMask(v, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for p, in := range mask {
		if in {
			got = append(got, p)
		}
	}
	if len(got) != 2 || got[0] != 2*6+4 || got[1] != 3*6+5 {
		t.Errorf("mask pixels %v, want [16 23] (the 8-connected diagonal pair)", got)
	}

	blank, _ := New(3, 5, 5, 3)
	blank.Source = "blank.avi"
	for i := range blank.Frames {
		blank.Frames[i] = SectorThreshold
	}
	if _, err := MaskSector(blank); err == nil || !strings.Contains(err.Error(), "blank.avi") {
		t.Errorf("MaskSector of a dark video: error %v, want one naming blank.avi", err)
	}
	if _, err := MaskSector(&Video{T: 1, H: 2, W: 2, C: 1, Frames: make([]uint8, 3)}); err == nil {
		t.Error("MaskSector of a video with too few bytes: no error")
	}
}

func TestLargestRegionConnectivity(t *testing.T) {
	// Two regions: a 4-pixel diagonal line (8-connected) and a 3-pixel
	// horizontal bar. The diagonal must win.
	img := []uint8{
		9, 0, 0, 0, 0, 0,
		0, 9, 0, 0, 0, 0,
		0, 0, 9, 0, 9, 9,
		0, 0, 0, 9, 0, 0,
		0, 0, 0, 0, 0, 0,
		9, 9, 9, 0, 0, 0,
	}
	r := largestRegion(img, 6, 6, 0)
	if len(r) != 6 {
		t.Fatalf("largest region has %d pixels, want 6 (diagonal joined to the bar at (4,2)): %v", len(r), r)
	}
	img[2*6+4] = 0
	if r := largestRegion(img, 6, 6, 0); len(r) != 4 {
		t.Errorf("largest region has %d pixels, want 4: %v", len(r), r)
	}
}

func TestConvexHull(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := 0; trial < 300; trial++ {
		n := 1 + rng.IntN(40)
		span := 1 + rng.IntN(20)
		pts := make([]pixelPos, n)
		for i := range pts {
			pts[i] = pixelPos{rng.IntN(span), rng.IntN(span)}
			if trial%5 == 0 { // collinear sets
				pts[i].Y = 2*pts[i].X + 1
			}
		}
		orig := append([]pixelPos(nil), pts...)
		hull := convexHull(pts)
		set := map[pixelPos]bool{}
		for _, p := range orig {
			set[p] = true
		}
		for i, h := range hull {
			if !set[h] {
				t.Fatalf("trial %d: hull vertex %v is not an input point", trial, h)
			}
			if len(hull) >= 3 {
				if c := turn(h, hull[(i+1)%len(hull)], hull[(i+2)%len(hull)]); c <= 0 {
					t.Fatalf("trial %d: hull %v not strictly convex counter-clockwise at %d", trial, hull, i)
				}
			}
		}
		if len(set) >= 1 && len(hull) == 0 {
			t.Fatalf("trial %d: empty hull", trial)
		}
		// fillHull contains every input point, and is exactly the set of
		// pixels inside the hull by a brute-force test.
		w, h := span+1, 2*span+2
		mask := fillHull(hull, h, w)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				want := insideBrute(hull, pixelPos{x, y})
				if mask[y*w+x] != want {
					t.Fatalf("trial %d: hull %v: mask at (%d,%d) = %v, want %v", trial, hull, x, y, mask[y*w+x], want)
				}
			}
		}
		for _, p := range orig {
			if !mask[p.Y*w+p.X] {
				t.Fatalf("trial %d: input point %v outside filled hull %v", trial, p, hull)
			}
		}
	}
}

// insideBrute reports whether p is inside or on the convex polygon hull
// (counter-clockwise), a segment or a point.
func insideBrute(hull []pixelPos, p pixelPos) bool {
	switch len(hull) {
	case 0:
		return false
	case 1:
		return hull[0] == p
	case 2:
		a, b := hull[0], hull[1]
		return turn(a, b, p) == 0 && min(a.X, b.X) <= p.X && p.X <= max(a.X, b.X) && min(a.Y, b.Y) <= p.Y && p.Y <= max(a.Y, b.Y)
	}
	for i := range hull {
		if turn(hull[i], hull[(i+1)%len(hull)], p) < 0 {
			return false
		}
	}
	return true
}

func TestResizeHandValues(t *testing.T) {
	row := func(vals ...uint8) *Video {
		v, _ := New(1, 1, len(vals), 1)
		copy(v.Frames, vals)
		return v
	}
	for _, tc := range []struct {
		in   []uint8
		w    int
		want []uint8
	}{
		{[]uint8{30, 60, 90}, 2, []uint8{40, 80}},              // (30+0.5*60)/1.5, (0.5*60+90)/1.5
		{[]uint8{10, 20, 30, 41}, 2, []uint8{15, 36}},          // 35.5 rounds up
		{[]uint8{0, 100}, 4, []uint8{0, 25, 75, 100}},          // bilinear, half-pixel centres
		{[]uint8{0, 90, 180}, 5, []uint8{0, 36, 90, 144, 180}}, // s = -0.2 (clamped), 0.4, 1.0, 1.6, 2.2 (clamped)
		{[]uint8{7, 8, 9}, 3, []uint8{7, 8, 9}},
		{[]uint8{0, 255, 0, 255, 0, 255, 0}, 1, []uint8{109}}, // 765/7 = 109.3
	} {
		v, err := Resize(row(tc.in...), 1, tc.w)
		if err != nil {
			t.Fatal(err)
		}
		if string(v.Frames) != string(tc.want) {
			t.Errorf("Resize(%v) to width %d = %v, want %v", tc.in, tc.w, v.Frames, tc.want)
		}
	}
	// The same along the other axis (a column).
	col, _ := New(1, 3, 1, 1)
	copy(col.Frames, []uint8{30, 60, 90})
	v, _ := Resize(col, 2, 1)
	if v.Frames[0] != 40 || v.Frames[1] != 80 {
		t.Errorf("column resize = %v, want [40 80]", v.Frames)
	}
}

// areaReference shrinks one axis by exact area averaging the slow way: every
// input pixel is split into out sub-pixels and every output pixel averages in
// consecutive sub-pixels.
func areaReference(in []float64, out int) []float64 {
	sub := make([]float64, 0, len(in)*out)
	for _, x := range in {
		for k := 0; k < out; k++ {
			sub = append(sub, x)
		}
	}
	res := make([]float64, out)
	for i := range res {
		s := 0.0
		for _, x := range sub[i*len(in) : (i+1)*len(in)] {
			s += x
		}
		res[i] = s / float64(len(in))
	}
	return res
}

func TestResizeAreaMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for trial := 0; trial < 50; trial++ {
		h, w := 5+rng.IntN(30), 5+rng.IntN(30)
		oh, ow := 1+rng.IntN(h), 1+rng.IntN(w)
		v, _ := New(2, h, w, 3)
		for i := range v.Frames {
			v.Frames[i] = uint8(rng.IntN(256))
		}
		r, err := Resize(v, oh, ow)
		if err != nil {
			t.Fatal(err)
		}
		for f := 0; f < 2; f++ {
			for ch := 0; ch < 3; ch++ {
				// Columns first, then rows: separable, so the order is free.
				tmp := make([][]float64, h)
				for y := 0; y < h; y++ {
					line := make([]float64, w)
					for x := range line {
						line[x] = float64(v.Frames[((f*h+y)*w+x)*3+ch])
					}
					tmp[y] = areaReference(line, ow)
				}
				for x := 0; x < ow; x++ {
					line := make([]float64, h)
					for y := range line {
						line[y] = tmp[y][x]
					}
					want := areaReference(line, oh)
					for y := 0; y < oh; y++ {
						got := float64(r.Frames[((f*oh+y)*ow+x)*3+ch])
						if d := got - want[y]; d > 0.5001 || d < -0.5001 {
							t.Fatalf("%dx%d -> %dx%d: (f=%d, y=%d, x=%d, c=%d) = %v, want %.3f", h, w, oh, ow, f, y, x, ch, got, want[y])
						}
					}
				}
			}
		}
	}
}

func TestResizeShapesAndConstant(t *testing.T) {
	v, _ := New(3, 17, 23, 1)
	for i := range v.Frames {
		v.Frames[i] = 77
	}
	v.FPS, v.Source = 30, "a.avi"
	for _, s := range [][2]int{{112, 112}, {5, 40}, {40, 5}, {17, 23}, {1, 1}} {
		r, err := Resize(v, s[0], s[1])
		if err != nil {
			t.Fatal(err)
		}
		if r.T != 3 || r.H != s[0] || r.W != s[1] || r.C != 1 || r.FPS != 30 || r.Source != "a.avi" {
			t.Fatalf("Resize to %v: got %dx%dx%dx%d fps %v source %q", s, r.T, r.H, r.W, r.C, r.FPS, r.Source)
		}
		if err := r.Validate(); err != nil {
			t.Fatal(err)
		}
		for i, x := range r.Frames {
			if x != 77 {
				t.Fatalf("Resize to %v of a constant video: value %d at %d", s, x, i)
			}
		}
	}
	if _, err := Resize(v, 0, 4); err == nil || !strings.Contains(err.Error(), "a.avi") {
		t.Errorf("Resize to 0x4: error %v, want one naming a.avi", err)
	}
}

func TestGreyRGB(t *testing.T) {
	v, _ := New(1, 1, 3, 3)
	copy(v.Frames, []uint8{255, 0, 0, 0, 255, 0, 10, 20, 30})
	g, err := ToGrey(v)
	if err != nil {
		t.Fatal(err)
	}
	// 0.299*255 = 76.2, 0.587*255 = 149.7, 0.299*10+0.587*20+0.114*30 = 18.15
	if g.C != 1 || string(g.Frames) != string([]uint8{76, 150, 18}) {
		t.Errorf("ToGrey = C %d %v, want C 1 [76 150 18]", g.C, g.Frames)
	}
	rgb, err := ToRGB(g)
	if err != nil {
		t.Fatal(err)
	}
	if rgb.C != 3 || string(rgb.Frames) != string([]uint8{76, 76, 76, 150, 150, 150, 18, 18, 18}) {
		t.Errorf("ToRGB = C %d %v", rgb.C, rgb.Frames)
	}
	same, _ := ToRGB(v)
	same.Frames[0] = 1
	if v.Frames[0] != 255 {
		t.Error("ToRGB of an RGB video shares its frames")
	}
	g2, _ := ToGrey(g)
	if string(g2.Frames) != string(g.Frames) {
		t.Error("ToGrey of a grey video changed it")
	}
}

// benchVideo is a 32-frame 480 x 640 RGB echo-sized video.
func benchVideo() *Video {
	rng := rand.New(rand.NewPCG(1, 1))
	return randomVideo(rng, 32, 480, 640, 3)
}

func BenchmarkMaskSector(b *testing.B) {
	v := benchVideo()
	b.SetBytes(int64(len(v.Frames)))
	for b.Loop() {
		if _, err := MaskSector(v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkResize(b *testing.B) {
	v := benchVideo()
	b.SetBytes(int64(len(v.Frames)))
	for b.Loop() {
		if _, err := Resize(v, 112, 112); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMaxBytes checks the eight-bytes-at-a-time maximum against the
// byte-wise one, for every pair of byte values and random lengths.
func TestMaxBytes(t *testing.T) {
	var a, b []uint8
	for x := range 256 {
		for y := range 256 {
			a, b = append(a, uint8(x)), append(b, uint8(y))
		}
	}
	got := slices.Clone(a)
	maxBytes(got, b)
	for i := range a {
		if want := max(a[i], b[i]); got[i] != want {
			t.Fatalf("max(%d, %d) = %d, want %d", a[i], b[i], got[i], want)
		}
	}
	rng := rand.New(rand.NewPCG(15, 8))
	for range 1000 {
		n := rng.IntN(40)
		a, b := make([]uint8, n), make([]uint8, n+rng.IntN(3))
		for i := range a {
			a[i] = uint8(rng.Uint32())
		}
		for i := range b {
			b[i] = uint8(rng.Uint32())
		}
		got := slices.Clone(a)
		maxBytes(got, b)
		for i := range a {
			if want := max(a[i], b[i]); got[i] != want {
				t.Fatalf("n=%d byte %d: %d, want %d", n, i, got[i], want)
			}
		}
	}
}
