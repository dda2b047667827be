package echosynth

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/vidssl/vidssl/video"
)

// Sector is the ultrasound sector of a video in pixel coordinates: x to the
// right, y down, pixel centres at integers. It is the fan between the two
// radii at ±HalfAngle from straight down, out to Radius from the apex.
type Sector struct {
	// ApexX and ApexY place the apex (the probe).
	ApexX, ApexY float64
	// Radius is the sector's radius in pixels (the imaging depth).
	Radius float64
	// HalfAngle is the half-angle of the fan in radians.
	HalfAngle float64
}

// Contains reports whether the pixel centre (x, y) lies inside s.
func (s Sector) Contains(x, y float64) bool {
	dx, dy := x-s.ApexX, y-s.ApexY
	return math.Hypot(dx, dy) <= s.Radius && math.Abs(math.Atan2(dx, dy)) <= s.HalfAngle
}

// Mask returns the h x w row-major mask of the pixels that s contains.
func (s Sector) Mask(h, w int) []bool {
	m := make([]bool, h*w)
	for y := range h {
		for x := range w {
			m[y*w+x] = s.Contains(float64(x), float64(y))
		}
	}
	return m
}

// FrameInfo is the state of the heart in one frame.
type FrameInfo struct {
	// Phase is the cardiac phase in [0, 1): 0 at the QRS (end-diastole).
	Phase float64
	// Contraction is the LV contraction: 0 at end-diastole, 1 at
	// end-systole (slightly below 0 at the atrial kick).
	Contraction float64
	// AorticOpen is the aortic valve opening, 0 (closed, diastole) to 1
	// (open as wide as this patient's valve opens, mid-systole).
	AorticOpen float64
	// MitralOpen is the mitral valve opening, 0 (closed, systole) to 1
	// (early-diastolic peak).
	MitralOpen float64
	// ValveX and ValveY are the pixel position of the aortic annulus
	// centre: the middle of the aortic valve.
	ValveX, ValveY float64
}

// VideoInfo describes one generated video: its study, the acquisition
// parameters drawn for it and the heart's state in each frame.
type VideoInfo struct {
	// Study is the video's study. Its Split is empty: splits are a property
	// of the whole data set (see Studies).
	Study Study
	// Video is the video's index within its study.
	Video int
	// Name is the video's file name stem, "<study id>_<video>".
	Name string
	// GainDB, DynamicRangeDB, TGCDB, DepthCM, TiltDeg (the total: patient
	// plus video), ShiftXCM, ShiftYCM and NoiseLevel are the acquisition
	// parameters: the study's settings plus this video's jitter (see
	// Nuisance).
	GainDB, DynamicRangeDB, TGCDB, DepthCM, TiltDeg float64
	ShiftXCM, ShiftYCM, NoiseLevel                  float64
	// HeartRateBPM is the heart rate during this video.
	HeartRateBPM float64
	// StartPhase is the cardiac phase of frame 0.
	StartPhase float64
	// CMPerPixel is the pixel size in cm.
	CMPerPixel float64
	// Sector is the ultrasound sector; burned-in text, depth marks and the
	// ECG trace lie outside it, at least two pixels away.
	Sector Sector
	// Frames holds the heart's state in every frame.
	Frames []FrameInfo
}

// speckleDecorrelation is the time, in seconds, over which a tissue's
// speckle drifts from one independent pattern to the next (out-of-plane
// motion and deformation in a parasternal long-axis view, where most of the
// heart's motion is in the image plane).
const speckleDecorrelation = 0.4

// speckleStep is the number of frames over which the speckle pattern
// drifts from one independent pattern to the next at fps frames per second.
func speckleStep(fps float64) int {
	return max(1, int(math.Round(speckleDecorrelation*fps)))
}

// scene is the per-video geometry: the sector pixels and what is known
// about each before the heart is drawn.
type scene struct {
	h, w                       int
	apexX, apexY, radius, half float64
	cmPerPx                    float64
	pix                        []int32   // sector pixel indices
	wx, wy                     []float64 // world position, cm (x right, y depth)
	dbOff, edge                []float32 // depth/lateral gain, anti-aliased sector edge
	keep                       []bool    // pixels where overlays may be drawn
	nr, nt                     int       // polar speckle grid size
	rowPx                      float64   // speckle grid row height, pixels
	rhoRows, rhoCols           float64   // neighbour correlation of the speckle grid
}

func newScene(h, w int, depthCM, halfDeg, tgcDB float64) *scene {
	s := &scene{h: h, w: w}
	s.apexX = float64(w-1) / 2
	s.apexY = 0.03 * float64(h)
	s.radius = 0.83 * float64(h)
	s.half = min(halfDeg*math.Pi/180, math.Asin(min(1, (0.5*float64(w)-1.5)/s.radius)))
	s.cmPerPx = depthCM / s.radius
	// Speckle grid: rows of about one pixel of a 112-pixel frame, and
	// angular columns about two such pixels wide at the bottom of the
	// sector: speckle is wider than it is deep, and wider with depth.
	k := float64(h) / 112
	s.rowPx = max(1, k)
	s.nr = int(s.radius/s.rowPx) + 3
	s.nt = int(2*s.half*s.radius/(2.2*k)) + 3
	s.rhoRows = lagOneCorrelation(speckleBlurRows)
	s.rhoCols = lagOneCorrelation(speckleBlurCols)
	s.keep = make([]bool, h*w)
	for y := range h {
		for x := range w {
			dx, dy := float64(x)-s.apexX, float64(y)-s.apexY
			r := math.Hypot(dx, dy)
			th := math.Atan2(dx, dy)
			edgeDist := r * math.Sin(math.Abs(th)-s.half) // > 0 outside the fan
			if math.Abs(th)-s.half > math.Pi/2 {
				edgeDist = r
			}
			s.keep[y*w+x] = r > s.radius+2.5 || edgeDist > 2.5 || dy < -2.5
			e := clamp01(s.radius-r+0.5) * clamp01((s.half-math.Abs(th))*r+0.5)
			if e <= 0 {
				continue
			}
			s.pix = append(s.pix, int32(y*w+x))
			rc := r * s.cmPerPx
			s.wx = append(s.wx, dx*s.cmPerPx)
			s.wy = append(s.wy, dy*s.cmPerPx)
			lat := 1 - clamp01((s.half-math.Abs(th))/(0.15*s.half))
			s.dbOff = append(s.dbOff, float32(tgcDB*(rc/depthCM-0.5)-4*lat*lat))
			s.edge = append(s.edge, float32(e))
		}
	}
	return s
}

// The blur that correlates the speckle field: along the beam (rows of the
// polar grid) and across it (columns).
var (
	speckleBlurRows = [3]float32{1, 4, 1}
	speckleBlurCols = [3]float32{1, 2, 1}
)

// lagOneCorrelation is the correlation of neighbouring cells of white noise
// blurred by k.
func lagOneCorrelation(k [3]float32) float64 {
	var ss, lag float64
	for i, x := range k {
		ss += float64(x) * float64(x)
		if i > 0 {
			lag += float64(k[i-1]) * float64(x)
		}
	}
	return lag / ss
}

// specklePoint is where a point falls on the polar speckle grid: four cells
// and their bilinear weights, scaled so that the interpolated field keeps
// unit variance between cells (plain bilinear weights would lower it, and
// speckle contrast would then vary with a point's position in its cell).
type specklePoint struct {
	idx [4]int32
	w   [4]float64
}

// at returns the value of field at p.
func (p specklePoint) at(field []float32) float64 {
	return p.w[0]*float64(field[p.idx[0]]) + p.w[1]*float64(field[p.idx[1]]) +
		p.w[2]*float64(field[p.idx[2]]) + p.w[3]*float64(field[p.idx[3]])
}

// speckleAt returns the speckle grid point of world position (x, y), in cm
// from the sector's apex (x right, y down).
func (s *scene) speckleAt(x, y float64) specklePoint {
	x, y = x/s.cmPerPx, y/s.cmPerPx
	r := math.Hypot(x, y)
	th := math.Atan2(x, y)
	gr := r / s.rowPx
	gt := (th+s.half)/(2*s.half)*float64(s.nt-3) + 1
	ri, fr := gridCell(gr, s.nr)
	ti, ft := gridCell(gt, s.nt)
	norm := 1 / math.Sqrt(interpVariance(fr, s.rhoRows)*interpVariance(ft, s.rhoCols))
	base := int32(ri*s.nt + ti)
	nt := int32(s.nt)
	return specklePoint{
		idx: [4]int32{base, base + 1, base + nt, base + nt + 1},
		w: [4]float64{
			(1 - fr) * (1 - ft) * norm, (1 - fr) * ft * norm,
			fr * (1 - ft) * norm, fr * ft * norm,
		},
	}
}

// gridCell returns the cell of a grid of n nodes that holds coordinate g
// (clamped to the grid) and g's fraction of the way to the next node.
func gridCell(g float64, n int) (int, float64) {
	if !(g > 0) {
		return 0, 0
	}
	if g >= float64(n-1) {
		return n - 2, 1
	}
	i := int(g)
	return i, g - float64(i)
}

// interpVariance is the variance of (1-f) a + f b for unit-variance a and b
// with correlation rho.
func interpVariance(f, rho float64) float64 {
	return (1-f)*(1-f) + f*f + 2*f*(1-f)*rho
}

// speckleFields returns n independent correlated Gaussian fields on the
// polar grid, each with unit variance: white noise blurred over about one
// pixel in depth and a little more across the beam.
func (s *scene) speckleFields(rng *rand.Rand, n int) [][]float32 {
	kr := speckleBlurRows[:]
	kt := speckleBlurCols[:]
	var ss float64
	sum := func(k []float32) (a, b float64) {
		for _, x := range k {
			a += float64(x)
			b += float64(x) * float64(x)
		}
		return
	}
	ar, br := sum(kr)
	at, bt := sum(kt)
	ss = br / (ar * ar) * bt / (at * at)
	norm := float32(1 / math.Sqrt(ss) / (ar * at))
	size := s.nr * s.nt
	tmp := make([]float32, size)
	white := make([]float32, size)
	fields := make([][]float32, n)
	for f := range fields {
		for i := range white {
			white[i] = float32(rng.NormFloat64())
		}
		// Across the beam (columns).
		for r := 0; r < s.nr; r++ {
			row := white[r*s.nt : (r+1)*s.nt]
			out := tmp[r*s.nt : (r+1)*s.nt]
			for t := range row {
				var acc float32
				for k, kv := range kt {
					j := min(s.nt-1, max(0, t+k-1))
					acc += kv * row[j]
				}
				out[t] = acc
			}
		}
		// Along the beam (rows).
		dst := make([]float32, size)
		for r := 0; r < s.nr; r++ {
			for k, kv := range kr {
				j := min(s.nr-1, max(0, r+k-1))
				src := tmp[j*s.nt : (j+1)*s.nt]
				d := dst[r*s.nt : (r+1)*s.nt]
				for t := range d {
					d[t] += kv * src[t]
				}
			}
		}
		for i := range dst {
			dst[i] *= norm
		}
		fields[f] = dst
	}
	return fields
}

// Generate makes video videoIndex of study studyIndex of cfg. The result
// depends only on cfg and the two indices, so videos can be made in any
// order, in parallel, and again with the same bytes.
func Generate(cfg Config, studyIndex, videoIndex int) (*video.Video, *VideoInfo, error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	if studyIndex < 0 || studyIndex >= cfg.Studies {
		return nil, nil, fmt.Errorf("echosynth: study %d out of range 0..%d", studyIndex, cfg.Studies-1)
	}
	st := makeStudy(cfg, studyIndex)
	if videoIndex < 0 || videoIndex >= st.Videos {
		return nil, nil, fmt.Errorf("echosynth: study %s has %d videos, no video %d", st.ID, st.Videos, videoIndex)
	}
	a := &st.Anatomy

	// The study's settings, then this video's departures from them.
	srng := newRand(cfg.Seed, tagAcquisition, studyIndex, 0)
	rng := newRand(cfg.Seed, tagVideo, studyIndex, videoIndex)
	T := cfg.framesFor(rng)
	info := &VideoInfo{Study: st, Video: videoIndex, Name: fmt.Sprintf("%s_%d", st.ID, videoIndex)}
	n, j := cfg.Nuisance, cfg.VideoJitter
	draw := func(study, video Range) float64 { return study.draw(srng) + video.draw(rng) }
	info.GainDB = draw(n.GainDB, j.GainDB)
	info.DynamicRangeDB = draw(n.DynamicRangeDB, j.DynamicRangeDB)
	info.TGCDB = draw(n.TGCDB, j.TGCDB)
	info.DepthCM = draw(n.DepthCM, j.DepthCM)
	halfDeg := draw(n.SectorDeg, j.SectorDeg)
	info.TiltDeg = a.TiltDeg + draw(n.TiltDeg, j.TiltDeg)
	info.ShiftXCM = draw(n.ShiftCM, j.ShiftCM)
	info.ShiftYCM = draw(n.ShiftCM, j.ShiftCM)
	info.HeartRateBPM = a.HeartRateBPM + draw(n.HeartRateDeltaBPM, j.HeartRateDeltaBPM)
	info.NoiseLevel = max(0, draw(n.NoiseLevel, j.NoiseLevel))
	info.StartPhase = rng.Float64()
	clock := fmt.Sprintf("%02d:%02d:%02d", 7+rng.IntN(11), rng.IntN(60), rng.IntN(60))
	textVal := uint8(190 + rng.IntN(60))
	ecgVal := uint8(170 + rng.IntN(70))

	H, W := cfg.Height, cfg.Width
	s := newScene(H, W, info.DepthCM, halfDeg, info.TGCDB)
	info.CMPerPixel = s.cmPerPx
	info.Sector = Sector{ApexX: s.apexX, ApexY: s.apexY, Radius: s.radius, HalfAngle: s.half}

	v, err := video.New(T, H, W, 1)
	if err != nil {
		return nil, nil, err
	}
	v.FPS = cfg.FPS
	v.Source = "echosynth:" + info.Name

	step := speckleStep(cfg.FPS)
	nk := (T-1)/step + 2
	fields := s.speckleFields(newRand(cfg.Seed, tagSpeckle, studyIndex, videoIndex), 2*nk)

	cyc := newCycle(info.HeartRateBPM, a.SystoleStretch)
	tau := -info.TiltDeg * math.Pi / 180
	cosT, sinT := math.Cos(tau), math.Sin(tau)
	gain := info.GainDB
	dr := info.DynamicRangeDB
	scaleDisp := 255 / dr
	offDisp := dr - 5
	noise := info.NoiseLevel
	ov := &overlayInfo{
		patient: st.PatientID, date: st.Date, clock: clock,
		depthCM: info.DepthCM, fps: cfg.FPS, textVal: textVal, ecgVal: ecgVal,
		cyc: cyc, phase0: info.StartPhase,
	}
	// The heart at end-diastole, where its tissue (and so its speckle)
	// is at rest.
	ox0 := a.ValveX + info.ShiftXCM
	oy0 := a.ValveDepth + info.ShiftYCM
	g0 := newFrameGeom(a, 0, 0, 0, s.cmPerPx)
	// How far each pixel's speckle follows the heart rather than the
	// chest wall, which does not move with it.
	follow := make([]float64, len(s.pix))
	for i := range follow {
		follow[i] = smoothstep(a.ChestWall, a.ChestWall+0.9, s.wy[i])
	}
	info.Frames = make([]FrameInfo, T)
	for f := range T {
		t := float64(f) / cfg.FPS
		phase := info.StartPhase + t*info.HeartRateBPM/60
		phase -= math.Floor(phase)
		tc := phase * cyc.rr
		c, o, m := cyc.contraction(tc), cyc.aortic(tc), cyc.mitral(tc)
		// The whole heart swings forward a little in systole.
		ox := ox0 - 0.15*c
		oy := oy0 - 0.35*c
		info.Frames[f] = FrameInfo{
			Phase: phase, Contraction: c, AorticOpen: o, MitralOpen: m,
			ValveX: s.apexX + ox/s.cmPerPx, ValveY: s.apexY + oy/s.cmPerPx,
		}
		g := newFrameGeom(a, c, o, m, s.cmPerPx)

		k := f / step
		fr := float64(f%step) / float64(step) * math.Pi / 2
		wa, wb := math.Cos(fr), math.Sin(fr)
		f0r, f0i, f1r, f1i := fields[2*k], fields[2*k+1], fields[2*k+2], fields[2*k+3]

		frame := v.Frame(f)
		for i, p := range s.pix {
			dx, dy := s.wx[i]-ox, s.wy[i]-oy
			u := cosT*dx + sinT*dy
			vv := -sinT*dx + cosT*dy
			refl := g.reflect(u, vv, s.wy[i], a.ChestWall)
			// Speckle is made by scatterers fixed in the tissue, so it
			// moves with the tissue: look it up where this pixel's tissue
			// lies at end-diastole.
			U, V := g.tissueAt(u, vv, g0)
			rx := s.wx[i] + follow[i]*(ox0+cosT*U-sinT*V-s.wx[i])
			ry := s.wy[i] + follow[i]*(oy0+sinT*U+cosT*V-s.wy[i])
			sp := s.speckleAt(rx, ry)
			sr := wa*sp.at(f0r) + wb*sp.at(f1r)
			si := wa*sp.at(f0i) + wb*sp.at(f1i)
			ar := refl*sr + noise*srng.NormFloat64()
			ai := refl*si + noise*srng.NormFloat64()
			inten := 0.5*(ar*ar+ai*ai) + 1e-12
			db := 4.342944819032518*math.Log(inten) + gain + float64(s.dbOff[i])
			val := (db + offDisp) * scaleDisp * float64(s.edge[i])
			frame[p] = uint8(min(255, max(0, val+0.5)))
		}
		drawOverlay(&canvas{pix: frame, h: H, w: W, keep: s.keep}, s, ov, f)
	}
	return v, info, nil
}
