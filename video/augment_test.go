package video

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

// TestAugmentTorchvision compares Apply with torchvision's pad, crop, hflip
// and rotate (nearest, zero fill) on testdata/pipeline/augment_golden.txt,
// written by gen_augment.py.
func TestAugmentTorchvision(t *testing.T) {
	f, err := os.Open("testdata/pipeline/augment_golden.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	var h, w int
	if !sc.Scan() {
		t.Fatal("augment_golden.txt: empty")
	}
	if _, err := fmt.Sscanf(sc.Text(), "size %d %d", &h, &w); err != nil {
		t.Fatalf("augment_golden.txt: %q: %v", sc.Text(), err)
	}
	in, _ := New(1, h, w, 1)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			in.Frames[y*w+x] = uint8((37*x+101*y+7*x*y)%251 + 1)
		}
	}
	cases := 0
	for sc.Scan() {
		var p AugmentParams
		var flip int
		if _, err := fmt.Sscanf(sc.Text(), "case %d %d %d %d", &p.ShiftY, &p.ShiftX, &flip, &p.Angle); err != nil {
			t.Fatalf("augment_golden.txt: %q: %v", sc.Text(), err)
		}
		p.Flip = flip == 1
		if !sc.Scan() {
			t.Fatal("augment_golden.txt: truncated")
		}
		want, err := hex.DecodeString(sc.Text())
		if err != nil || len(want) != h*w {
			t.Fatalf("augment_golden.txt: case %+v: %d bytes, %v", p, len(want), err)
		}
		got, err := p.Apply(in)
		if err != nil {
			t.Fatal(err)
		}
		bad := 0
		for i := range want {
			if got.Frames[i] != want[i] {
				bad++
			}
		}
		// torchvision samples in float32 through a normalised grid, so a
		// source coordinate within rounding of .5 may round the other way.
		if bad > 0 && (p.Angle == 0 || bad > h*w/100) {
			t.Errorf("%+v: %d of %d pixels differ from torchvision", p, bad, h*w)
		} else if bad > 0 {
			t.Logf("%+v: %d of %d pixels differ from torchvision (float32 rounding at .5)", p, bad, h*w)
		}
		cases++
	}
	if cases < 21 {
		t.Fatalf("augment_golden.txt: %d cases", cases)
	}
}

// randomVideo returns a T x H x W x C video of random bytes.
func randomVideo(rng *rand.Rand, t, h, w, c int) *Video {
	v, _ := New(t, h, w, c)
	for i := range v.Frames {
		v.Frames[i] = uint8(rng.IntN(256))
	}
	return v
}

func TestAugmentTemporallyConsistent(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for trial := 0; trial < 50; trial++ {
		v := randomVideo(rng, 4, 20+rng.IntN(20), 20+rng.IntN(20), 1+2*rng.IntN(2))
		p := DrawAugment(rng, v.H, v.W)
		out, err := p.Apply(v)
		if err != nil {
			t.Fatal(err)
		}
		// Each frame on its own gives the same result as within the clip.
		for f := 0; f < v.T; f++ {
			one, _ := Gather(v, []int{f})
			o, err := p.Apply(one)
			if err != nil {
				t.Fatal(err)
			}
			if string(o.Frames) != string(out.Frame(f)) {
				t.Fatalf("%+v: frame %d differs when augmented alone", p, f)
			}
		}
		// Identical frames stay identical.
		same, _ := Gather(v, []int{0, 0, 0})
		o, _ := p.Apply(same)
		if string(o.Frame(0)) != string(o.Frame(1)) || string(o.Frame(0)) != string(o.Frame(2)) {
			t.Fatalf("%+v: identical frames differ after augmentation", p)
		}
		// Nearest neighbour: every output pixel is an input pixel or zero.
		in := map[string]bool{}
		fs := v.FrameSize() / v.H / v.W
		for i := 0; i < len(v.Frames); i += fs {
			in[string(v.Frames[i:i+fs])] = true
		}
		zero := string(make([]byte, fs))
		for i := 0; i < len(out.Frames); i += fs {
			if px := string(out.Frames[i : i+fs]); px != zero && !in[px] {
				t.Fatalf("%+v: output pixel %v is not an input pixel", p, []byte(px))
			}
		}
	}
}

func TestAugmentShiftFlip(t *testing.T) {
	v, _ := New(1, 3, 4, 1)
	copy(v.Frames, []uint8{
		1, 2, 3, 4,
		5, 6, 7, 8,
		9, 10, 11, 12,
	})
	for _, tc := range []struct {
		p    AugmentParams
		want []uint8
	}{
		{AugmentParams{}, []uint8{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}},
		{AugmentParams{ShiftY: 1}, []uint8{5, 6, 7, 8, 9, 10, 11, 12, 0, 0, 0, 0}},
		{AugmentParams{ShiftX: -1}, []uint8{0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11}},
		{AugmentParams{Flip: true}, []uint8{4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9}},
		// Crop first, then flip: shift the content left, then mirror it.
		{AugmentParams{ShiftX: 1, Flip: true}, []uint8{0, 4, 3, 2, 0, 8, 7, 6, 0, 12, 11, 10}},
		{AugmentParams{ShiftY: 8, ShiftX: -8}, make([]uint8, 12)},
	} {
		got, err := tc.p.Apply(v)
		if err != nil {
			t.Fatal(err)
		}
		if string(got.Frames) != string(tc.want) {
			t.Errorf("%+v: got %v, want %v", tc.p, got.Frames, tc.want)
		}
	}
	v.Source = "clip.avi"
	for _, p := range []AugmentParams{{H: 4, W: 3}, {ShiftY: 9}, {ShiftX: -9}} {
		if _, err := p.Apply(v); err == nil || !strings.Contains(err.Error(), "clip.avi") {
			t.Errorf("%+v: error %v, want one naming clip.avi", p, err)
		}
	}
	if _, err := (AugmentParams{H: 3, W: 4}).Apply(v); err != nil {
		t.Errorf("params drawn for the right size: %v", err)
	}
}

func TestDrawAugment(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	const n = 42000
	shiftY, shiftX, angles := map[int]int{}, map[int]int{}, map[int]int{}
	flips, rotations := 0, 0
	for i := 0; i < n; i++ {
		p := DrawAugment(rng, 112, 96)
		if p.H != 112 || p.W != 96 {
			t.Fatalf("size %dx%d, want 112x96", p.H, p.W)
		}
		shiftY[p.ShiftY]++
		shiftX[p.ShiftX]++
		if p.Flip {
			flips++
		}
		if p.Angle != 0 {
			rotations++
			angles[p.Angle]++
		}
	}
	for s := -AugmentPad; s <= AugmentPad; s++ {
		// Each of 17 shifts: about n/17 = 2470.
		if shiftY[s] < 2200 || shiftY[s] > 2750 || shiftX[s] < 2200 || shiftX[s] > 2750 {
			t.Errorf("shift %d drawn %d (rows) and %d (columns) times of %d", s, shiftY[s], shiftX[s], n)
		}
	}
	if len(shiftY) != 17 || len(shiftX) != 17 {
		t.Errorf("%d row and %d column shifts, want 17 each", len(shiftY), len(shiftX))
	}
	if flips < n/2-700 || flips > n/2+700 {
		t.Errorf("%d flips of %d", flips, n)
	}
	// Rotation with p = 0.5, and angle 0 among the 21 angles: 20/42 of draws.
	if want := n * 20 / 42; rotations < want-700 || rotations > want+700 {
		t.Errorf("%d non-zero rotations of %d, want about %d", rotations, n, want)
	}
	for a := -AugmentMaxAngle; a <= AugmentMaxAngle; a++ {
		if a != 0 && (angles[a] < 800 || angles[a] > 1200) { // about 1000 each
			t.Errorf("angle %d drawn %d times", a, angles[a])
		}
	}
	if len(angles) != 20 {
		t.Errorf("angles drawn: %v", angles)
	}
	a := DrawAugment(rand.New(rand.NewPCG(1, 2)), 8, 8)
	b := DrawAugment(rand.New(rand.NewPCG(1, 2)), 8, 8)
	if a != b {
		t.Errorf("same seed: %+v and %+v", a, b)
	}
}

func ExampleAugmentParams_Apply() {
	rng := rand.New(rand.NewPCG(1, 2))
	clip, _ := New(16, 112, 112, 3) // a 16-frame clip
	view1 := DrawAugment(rng, clip.H, clip.W)
	view2 := DrawAugment(rng, clip.H, clip.W) // a second, independent view
	a, _ := view1.Apply(clip)
	b, _ := view2.Apply(clip)
	fmt.Println(a.T, a.H, a.W, b.T, b.H, b.W)
	// Output: 16 112 112 16 112 112
}

func BenchmarkAugmentApply(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	v := randomVideo(rng, 16, 112, 112, 3)
	p := AugmentParams{ShiftY: 3, ShiftX: -2, Flip: true, Angle: 7}
	b.SetBytes(int64(len(v.Frames)))
	for b.Loop() {
		if _, err := p.Apply(v); err != nil {
			b.Fatal(err)
		}
	}
}

// TestAugmentGreyAsRGB: a grey clip augments as its RGB copy does, each
// output pixel the grey value three times (the grey path copies bytes
// itself, the general one copies pixels of C bytes).
func TestAugmentGreyAsRGB(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for trial := 0; trial < 20; trial++ {
		grey := randomVideo(rng, 3, 20+rng.IntN(20), 20+rng.IntN(20), 1)
		rgb, err := ToRGB(grey)
		if err != nil {
			t.Fatal(err)
		}
		p := DrawAugment(rng, grey.H, grey.W)
		g, err := p.Apply(grey)
		if err != nil {
			t.Fatal(err)
		}
		c, err := p.Apply(rgb)
		if err != nil {
			t.Fatal(err)
		}
		if want, _ := ToRGB(g); string(want.Frames) != string(c.Frames) {
			t.Fatalf("%+v: the grey clip's augmentation differs from its RGB copy's", p)
		}
	}
}
