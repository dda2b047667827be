package echosynth

import (
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/vidssl/vidssl/video"
)

// montage lays out frames of videos as a grid: one row per video, cols
// frames evenly spaced in time, with a one-pixel black gutter.
func montage(vs []*video.Video, cols int) *image.Gray {
	h, w := vs[0].H, vs[0].W
	img := image.NewGray(image.Rect(0, 0, cols*(w+1), len(vs)*(h+1)))
	for r, v := range vs {
		for c := range cols {
			f := v.Frame(c * v.T / cols)
			for y := range h {
				copy(img.Pix[(r*(h+1)+y)*img.Stride+c*(w+1):], f[y*w:(y+1)*w])
			}
		}
	}
	return img
}

// zoom enlarges img k times (nearest neighbour).
func zoom(img *image.Gray, k int) *image.Gray {
	b := img.Bounds()
	out := image.NewGray(image.Rect(0, 0, b.Dx()*k, b.Dy()*k))
	for y := range out.Rect.Dy() {
		for x := range out.Rect.Dx() {
			out.Pix[y*out.Stride+x] = img.Pix[(y/k)*img.Stride+x/k]
		}
	}
	return out
}

// studyOf parses the study index back from a generated video's Source.
func studyOf(t *testing.T, v *video.Video) int {
	var i, j int
	if _, err := fmt.Sscanf(v.Source, "echosynth:S%d_%d", &i, &j); err != nil {
		t.Fatal(err)
	}
	return i
}

// crop cuts an n x n window centred on the aortic valve of each frame.
func crop(v *video.Video, info *VideoInfo, n int) *video.Video {
	out, _ := video.New(v.T, n, n, 1)
	for f := range v.T {
		cx := int(info.Frames[f].ValveX) - n/2 + n/6
		cy := int(info.Frames[f].ValveY) - n/2
		src, dst := v.Frame(f), out.Frame(f)
		for y := range n {
			for x := range n {
				if sy, sx := cy+y, cx+x; sy >= 0 && sx >= 0 && sy < v.H && sx < v.W {
					dst[y*n+x] = src[sy*v.W+sx]
				}
			}
		}
	}
	return out
}

func savePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}

// TestMontage writes PNG montages to $ECHOSYNTH_PNG_DIR for looking at:
// one of each severity, and all the videos of one study.
func TestMontage(t *testing.T) {
	dir := os.Getenv("ECHOSYNTH_PNG_DIR")
	if dir == "" {
		t.Skip("set ECHOSYNTH_PNG_DIR to write montages")
	}
	for _, size := range []int{112, 224, 32} {
		cfg := DefaultConfig()
		cfg.Height, cfg.Width = size, size
		cfg.Studies = 60
		studies, err := Studies(cfg)
		if err != nil {
			t.Fatal(err)
		}
		var vs []*video.Video
		for sev := None; sev <= Severe; sev++ {
			for _, st := range studies {
				if st.Severity == sev {
					v, _, err := Generate(cfg, st.Index, 0)
					if err != nil {
						t.Fatal(err)
					}
					vs = append(vs, v)
					break
				}
			}
		}
		savePNG(t, filepath.Join(dir, fmt.Sprintf("severity_%d.png", size)), montage(vs, 8))
		savePNG(t, filepath.Join(dir, fmt.Sprintf("zoom_%d.png", size)), zoom(montage(vs, 4), 2*112/size))
		for i, v := range vs {
			savePNG(t, filepath.Join(dir, fmt.Sprintf("one_%d_%d.png", size, i)), zoom(montage([]*video.Video{v}, 2), max(1, 448/size)))
		}
		if size == 112 {
			// Close-ups of the valve: one row per severity, 12 frames.
			var crops []*video.Video
			for _, v := range vs {
				_, info, err := Generate(cfg, studyOf(t, v), 0)
				if err != nil {
					t.Fatal(err)
				}
				crops = append(crops, crop(v, info, 24))
			}
			savePNG(t, filepath.Join(dir, "valve_112.png"), zoom(montage(crops, 12), 5))
		}
		vs = vs[:0]
		for j := range studies[0].Videos {
			v, _, err := Generate(cfg, 0, j)
			if err != nil {
				t.Fatal(err)
			}
			vs = append(vs, v)
		}
		savePNG(t, filepath.Join(dir, fmt.Sprintf("study0_%d.png", size)), montage(vs, 8))
	}
}
