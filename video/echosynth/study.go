package echosynth

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/vidssl/vidssl/video"
)

// Anatomy is a synthetic patient's heart: everything that the videos of one
// study share. Lengths are in cm, angles in degrees, reflectivities are
// echo amplitudes relative to the pericardium (about 1). See the package
// documentation for how each enters the picture.
type Anatomy struct {
	// SeverityScore is the continuous grade of stenosis in [0, 1] behind
	// the class: none 0-0.18, mild 0.22-0.45, moderate 0.45-0.68, severe
	// 0.68-1. The grade is haemodynamic (what Doppler measures), and so is
	// the label. The opening of the cusps, the thickening of the walls and
	// the longer systole are noisy functions of it.
	SeverityScore float64
	// AppearanceScore drives how diseased the cusps look: their thickness,
	// brightness and calcification. It is SeverityScore plus a patient's
	// own deviation (normal, sd AppearanceSD, clipped to [0, 1]), because
	// the same haemodynamic grade comes with different valve morphology:
	// women reach severe stenosis with about two-thirds of men's calcium
	// load, bicuspid and rheumatic valves thicken and calcify differently
	// from degenerative tricuspid ones, and low-flow states make a valve
	// that looks moderate severe by area.
	AppearanceScore float64
	// LVIDd is the LV internal diameter at end-diastole.
	LVIDd float64
	// FS is the fractional shortening: the LV diameter shrinks by this
	// fraction at end-systole.
	FS float64
	// IVSd and PWd are the end-diastolic thicknesses of the septum and the
	// posterior wall; both thicken in systole. Stenosis adds a little
	// (pressure-overload hypertrophy), much less than patients vary.
	IVSd, PWd float64
	// LVLength is the distance from the aortic annulus to the LV apex
	// (usually past the left edge of the sector).
	LVLength float64
	// RVD is the depth of the RV (outflow tract) cavity in front of the
	// septum and aortic root.
	RVD float64
	// RootDiameter is the aortic annulus diameter; the sinuses bulge 18%
	// wider just downstream of it.
	RootDiameter float64
	// LAScale scales the left atrium (1 is normal).
	LAScale float64
	// ChestWall is the thickness of the bright layered chest wall at the top
	// of the sector.
	ChestWall float64
	// ValveDepth and ValveX place the aortic annulus centre: depth below
	// the probe and lateral offset (positive to the right), before the
	// per-video shift.
	ValveDepth, ValveX float64
	// TiltDeg is the angle of the LV long axis: positive rises towards the
	// aorta on the right.
	TiltDeg float64
	// HeartRateBPM is the resting heart rate; each video adds its own change.
	HeartRateBPM float64
	// Myocardium, AorticWall and Pericardium are tissue reflectivities.
	Myocardium, AorticWall, Pericardium float64
	// LeafletThickness is the thickness of the aortic valve cusps (about
	// 0.1 cm normal, 0.3 cm severe).
	LeafletThickness float64
	// LeafletReflectivity is the cusps' echo amplitude (normal cusps are
	// about half as bright as the aortic wall, severe ones brighter).
	LeafletReflectivity float64
	// OpeningDeg is the largest angle between a cusp and the annulus plane
	// in systole. Closed cusps stand at 30 degrees and meet in the middle of
	// the root; about 80 lies against the wall (a normal valve); about 55
	// leaves a narrow orifice (severe stenosis).
	OpeningDeg float64
	// Calcification sets the calcified nodules at the cusp hinges and tips:
	// their reflectivity is AorticWall * (1 + Calcification) and their size
	// grows with it; 0 means none.
	Calcification float64
	// SystoleStretch is how much longer than normal systole lasts, as a
	// fraction (stenosis prolongs ejection).
	SystoleStretch float64
}

// Study is one synthetic patient's study: its identity, grade and number of
// videos. Studies returns them with Split filled in.
type Study struct {
	// Index is the study's position, 0..Config.Studies-1.
	Index int
	// ID is the study (accession) id, "S" and five or more digits.
	ID string
	// PatientID is the fake medical record number, "P" and seven digits,
	// also burned into the frames. There is one study per patient.
	PatientID string
	// Severity is the stenosis grade; Label is 1 when it is Severe.
	Severity Severity
	Label    int
	// Videos is the number of videos (cine loops) of the study.
	Videos int
	// Split is "train", "val" or "test"; empty in the Study of a VideoInfo.
	Split string
	// Date is the fake study date burned into the frames, YYYY-MM-DD.
	Date string
	// Anatomy is the patient's heart, shared by all the study's videos.
	Anatomy Anatomy
}

// Stream tags keep the random streams of studies, videos and splits apart.
const (
	tagStudy uint64 = 0x5354554459 + iota
	tagVideo
	tagSplit
	tagSpeckle
	tagAcquisition
)

// mix64 is the splitmix64 finaliser: a bijective scrambling of x.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// newRand returns a generator for the stream (tag, a, b) of seed: each
// study and video has its own stream, so any one can be made alone.
func newRand(seed, tag uint64, a, b int) *rand.Rand {
	s1 := mix64(seed ^ mix64(tag))
	s2 := mix64(mix64(tag+uint64(a)*0x9e3779b97f4a7c15) ^ mix64(uint64(b)+0x632be59bd9b4e019) ^ seed)
	return rand.New(rand.NewPCG(s1, s2))
}

// AppearanceSD is the standard deviation of AppearanceScore around
// SeverityScore: half a grade, the width of the score intervals being about
// 0.23.
const AppearanceSD = 0.12

// severityBounds are the SeverityScore intervals of the four classes.
var severityBounds = [4][2]float64{{0, 0.18}, {0.22, 0.45}, {0.45, 0.68}, {0.68, 1}}

// truncNorm draws from a normal distribution clipped to [lo, hi].
func truncNorm(rng *rand.Rand, mean, sd, lo, hi float64) float64 {
	return min(hi, max(lo, mean+sd*rng.NormFloat64()))
}

// makeStudy draws study i of cfg. It depends on nothing but cfg and i.
func makeStudy(cfg Config, i int) Study {
	rng := newRand(cfg.Seed, tagStudy, i, 0)
	st := Study{Index: i, ID: fmt.Sprintf("S%05d", i)}
	// A bijection of the index mod 10^7 (the multiplier is odd and not a
	// multiple of 5), offset by the seed, so patient ids are unique.
	mrn := (uint64(i)*2654435761 + mix64(cfg.Seed)%10000000) % 10000000
	st.PatientID = fmt.Sprintf("P%07d", mrn)

	total := cfg.Mix[0] + cfg.Mix[1] + cfg.Mix[2] + cfg.Mix[3]
	u := rng.Float64() * total
	st.Severity = Severe
	for k := None; k < Severe; k++ {
		if u < cfg.Mix[k] {
			st.Severity = k
			break
		}
		u -= cfg.Mix[k]
	}
	st.Label = st.Severity.Label()
	st.Videos = cfg.MinVideos + rng.IntN(cfg.MaxVideos-cfg.MinVideos+1)
	st.Date = fmt.Sprintf("%04d-%02d-%02d", 2015+rng.IntN(9), 1+rng.IntN(12), 1+rng.IntN(28))

	b := severityBounds[st.Severity]
	s := b[0] + (b[1]-b[0])*rng.Float64()
	// The appearance deviation has its own stream, so that every other
	// draw of the study stays what it was.
	sa := min(1, max(0, s+AppearanceSD*newRand(cfg.Seed, tagStudy, i, 1).NormFloat64()))
	a := Anatomy{SeverityScore: s, AppearanceScore: sa}
	a.LVIDd = truncNorm(rng, 4.8, 0.45, 3.8, 6.2)
	a.FS = truncNorm(rng, 0.34, 0.06, 0.18, 0.45)
	a.IVSd = truncNorm(rng, 0.95+0.15*s, 0.14, 0.7, 1.6)
	a.PWd = truncNorm(rng, 0.9+0.12*s, 0.12, 0.7, 1.4)
	a.LVLength = truncNorm(rng, 8.5, 0.6, 7, 10)
	a.RVD = truncNorm(rng, 2.4, 0.35, 1.6, 3.4)
	a.RootDiameter = truncNorm(rng, 2.9+0.15*s, 0.3, 2.2, 3.8)
	a.LAScale = truncNorm(rng, 1.05+0.1*s, 0.12, 0.8, 1.4)
	a.ChestWall = truncNorm(rng, 1.6, 0.3, 0.9, 2.4)
	a.ValveX = truncNorm(rng, 1.7, 0.35, 0.9, 2.5)
	a.TiltDeg = cfg.PatientTiltDeg.draw(rng)
	a.HeartRateBPM = cfg.HeartRateBPM.draw(rng)
	a.Myocardium = truncNorm(rng, 0.13, 0.02, 0.08, 0.2)
	a.AorticWall = truncNorm(rng, 0.3, 0.04, 0.2, 0.42)
	a.Pericardium = truncNorm(rng, 0.85, 0.1, 0.6, 1.1)
	// The valve: the cusps' morphology grows with the appearance score sa,
	// their opening with the grade s, each with patient scatter wide enough
	// that neighbouring grades overlap.
	a.LeafletThickness = (0.085 + 0.2*sa) * truncNorm(rng, 1, 0.15, 0.7, 1.3)
	a.LeafletReflectivity = a.AorticWall * (0.45 + 0.75*sa) * truncNorm(rng, 1, 0.18, 0.6, 1.4)
	a.OpeningDeg = truncNorm(rng, 82-30*s, 3.5, 45, 86)
	a.Calcification = max(0, sa-0.35) * truncNorm(rng, 1.6, 0.5, 0.3, 3)
	a.SystoleStretch = 0.12 * s * truncNorm(rng, 1, 0.3, 0, 2)
	// The annulus sits below the chest wall, RV wall, RV and aortic wall.
	a.ValveDepth = a.ChestWall + 0.9 + 0.35 + a.RVD + 0.25 + a.RootDiameter/2
	st.Anatomy = a
	return st
}

// Studies returns the studies of cfg in index order, with their splits: a
// stratified study-level split (the severe and the other studies are each
// shuffled with the seed and divided by cfg.Split, so that validation and
// test sets hold both classes whenever each class has at least three
// studies). It returns cfg.Validate's error for an invalid cfg.
func Studies(cfg Config) ([]Study, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	studies := make([]Study, cfg.Studies)
	var byLabel [2][]int
	for i := range studies {
		studies[i] = makeStudy(cfg, i)
		byLabel[studies[i].Label] = append(byLabel[studies[i].Label], i)
	}
	total := cfg.Split[0] + cfg.Split[1] + cfg.Split[2]
	for label, idx := range byLabel {
		rng := newRand(cfg.Seed, tagSplit, label, 0)
		rng.Shuffle(len(idx), func(a, b int) { idx[a], idx[b] = idx[b], idx[a] })
		n := len(idx)
		nVal := int(math.Round(float64(n) * cfg.Split[1] / total))
		nTest := int(math.Round(float64(n) * cfg.Split[2] / total))
		if n >= 3 {
			if cfg.Split[1] > 0 && nVal == 0 {
				nVal = 1
			}
			if cfg.Split[2] > 0 && nTest == 0 {
				nTest = 1
			}
		}
		if cfg.Split[0] > 0 && nVal+nTest >= n && n > 0 {
			// Keep at least one training study when there is room.
			for nVal+nTest >= n && (nVal > 0 || nTest > 0) {
				if nVal >= nTest && nVal > 0 {
					nVal--
				} else {
					nTest--
				}
			}
		}
		for k, i := range idx {
			switch {
			case k < nVal:
				studies[i].Split = video.SplitVal
			case k < nVal+nTest:
				studies[i].Split = video.SplitTest
			default:
				studies[i].Split = video.SplitTrain
			}
		}
	}
	return studies, nil
}
