package echosynth

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vidssl/vidssl/video"
)

// small is a quick config for tests.
func small(size, frames int) Config {
	cfg := DefaultConfig()
	cfg.Height, cfg.Width = size, size
	cfg.Frames = frames
	return cfg
}

func TestGenerateDeterministic(t *testing.T) {
	cfg := small(64, 12)
	a, ia, err := Generate(cfg, 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	// Other videos in between must not matter.
	if _, _, err := Generate(cfg, 5, 0); err != nil {
		t.Fatal(err)
	}
	b, ib, err := Generate(cfg, 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Frames, b.Frames) {
		t.Error("same seed and indices gave different frames")
	}
	if !reflect.DeepEqual(ia, ib) {
		t.Error("same seed and indices gave different VideoInfo")
	}
	if !reflect.DeepEqual(mustStudies(t, cfg), mustStudies(t, cfg)) {
		t.Error("Studies is not deterministic")
	}
	// Concurrent generation gives the same bytes.
	var wg sync.WaitGroup
	got := make([]*video.Video, 4)
	for i := range got {
		wg.Go(func() { got[i], _, _ = Generate(cfg, 3, 1) })
	}
	wg.Wait()
	for i, v := range got {
		if v == nil || !bytes.Equal(v.Frames, a.Frames) {
			t.Errorf("concurrent generation %d differs", i)
		}
	}
	cfg.Seed++
	c, _, err := Generate(cfg, 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.Frames, c.Frames) {
		t.Error("different seeds gave the same frames")
	}
}

func TestGenerateSize(t *testing.T) {
	for _, tc := range []struct{ h, w, frames, maxFrames int }{
		{32, 32, 8, 0}, {112, 112, 32, 0}, {64, 96, 16, 24}, {96, 64, 20, 0},
	} {
		cfg := DefaultConfig()
		cfg.Height, cfg.Width, cfg.Frames, cfg.MaxFrames = tc.h, tc.w, tc.frames, tc.maxFrames
		cfg.FPS = 50
		seen := map[int]bool{}
		for i := range 6 {
			v, info, err := Generate(cfg, i, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := v.Validate(); err != nil {
				t.Fatal(err)
			}
			hi := max(tc.frames, tc.maxFrames)
			if v.H != tc.h || v.W != tc.w || v.C != 1 || v.T < tc.frames || v.T > hi || v.FPS != 50 {
				t.Errorf("%+v: got %dx%dx%dx%d at %g fps", tc, v.T, v.H, v.W, v.C, v.FPS)
			}
			if len(info.Frames) != v.T {
				t.Errorf("%+v: %d FrameInfo for %d frames", tc, len(info.Frames), v.T)
			}
			seen[v.T] = true
		}
		if tc.maxFrames > tc.frames && len(seen) < 2 {
			t.Errorf("%+v: frame counts %v do not vary", tc, seen)
		}
	}
}

func TestGenerateErrors(t *testing.T) {
	cfg := small(32, 4)
	cfg.Studies = 3
	st := mustStudies(t, cfg)
	for _, tc := range [][2]int{{-1, 0}, {3, 0}, {0, -1}, {0, st[0].Videos}} {
		if _, _, err := Generate(cfg, tc[0], tc[1]); err == nil {
			t.Errorf("Generate(%d, %d): no error", tc[0], tc[1])
		}
	}
	bad := cfg
	bad.Frames = 0
	if _, _, err := Generate(bad, 0, 0); err == nil {
		t.Error("Frames = 0: no error")
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*Config){
		"studies":   func(c *Config) { c.Studies = 0 },
		"videos":    func(c *Config) { c.MinVideos, c.MaxVideos = 3, 2 },
		"maxframes": func(c *Config) { c.MaxFrames = 5 },
		"fps":       func(c *Config) { c.FPS = math.NaN() },
		"size":      func(c *Config) { c.Height = 8 },
		"mix":       func(c *Config) { c.Mix = [4]float64{} },
		"mixneg":    func(c *Config) { c.Mix[2] = -1 },
		"split":     func(c *Config) { c.Split = [3]float64{} },
		"range":     func(c *Config) { c.Nuisance.GainDB = Range{3, -3} },
		"depth":     func(c *Config) { c.Nuisance.DepthCM = Range{1, 2} },
		"rate":      func(c *Config) { c.HeartRateBPM = Range{10, 20} },
	} {
		c := DefaultConfig()
		mod(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestSeverity(t *testing.T) {
	for s := None; s <= Severe; s++ {
		p, err := ParseSeverity(s.String())
		if err != nil || p != s {
			t.Errorf("ParseSeverity(%q) = %v, %v", s.String(), p, err)
		}
	}
	if _, err := ParseSeverity("Severe"); err == nil {
		t.Error("ParseSeverity is not case-sensitive")
	}
	if None.Label() != 0 || Moderate.Label() != 0 || Severe.Label() != 1 {
		t.Error("wrong labels")
	}
}

func TestStudies(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Studies = 5000
	studies := mustStudies(t, cfg)
	ids, pids := map[string]bool{}, map[string]bool{}
	var pos int
	var splitCount [2]map[string]int
	splitCount[0], splitCount[1] = map[string]int{}, map[string]int{}
	var grade [4]int
	var dev, appearance []float64
	var labels []int
	for i, st := range studies {
		if st.Index != i || ids[st.ID] || pids[st.PatientID] {
			t.Fatalf("study %d: bad or repeated ids %+v", i, st)
		}
		ids[st.ID], pids[st.PatientID] = true, true
		if st.Videos < cfg.MinVideos || st.Videos > cfg.MaxVideos {
			t.Errorf("%s: %d videos", st.ID, st.Videos)
		}
		if st.Label != st.Severity.Label() {
			t.Errorf("%s: label %d for %v", st.ID, st.Label, st.Severity)
		}
		b := severityBounds[st.Severity]
		if s := st.Anatomy.SeverityScore; s < b[0] || s > b[1] {
			t.Errorf("%s: score %g outside %v for %v", st.ID, s, b, st.Severity)
		}
		sa := st.Anatomy.AppearanceScore
		if sa < 0 || sa > 1 {
			t.Errorf("%s: appearance score %g outside [0, 1]", st.ID, sa)
		}
		if s := st.Anatomy.SeverityScore; s > 0.4 && s < 0.6 {
			dev = append(dev, sa-s)
		}
		if st.Severity >= Moderate {
			appearance = append(appearance, sa)
			labels = append(labels, st.Label)
		}
		pos += st.Label
		grade[st.Severity]++
		splitCount[st.Label][st.Split]++
	}
	// Away from the clipping the appearance deviates from the grade by
	// AppearanceSD (standard error about 0.004 with ~800 studies), and it
	// separates severe from moderate stenosis well but not perfectly (the
	// grade itself separates them perfectly).
	if m, sd := meanSD(dev); math.Abs(m) > 0.015 || math.Abs(sd-AppearanceSD) > 0.015 {
		t.Errorf("appearance - grade: mean %.4f sd %.4f over %d studies, want 0 and %g", m, sd, len(dev), AppearanceSD)
	}
	if a := auroc(appearance, labels); a < 0.75 || a > 0.95 {
		t.Errorf("appearance score separates severe from moderate at AUROC %.3f, want 0.75-0.95", a)
	} else {
		t.Logf("appearance score: severe vs moderate AUROC %.3f", a)
	}
	if rate := float64(pos) / float64(len(studies)); math.Abs(rate-0.22) > 0.02 {
		t.Errorf("severe rate %.3f, want about 0.22", rate)
	}
	for g, n := range grade {
		if want := cfg.Mix[g] * float64(len(studies)); math.Abs(float64(n)-want) > 0.15*want {
			t.Errorf("%v: %d studies, want about %.0f", Severity(g), n, want)
		}
	}
	for label, m := range splitCount {
		n := float64(m["train"] + m["val"] + m["test"])
		if len(m) != 3 {
			t.Errorf("label %d: splits %v", label, m)
		}
		for k, name := range []string{"train", "val", "test"} {
			if f := float64(m[name]) / n; math.Abs(f-cfg.Split[k]) > 0.01 {
				t.Errorf("label %d: %s fraction %.3f, want %.2f", label, name, f, cfg.Split[k])
			}
		}
	}

	// A default-sized data set has both classes in validation and test.
	cfg.Studies = 60
	has := map[string][2]bool{}
	for _, st := range mustStudies(t, cfg) {
		h := has[st.Split]
		h[st.Label] = true
		has[st.Split] = h
	}
	for _, s := range []string{"train", "val", "test"} {
		if has[s] != [2]bool{true, true} {
			t.Errorf("60 studies: split %s lacks a class: %v", s, has[s])
		}
	}

	cfg.Mix = [4]float64{1, 0, 0, 0}
	for _, st := range mustStudies(t, cfg) {
		if st.Severity != None {
			t.Fatalf("Mix of only None gave %v", st.Severity)
		}
	}
}

func TestStudyShareAnatomy(t *testing.T) {
	cfg := small(48, 8)
	cfg.Studies = 20
	studies := mustStudies(t, cfg)
	var first []*VideoInfo
	for _, st := range studies[:4] {
		var infos []*VideoInfo
		for j := range st.Videos {
			_, info, err := Generate(cfg, st.Index, j)
			if err != nil {
				t.Fatal(err)
			}
			infos = append(infos, info)
		}
		for _, info := range infos[1:] {
			if !reflect.DeepEqual(info.Study, infos[0].Study) {
				t.Errorf("%s: videos disagree on the study: %+v vs %+v", st.ID, info.Study, infos[0].Study)
			}
			if info.GainDB == infos[0].GainDB || info.StartPhase == infos[0].StartPhase || info.DepthCM == infos[0].DepthCM {
				t.Errorf("%s: videos share nuisance parameters", st.ID)
			}
		}
		want := st
		want.Split = ""
		if !reflect.DeepEqual(infos[0].Study, want) {
			t.Errorf("%s: VideoInfo.Study %+v, Studies gave %+v", st.ID, infos[0].Study, want)
		}
		first = append(first, infos[0])
	}
	for i := range first {
		for j := range i {
			if first[i].Study.Anatomy == first[j].Study.Anatomy {
				t.Errorf("studies %d and %d share anatomy", i, j)
			}
		}
	}
}

// valveSignal returns, for frame f, the mean intensity of a small disc at
// the point where closed aortic cusps meet.
func valveSignal(v *video.Video, info *VideoInfo, f int) float64 {
	rho := info.Study.Anatomy.RootDiameter / 2
	x, y := heartPixel(info, f, 0.55*rho, 0)
	return discMean(v, f, x, y, 0.35*rho/info.CMPerPixel)
}

func TestLeafletsOpenInSystole(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Studies = 40
	cfg.Frames = 40
	var n, ok int
	var diff float64
	for _, st := range mustStudies(t, cfg) {
		if st.Severity != None {
			continue
		}
		v, info, err := Generate(cfg, st.Index, 0)
		if err != nil {
			t.Fatal(err)
		}
		var open, closed, no, nc float64
		for f, fr := range info.Frames {
			switch {
			case fr.AorticOpen > 0.7:
				open += valveSignal(v, info, f)
				no++
			case fr.AorticOpen == 0:
				closed += valveSignal(v, info, f)
				nc++
			}
		}
		if no == 0 || nc == 0 {
			t.Fatalf("%s: %v open and %v closed frames in %d", st.ID, no, nc, v.T)
		}
		d := closed/nc - open/no
		diff += d
		n++
		if d > 0 {
			ok++
		}
	}
	if n < 10 {
		t.Fatalf("only %d normal studies", n)
	}
	t.Logf("%d normal valves: closed - open = %.1f grey levels on average; %d of them darker when open", n, diff/float64(n), ok)
	if diff/float64(n) < 15 || ok < n*9/10 {
		t.Errorf("the valve centre is not clearly darker in systole")
	}
}

func TestBeatTiming(t *testing.T) {
	for _, bpm := range []float64{45, 60, 75, 100, 140, 200} {
		c := newCycle(bpm, 0.1)
		var sys, dia, both int
		for i := range 1000 {
			tc := float64(i) / 1000 * c.rr
			o, m := c.aortic(tc), c.mitral(tc)
			if o > 0.1 {
				sys++
			}
			if m > 0.1 {
				dia++
			}
			if o > 0.01 && m > 0.01 {
				both++
			}
		}
		if sys == 0 || dia == 0 || both > 0 {
			t.Errorf("%g bpm: aortic open %d, mitral open %d, both %d (per mille)", bpm, sys, dia, both)
		}
		// Continuous across the beat boundary.
		if d := math.Abs(c.contraction(c.rr-1e-6) - c.contraction(0)); d > 0.02 {
			t.Errorf("%g bpm: contraction jumps by %g at the QRS", bpm, d)
		}
	}
}

func TestSeverityCues(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 100 videos")
	}
	cfg := DefaultConfig()
	cfg.Studies = 100
	cfg.Frames = 24
	var global, valve []float64
	var labels []int
	for _, st := range mustStudies(t, cfg) {
		v, info, err := Generate(cfg, st.Index, 0)
		if err != nil {
			t.Fatal(err)
		}
		rho := st.Anatomy.RootDiameter / 2
		g := videoMean(v)
		roi := 0.0
		for f := range v.T {
			x, y := heartPixel(info, f, 0.6*rho, 0)
			roi += discMean(v, f, x, y, rho/info.CMPerPixel)
		}
		global = append(global, g)
		valve = append(valve, roi/float64(v.T)-g)
		labels = append(labels, st.Label)
	}
	ag, av := auroc(global, labels), auroc(valve, labels)
	t.Logf("AUROC of severe vs rest over %d studies: global mean %.3f, valve region %.3f", len(labels), ag, av)
	if ag > 0.7 || ag < 0.3 {
		t.Errorf("the global mean intensity separates severe stenosis (AUROC %.3f)", ag)
	}
	if av < 0.7 {
		t.Errorf("the valve region does not carry the label (AUROC %.3f)", av)
	}
}

func TestAUROC(t *testing.T) {
	if got := auroc([]float64{1, 2, 3, 4}, []int{0, 0, 1, 1}); got != 1 {
		t.Errorf("perfect: %g", got)
	}
	if got := auroc([]float64{1, 1, 1, 1}, []int{0, 1, 0, 1}); got != 0.5 {
		t.Errorf("ties: %g", got)
	}
	if got := auroc([]float64{1, 2, 3, 4}, []int{0, 1, 0, 1}); got != 0.75 {
		t.Errorf("mixed: %g", got)
	}
}

func TestOverlayOutsideSector(t *testing.T) {
	for _, size := range []int{112, 48} {
		cfg := small(size, 16)
		v, info, err := Generate(cfg, 2, 0)
		if err != nil {
			t.Fatal(err)
		}
		inside := info.Sector.Mask(v.H, v.W)
		// Pixels near the sector: inside the fan grown by two pixels.
		grown := info.Sector
		grown.Radius += 2
		var text, ecg, near int
		for f := range v.T {
			fr := v.Frame(f)
			for y := range v.H {
				for x := range v.W {
					p := fr[y*v.W+x]
					if p == 0 || inside[y*v.W+x] {
						continue
					}
					dx, dy := float64(x)-grown.ApexX, float64(y)-grown.ApexY
					r := math.Hypot(dx, dy)
					edge := r * math.Sin(math.Abs(math.Atan2(dx, dy))-info.Sector.HalfAngle)
					if r <= grown.Radius && edge <= 1.5 {
						near++ // the anti-aliased rim of the sector
						if p > 0 && edge > 1 {
							t.Errorf("%d: frame %d pixel (%d,%d) = %d just outside the sector", size, f, x, y, p)
						}
						continue
					}
					if p > 100 {
						if y > int(info.Sector.ApexY+info.Sector.Radius) {
							ecg++
						} else {
							text++
						}
					}
				}
			}
		}
		if text < 20*v.T || ecg < v.W*v.T/2 {
			t.Errorf("%d: %d text and %d ECG pixels outside the sector", size, text, ecg)
		}
		// The project's sector masking finds our sector and drops the rest.
		mask, err := video.SectorMask(v, video.SectorThreshold)
		if err != nil {
			t.Fatal(err)
		}
		var and, or int
		for i := range mask {
			if mask[i] && inside[i] {
				and++
			}
			if mask[i] || inside[i] {
				or++
			}
		}
		if iou := float64(and) / float64(or); iou < 0.9 {
			t.Errorf("%d: video.SectorMask overlaps the sector by IoU %.3f", size, iou)
		}
	}
}

func TestWriteDataset(t *testing.T) {
	dir := t.TempDir()
	cfg := small(32, 6)
	cfg.Studies = 12
	cfg.MinVideos, cfg.MaxVideos = 2, 3
	total := 0
	for _, st := range mustStudies(t, cfg) {
		total += st.Videos
	}

	// A cancelled context writes no manifest.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := WriteDataset(ctx, dir, cfg, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, ManifestName)); err == nil {
		t.Fatal("cancelled run wrote a manifest")
	}

	var calls, last int
	progress := func(done, n int) {
		calls++
		if n != total || done != last+1 {
			t.Errorf("progress(%d, %d) after %d", done, n, last)
		}
		last = done
	}
	m, err := WriteDataset(context.Background(), dir, cfg, progress)
	if err != nil {
		t.Fatal(err)
	}
	if m != filepath.Join(dir, ManifestName) || calls != total {
		t.Errorf("manifest %s, %d progress calls for %d videos", m, calls, total)
	}
	rows := readCSV(t, m)
	if !reflect.DeepEqual(rows[0], ManifestColumns) || len(rows) != total+1 {
		t.Fatalf("manifest header %v, %d rows for %d videos", rows[0], len(rows)-1, total)
	}
	studies := mustStudies(t, cfg)
	k := 1
	for _, st := range studies {
		for j := range st.Videos {
			want := []string{VideoPath(st, j), st.PatientID, st.ID, strconv.Itoa(st.Label), st.Split, st.Severity.String()}
			if !reflect.DeepEqual(rows[k], want) {
				t.Errorf("row %d = %v, want %v", k, rows[k], want)
			}
			k++
		}
	}
	man, err := video.ReadManifest(m, video.OurColumns)
	if err != nil {
		t.Fatal(err)
	}
	if len(man.Records) != total {
		t.Errorf("video.ReadManifest: %d records", len(man.Records))
	}

	// The files hold the generated videos (up to JPEG loss).
	got, err := video.ReadFile(filepath.Join(dir, filepath.FromSlash(VideoPath(studies[1], 1))))
	if err != nil {
		t.Fatal(err)
	}
	want, _, _ := Generate(cfg, 1, 1)
	if got.T != want.T || got.H != want.H || got.W != want.W {
		t.Fatalf("read %dx%dx%d, want %dx%dx%d", got.T, got.H, got.W, want.T, want.H, want.W)
	}
	var diff float64
	for i := range want.Frames {
		// Read back as grey or colour; compare the first channel.
		diff += math.Abs(float64(got.Frames[i*got.C]) - float64(want.Frames[i]))
	}
	if mean := diff / float64(len(want.Frames)); mean > 8 {
		t.Errorf("read-back differs by %.1f grey levels on average", mean)
	}

	// Reuse: the same config regenerates nothing.
	probe := filepath.Join(dir, filepath.FromSlash(VideoPath(studies[0], 0)))
	old := time.Unix(1e9, 0)
	if err := os.Chtimes(probe, old, old); err != nil {
		t.Fatal(err)
	}
	calls, last = 0, total-1
	if _, err := WriteDataset(context.Background(), dir, cfg, progress); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(probe); calls != 1 || !fi.ModTime().Equal(old) {
		t.Errorf("reuse: %d progress calls, video rewritten: %v", calls, !fi.ModTime().Equal(old))
	}

	// Resume: without a manifest, only the missing videos are made.
	lost := filepath.Join(dir, filepath.FromSlash(VideoPath(studies[2], 0)))
	os.Remove(filepath.Join(dir, ManifestName))
	os.Remove(lost)
	calls, last = 0, 0
	if _, err := WriteDataset(context.Background(), dir, cfg, progress); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(probe); !fi.ModTime().Equal(old) {
		t.Error("resume rewrote a finished video")
	}
	if _, err := os.Stat(lost); err != nil {
		t.Errorf("resume did not remake the missing video: %v", err)
	}

	// Another config makes everything again.
	cfg.Seed++
	total = 0
	for _, st := range mustStudies(t, cfg) {
		total += st.Videos
	}
	calls, last = 0, 0
	if _, err := WriteDataset(context.Background(), dir, cfg, progress); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(probe); fi.ModTime().Equal(old) || calls != total {
		t.Errorf("new config: video not rewritten or %d progress calls", calls)
	}
	ents, _ := os.ReadDir(filepath.Join(dir, VideoDir))
	for _, e := range ents {
		if filepath.Ext(e.Name()) != ".avi" {
			t.Errorf("stray file %s", e.Name())
		}
	}
}

// mustStudies is Studies that fails the test on error.
func mustStudies(t *testing.T, cfg Config) []Study {
	t.Helper()
	st, err := Studies(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func BenchmarkGenerate(b *testing.B) {
	cfg := DefaultConfig()
	for i := 0; b.Loop(); i++ {
		if _, _, err := Generate(cfg, i%cfg.Studies, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// TestAcquisitionLevels checks the two levels of acquisition settings: the
// videos of one study stay within VideoJitter of each other, while studies
// spread over Nuisance's ranges; and that Validate bounds their sum.
func TestAcquisitionLevels(t *testing.T) {
	cfg := small(32, 4)
	cfg.Studies = 30
	studies := mustStudies(t, cfg)
	j := cfg.VideoJitter
	var depths []float64
	for _, st := range studies {
		var infos []*VideoInfo
		for v := range st.Videos {
			_, info, err := Generate(cfg, st.Index, v)
			if err != nil {
				t.Fatal(err)
			}
			infos = append(infos, info)
		}
		depths = append(depths, infos[0].DepthCM)
		for _, info := range infos[1:] {
			for _, c := range []struct {
				name string
				a, b float64
				r    Range
			}{
				{"gain", info.GainDB, infos[0].GainDB, j.GainDB},
				{"dynamic range", info.DynamicRangeDB, infos[0].DynamicRangeDB, j.DynamicRangeDB},
				{"depth", info.DepthCM, infos[0].DepthCM, j.DepthCM},
				{"TGC", info.TGCDB, infos[0].TGCDB, j.TGCDB},
				{"heart rate", info.HeartRateBPM, infos[0].HeartRateBPM, j.HeartRateDeltaBPM},
			} {
				if d := math.Abs(c.a - c.b); d > c.r.Max-c.r.Min+1e-9 {
					t.Errorf("%s: %s differs by %.3f between videos, more than the jitter's width %.3f", st.ID, c.name, d, c.r.Max-c.r.Min)
				}
			}
		}
	}
	lo, hi := slices.Min(depths), slices.Max(depths)
	if hi-lo < 2 {
		t.Errorf("study depths span %.2f-%.2f cm, want most of Nuisance.DepthCM %v", lo, hi, cfg.Nuisance.DepthCM)
	}

	bad := small(32, 4)
	bad.VideoJitter.DepthCM = Range{-20, 1}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "VideoJitter.DepthCM") {
		t.Errorf("depth 13.5-20 cm below 8 cm accepted: %v", err)
	}
	bad = small(32, 4)
	bad.VideoJitter.GainDB = Range{2, -2}
	if err := bad.Validate(); err == nil {
		t.Error("an inverted jitter range was accepted")
	}
}

// TestNuisanceScale checks Scale around the centre.
func TestNuisanceScale(t *testing.T) {
	n := DefaultConfig().Nuisance
	z := n.Scale(0)
	if z.DepthCM.Min != z.DepthCM.Max || z.DepthCM.Min != (n.DepthCM.Min+n.DepthCM.Max)/2 {
		t.Errorf("Scale(0).DepthCM = %v, want the centre of %v", z.DepthCM, n.DepthCM)
	}
	if d := n.Scale(2).GainDB; d.Min != 2*n.GainDB.Min || d.Max != 2*n.GainDB.Max {
		t.Errorf("Scale(2).GainDB = %v, want twice %v", d, n.GainDB)
	}
}

// meanSD returns the mean and the sample standard deviation of x.
func meanSD(x []float64) (mean, sd float64) {
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	for _, v := range x {
		sd += (v - mean) * (v - mean)
	}
	return mean, math.Sqrt(sd / float64(len(x)-1))
}
