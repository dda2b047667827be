package figures

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func rocCurves() []ROCCurve {
	return []ROCCurve{
		{Name: "MI-SimCLR+FO", FPR: []float64{0, 0, 0.1, 0.3, 1}, TPR: []float64{0, 0.4, 0.7, 0.9, 1}, AUROC: 0.872, Lower: 0.853, Upper: 0.891},
		{Name: "Kinetics-400", FPR: []float64{0, 0.2, 0.5, 1}, TPR: []float64{0, 0.4, 0.8, 1}, AUROC: 0.799},
	}
}

func fractionSeries() []FractionSeries {
	return []FractionSeries{
		{Name: "MI-SimCLR+FO", Points: []FractionPoint{{1, 0.818, 0.794, 0.840}, {5, 0.872, 0.853, 0.891}, {100, 0.93, 0.91, 0.95}}},
		{Name: "Kinetics-400", Points: []FractionPoint{{100, 0.92, 0.90, 0.94}, {1, 0.644, 0.610, 0.677}, {5, 0.799, 0.775, 0.822}}},
		{Name: "Random", Points: []FractionPoint{{5, 0.70, 0.66, 0.74}}},
	}
}

// checkPNG decodes b and checks its size, and that it is not blank: some
// pixels are strongly coloured (the curves), not only white, black and grey.
func checkPNG(t *testing.T, b []byte, w, h int) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decode PNG: %v", err)
	}
	if got := img.Bounds(); got != image.Rect(0, 0, w, h) {
		t.Fatalf("size %v, want %dx%d", got, w, h)
	}
	coloured := 0
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			if max(r, g, b)-min(r, g, b) > 0x4000 {
				coloured++
			}
		}
	}
	if coloured < 100 {
		t.Errorf("only %d coloured pixels: nothing drawn?", coloured)
	}
}

func TestROC(t *testing.T) {
	for _, o := range []Options{{}, {Title: "Study-level ROC", Width: 500, Height: 500, DPI: 150}} {
		var buf bytes.Buffer
		if err := ROC(&buf, rocCurves(), o); err != nil {
			t.Fatal(err)
		}
		w, h := o.Width, o.Height
		if w == 0 {
			w, h = DefaultWidth, DefaultHeight
		}
		checkPNG(t, buf.Bytes(), w, h)
	}
}

func TestAUROCByFraction(t *testing.T) {
	var buf bytes.Buffer
	o := Options{Title: "Severe AS, test set", Width: 640, Height: 400}
	if err := AUROCByFraction(&buf, fractionSeries(), o); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, buf.Bytes(), 640, 400)

	// A dashed series in the first series' colour, and a bad style.
	series := fractionSeries()
	probe := series[0]
	probe.Name, probe.Style, probe.Dashed = probe.Name+" (linear probe)", 1, true
	buf.Reset()
	if err := AUROCByFraction(&buf, append(series, probe), o); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, buf.Bytes(), 640, 400)
	probe.Style = -1
	if err := AUROCByFraction(&buf, append(series, probe), o); err == nil {
		t.Error("Style -1 accepted")
	}
}

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	rocPath := filepath.Join(dir, "roc.png")
	if err := os.WriteFile(rocPath, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ROCFile(rocPath, rocCurves(), Options{Width: 300, Height: 300}); err != nil {
		t.Fatal(err)
	}
	fracPath := filepath.Join(dir, "fig2.png")
	if err := AUROCByFractionFile(fracPath, fractionSeries(), Options{}); err != nil {
		t.Fatal(err)
	}
	for path, size := range map[string][2]int{rocPath: {300, 300}, fracPath: {DefaultWidth, DefaultHeight}} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		checkPNG(t, b, size[0], size[1])
	}
	// A failure leaves the old file alone and no temporary file behind.
	if err := ROCFile(rocPath, nil, Options{}); err == nil {
		t.Error("ROCFile with no curves: no error")
	}
	if err := ROCFile(filepath.Join(dir, "missing", "roc.png"), rocCurves(), Options{}); err == nil {
		t.Error("ROCFile into a missing directory: no error")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "fig2.png roc.png" {
		t.Errorf("directory holds %q, want only the two figures", names)
	}
}

func TestErrors(t *testing.T) {
	nan := 0 / zero
	badROC := map[string]struct {
		curves []ROCCurve
		msg    string
	}{
		"none":     {nil, "figures: ROC: nothing to draw: no curves"},
		"noname":   {[]ROCCurve{{FPR: []float64{0, 1}, TPR: []float64{0, 1}, AUROC: 0.5}}, `curve 0 (""): empty name`},
		"lengths":  {[]ROCCurve{{Name: "a", FPR: []float64{0, 1}, TPR: []float64{0}, AUROC: 0.5}}, `curve 0 ("a"): 2 FPR values but 1 TPR values`},
		"onepoint": {[]ROCCurve{{Name: "a", FPR: []float64{0}, TPR: []float64{0}, AUROC: 0.5}}, "1 points, need at least 2"},
		"nan":      {[]ROCCurve{{Name: "a", FPR: []float64{0, nan}, TPR: []float64{0, 1}, AUROC: 0.5}}, "point 1 (NaN, 1) is outside [0, 1]"},
		"auroc":    {[]ROCCurve{{Name: "a", FPR: []float64{0, 1}, TPR: []float64{0, 1}, AUROC: 1.5}}, "AUROC or bound 1.5"},
	}
	for name, c := range badROC {
		err := ROC(&bytes.Buffer{}, c.curves, Options{})
		if err == nil || !strings.HasPrefix(err.Error(), "figures: ROC: ") || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("ROC %s: error %v, want %q", name, err, c.msg)
		}
	}
	pt := func(p, a, l, u float64) []FractionSeries {
		return []FractionSeries{{Name: "a", Points: []FractionPoint{{p, a, l, u}}}}
	}
	badFrac := map[string]struct {
		series []FractionSeries
		msg    string
	}{
		"none":     {nil, "nothing to draw"},
		"nopoints": {[]FractionSeries{{Name: "a"}}, "no points"},
		"zero":     {pt(0, 0.8, 0.7, 0.9), "label fraction 0% is not in (0, 100]"},
		"over":     {pt(150, 0.8, 0.7, 0.9), "label fraction 150%"},
		"outside":  {pt(5, 0.95, 0.7, 0.9), "AUROC 0.95 is not inside its interval 0.7-0.9"},
		"nan":      {pt(5, nan, 0.7, 0.9), "is outside [0, 1]"},
		"twice":    {[]FractionSeries{{Name: "a", Points: []FractionPoint{{5, 0.8, 0.7, 0.9}, {5, 0.8, 0.7, 0.9}}}}, "appears twice"},
	}
	for name, c := range badFrac {
		err := AUROCByFraction(&bytes.Buffer{}, c.series, Options{})
		if err == nil || !strings.HasPrefix(err.Error(), "figures: AUROCByFraction: ") || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("AUROCByFraction %s: error %v, want %q", name, err, c.msg)
		}
	}
	for _, o := range []Options{{Width: -1}, {Width: 5, Height: 5}, {Width: 1 << 20, Height: 1 << 20}, {DPI: -3}} {
		if err := ROC(&bytes.Buffer{}, rocCurves(), o); err == nil {
			t.Errorf("ROC with %+v: no error", o)
		}
	}
}

var zero float64

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, os.ErrClosed }

func TestWriterError(t *testing.T) {
	if err := ROC(failWriter{}, rocCurves(), Options{}); err == nil || !strings.Contains(err.Error(), "figures: ROC: writing PNG") {
		t.Errorf("error %v", err)
	}
}
