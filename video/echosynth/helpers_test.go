package echosynth

import (
	"math"
	"sort"

	"github.com/vidssl/vidssl/video"
)

// auroc is the area under the ROC curve of scores for labels (1 positive),
// by the rank-sum (Mann-Whitney) formula with average ranks for ties.
func auroc(scores []float64, labels []int) float64 {
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return scores[idx[a]] < scores[idx[b]] })
	ranks := make([]float64, len(scores))
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && scores[idx[j]] == scores[idx[i]] {
			j++
		}
		for k := i; k < j; k++ {
			ranks[idx[k]] = float64(i+j+1) / 2 // average of ranks i+1..j
		}
		i = j
	}
	var nPos, nNeg, sumPos float64
	for i, l := range labels {
		if l == 1 {
			nPos++
			sumPos += ranks[i]
		} else {
			nNeg++
		}
	}
	return (sumPos - nPos*(nPos+1)/2) / (nPos * nNeg)
}

// heartPixel returns the pixel position of heart coordinates (u, v), in cm
// from the aortic annulus centre (u towards the aorta, v away from the
// probe), in frame f of a video.
func heartPixel(info *VideoInfo, f int, u, v float64) (x, y float64) {
	tau := -info.TiltDeg * math.Pi / 180
	c, s := math.Cos(tau), math.Sin(tau)
	wx := c*u - s*v
	wy := s*u + c*v
	fr := info.Frames[f]
	return fr.ValveX + wx/info.CMPerPixel, fr.ValveY + wy/info.CMPerPixel
}

// discMean is the mean intensity of frame f within radius r (pixels) of
// (x, y).
func discMean(v *video.Video, f int, x, y, r float64) float64 {
	fr := v.Frame(f)
	sum, n := 0.0, 0
	for py := int(y - r); py <= int(y+r)+1; py++ {
		for px := int(x - r); px <= int(x+r)+1; px++ {
			if py < 0 || px < 0 || py >= v.H || px >= v.W {
				continue
			}
			if dx, dy := float64(px)-x, float64(py)-y; dx*dx+dy*dy <= r*r {
				sum += float64(fr[py*v.W+px])
				n++
			}
		}
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

// videoMean is the mean of all pixels of v.
func videoMean(v *video.Video) float64 {
	s := 0.0
	for _, p := range v.Frames {
		s += float64(p)
	}
	return s / float64(len(v.Frames))
}
