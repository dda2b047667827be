package echosynth

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/vidssl/vidssl/video"
)

// Severity is the grade of aortic stenosis of a synthetic patient.
type Severity int

// The four grades, in increasing order. Only Severe counts as a positive label.
const (
	None Severity = iota
	Mild
	Moderate
	Severe
)

var severityNames = [...]string{"none", "mild", "moderate", "severe"}

// String returns "none", "mild", "moderate" or "severe", the spelling used in
// the manifest's severity column.
func (s Severity) String() string {
	if s < None || s > Severe {
		return fmt.Sprintf("Severity(%d)", int(s))
	}
	return severityNames[s]
}

// ParseSeverity is the inverse of Severity.String.
func ParseSeverity(name string) (Severity, error) {
	for i, n := range severityNames {
		if n == name {
			return Severity(i), nil
		}
	}
	return 0, fmt.Errorf("echosynth: unknown severity %q (want none, mild, moderate or severe)", name)
}

// Label is 1 for Severe and 0 otherwise: the binary target of the example
// (severe aortic stenosis against the rest).
func (s Severity) Label() int {
	if s == Severe {
		return 1
	}
	return 0
}

// Range is a closed interval [Min, Max] from which a parameter is drawn
// uniformly. Min == Max fixes the parameter.
type Range struct {
	Min, Max float64
}

func (r Range) draw(rng *rand.Rand) float64 {
	if r.Max <= r.Min {
		return r.Min
	}
	return r.Min + (r.Max-r.Min)*rng.Float64()
}

func (r Range) check(name string) error {
	if math.IsNaN(r.Min) || math.IsNaN(r.Max) || math.IsInf(r.Min, 0) || math.IsInf(r.Max, 0) || r.Max < r.Min {
		return fmt.Errorf("echosynth: bad range %s [%g, %g]", name, r.Min, r.Max)
	}
	return nil
}

// Nuisance holds ranges of the acquisition parameters: how a heart was
// recorded rather than what it looks like. Config.Nuisance holds the ranges
// from which each study draws its settings (machine, preset, sonographer,
// the patient's acoustic window); Config.VideoJitter holds the ranges,
// around 0, by which each video of a study strays from them. Every
// parameter is drawn independently and uniformly from its range. A video's
// value is its study's draw plus its own jitter draw.
type Nuisance struct {
	// GainDB is the overall receive gain in dB added to every pixel before
	// log compression; ±6 dB moves tissue by about ±30 grey levels, more
	// than the brightness that severe stenosis adds to the whole frame.
	GainDB Range
	// DynamicRangeDB is the width of the log-compression window in dB:
	// larger values give a flatter, greyer picture.
	DynamicRangeDB Range
	// TGCDB is the residual time-gain compensation: the brightness change in
	// dB from the top of the sector to its bottom (negative darkens the far
	// field).
	TGCDB Range
	// DepthCM is the imaging depth in cm shown by the sector radius. Deeper
	// settings make the heart smaller (zoom).
	DepthCM Range
	// SectorDeg is the half-angle of the sector in degrees (clipped so that
	// the sector fits the frame).
	SectorDeg Range
	// TiltDeg is a rotation of the heart in the image plane, added to the
	// patient's own tilt (probe angulation).
	TiltDeg Range
	// ShiftCM moves the heart laterally and in depth, each axis drawn
	// independently from this range (probe position).
	ShiftCM Range
	// HeartRateDeltaBPM is added to the patient's resting heart rate.
	HeartRateDeltaBPM Range
	// NoiseLevel is the amplitude of the additive electronic noise relative
	// to the brightest reflector (the pericardium); it shows as grey speckle
	// in the blood pools.
	NoiseLevel Range
}

// Config describes a synthetic data set. Start from DefaultConfig and change
// what you need; Validate says what is wrong with a config.
type Config struct {
	// Seed makes the data set reproducible: the same Seed and Config give
	// the same studies and the same bytes in every video.
	Seed uint64
	// Studies is the number of studies (one per patient).
	Studies int
	// MinVideos and MaxVideos bound the number of videos per study, drawn
	// uniformly per study.
	MinVideos, MaxVideos int
	// Frames is the number of frames of each video. When MaxFrames is
	// larger, each video's count is drawn uniformly from Frames..MaxFrames.
	Frames, MaxFrames int
	// FPS is the frame rate, frames per second.
	FPS float64
	// Height and Width are the frame size in pixels. Frames are grey (C=1).
	Height, Width int
	// Mix holds the relative frequencies of None, Mild, Moderate and Severe
	// studies (normalised; need not sum to 1).
	Mix [4]float64
	// Split holds the train, validation and test fractions of studies
	// (normalised), used by Studies and WriteDataset.
	Split [3]float64
	// HeartRateBPM is the range of the patients' resting heart rates.
	HeartRateBPM Range
	// PatientTiltDeg is the range of the patients' own long-axis angle: the
	// LV long axis rises towards the aorta by this many degrees.
	PatientTiltDeg Range
	// Nuisance holds the ranges of the study-level acquisition settings:
	// each study draws one value of each parameter, shared by its videos.
	Nuisance Nuisance
	// VideoJitter holds the ranges (around 0) of each video's departure
	// from its study's settings: how much a sonographer changes between the
	// PLAX clips of one exam. See the package documentation for why the
	// defaults are small. All zero makes a study's videos differ only in
	// start phase, speckle and noise; setting Nuisance to the centres of
	// its ranges and VideoJitter to their half-widths gives every video
	// independent settings drawn from the whole range.
	VideoJitter Nuisance
}

// DefaultConfig returns the default data set: 200 studies of 2-5 videos,
// 32 frames of 112x112 grey at 30 frames per second, 22% severe stenosis
// (as in the paper's data), a 75/10/15 split, study-level acquisition
// settings drawn from wide ranges and small within-study jitter (see the
// package documentation, "Acquisition").
func DefaultConfig() Config {
	return Config{
		Seed:           1,
		Studies:        200,
		MinVideos:      2,
		MaxVideos:      5,
		Frames:         32,
		FPS:            30,
		Height:         112,
		Width:          112,
		Mix:            [4]float64{0.50, 0.16, 0.12, 0.22},
		Split:          video.PaperSplit,
		HeartRateBPM:   Range{55, 100},
		PatientTiltDeg: Range{2, 14},
		Nuisance: Nuisance{
			GainDB:            Range{-6, 6},
			DynamicRangeDB:    Range{46, 56},
			TGCDB:             Range{-7, 3},
			DepthCM:           Range{13.5, 17},
			SectorDeg:         Range{33, 38},
			TiltDeg:           Range{-7, 7},
			ShiftCM:           Range{-0.5, 0.5},
			HeartRateDeltaBPM: Range{-7, 7},
			NoiseLevel:        Range{0.004, 0.018},
		},
		VideoJitter: Nuisance{
			GainDB:            Range{-1.5, 1.5},
			DynamicRangeDB:    Range{0, 0},
			TGCDB:             Range{-1, 1},
			DepthCM:           Range{-0.5, 0.5},
			SectorDeg:         Range{-1, 1},
			TiltDeg:           Range{-3, 3},
			ShiftCM:           Range{-0.25, 0.25},
			HeartRateDeltaBPM: Range{-3, 3},
			NoiseLevel:        Range{-0.001, 0.001},
		},
	}
}

// Validate reports the first thing wrong with c, or nil.
func (c Config) Validate() error {
	switch {
	case c.Studies <= 0:
		return fmt.Errorf("echosynth: Studies = %d, want > 0", c.Studies)
	case c.MinVideos <= 0 || c.MaxVideos < c.MinVideos:
		return fmt.Errorf("echosynth: videos per study %d..%d, want 1 <= MinVideos <= MaxVideos", c.MinVideos, c.MaxVideos)
	case c.Frames <= 0:
		return fmt.Errorf("echosynth: Frames = %d, want > 0", c.Frames)
	case c.MaxFrames != 0 && c.MaxFrames < c.Frames:
		return fmt.Errorf("echosynth: MaxFrames = %d, want 0 or >= Frames (%d)", c.MaxFrames, c.Frames)
	case !(c.FPS > 0) || math.IsInf(c.FPS, 0):
		return fmt.Errorf("echosynth: FPS = %g, want > 0", c.FPS)
	case c.Height < 16 || c.Width < 16:
		return fmt.Errorf("echosynth: frame size %dx%d, want at least 16x16", c.Height, c.Width)
	case c.Height > 4096 || c.Width > 4096:
		return fmt.Errorf("echosynth: frame size %dx%d, want at most 4096x4096", c.Height, c.Width)
	}
	if err := checkWeights("Mix", c.Mix[:]); err != nil {
		return err
	}
	if err := checkWeights("Split", c.Split[:]); err != nil {
		return err
	}
	for _, r := range []struct {
		name   string
		r      Range
		lo, hi float64
	}{
		{"HeartRateBPM", c.HeartRateBPM, 20, 250},
		{"PatientTiltDeg", c.PatientTiltDeg, -45, 45},
	} {
		if err := r.r.check(r.name); err != nil {
			return err
		}
		if r.r.Min < r.lo || r.r.Max > r.hi {
			return fmt.Errorf("echosynth: %s [%g, %g] outside [%g, %g]", r.name, r.r.Min, r.r.Max, r.lo, r.hi)
		}
	}
	n, j := c.Nuisance.ranges(), c.VideoJitter.ranges()
	for i, b := range nuisanceBounds {
		if err := n[i].check("Nuisance." + b.name); err != nil {
			return err
		}
		if err := j[i].check("VideoJitter." + b.name); err != nil {
			return err
		}
		if lo, hi := n[i].Min+j[i].Min, n[i].Max+j[i].Max; lo < b.lo || hi > b.hi {
			return fmt.Errorf("echosynth: Nuisance.%s plus VideoJitter.%s spans [%g, %g], outside [%g, %g]", b.name, b.name, lo, hi, b.lo, b.hi)
		}
	}
	if c.HeartRateBPM.Min+c.Nuisance.HeartRateDeltaBPM.Min+c.VideoJitter.HeartRateDeltaBPM.Min < 20 {
		return errors.New("echosynth: HeartRateBPM.Min + Nuisance.HeartRateDeltaBPM.Min + VideoJitter.HeartRateDeltaBPM.Min below 20 bpm")
	}
	return nil
}

// nuisanceBounds are the names of Nuisance's fields, in ranges' order, with
// the physically sensible bounds of a study's setting plus a video's jitter.
var nuisanceBounds = [...]struct {
	name   string
	lo, hi float64
}{
	{"GainDB", -40, 40},
	{"DynamicRangeDB", 10, 120},
	{"TGCDB", -40, 40},
	{"DepthCM", 8, 30},
	{"SectorDeg", 10, 60},
	{"TiltDeg", -45, 45},
	{"ShiftCM", -3, 3},
	{"HeartRateDeltaBPM", -50, 50},
	{"NoiseLevel", 0, 1},
}

// ranges returns n's ranges in nuisanceBounds' order.
func (n Nuisance) ranges() [len(nuisanceBounds)]Range {
	return [...]Range{n.GainDB, n.DynamicRangeDB, n.TGCDB, n.DepthCM, n.SectorDeg, n.TiltDeg, n.ShiftCM, n.HeartRateDeltaBPM, n.NoiseLevel}
}

// Scale returns n with every range shrunk (f < 1) or widened (f > 1) around
// its centre by f; Scale(0) fixes every parameter at its centre.
func (n Nuisance) Scale(f float64) Nuisance {
	for _, r := range []*Range{&n.GainDB, &n.DynamicRangeDB, &n.TGCDB, &n.DepthCM, &n.SectorDeg,
		&n.TiltDeg, &n.ShiftCM, &n.HeartRateDeltaBPM, &n.NoiseLevel} {
		c, h := (r.Min+r.Max)/2, (r.Max-r.Min)/2*f
		r.Min, r.Max = c-h, c+h
	}
	return n
}

func checkWeights(name string, w []float64) error {
	sum := 0.0
	for i, x := range w {
		if !(x >= 0) || math.IsInf(x, 0) {
			return fmt.Errorf("echosynth: %s[%d] = %g, want a finite weight >= 0", name, i, x)
		}
		sum += x
	}
	if sum <= 0 {
		return fmt.Errorf("echosynth: %s weights sum to 0", name)
	}
	return nil
}

// framesFor returns the frame count of a video drawn with rng.
func (c Config) framesFor(rng *rand.Rand) int {
	if c.MaxFrames > c.Frames {
		return c.Frames + rng.IntN(c.MaxFrames-c.Frames+1)
	}
	return c.Frames
}
