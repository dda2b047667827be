package figures

import (
	"fmt"
	"image/color"
	"io"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// ROCCurve is one named ROC curve: points (FPR[i], TPR[i]) in drawing
// order, as metrics.ROC returns them, and the AUROC shown in the legend.
// When Upper > Lower, the legend also shows the interval [Lower, Upper].
type ROCCurve struct {
	Name         string
	FPR, TPR     []float64
	AUROC        float64
	Lower, Upper float64
}

func (c ROCCurve) legend() string {
	if c.Upper > c.Lower {
		return fmt.Sprintf("%s (AUROC %.3f, %.3f-%.3f)", c.Name, c.AUROC, c.Lower, c.Upper)
	}
	return fmt.Sprintf("%s (AUROC %.3f)", c.Name, c.AUROC)
}

func checkROC(fn string, curves []ROCCurve) error {
	if len(curves) == 0 {
		return fmt.Errorf("figures: %s: %w: no curves", fn, errNoData)
	}
	for k, c := range curves {
		where := fmt.Sprintf("figures: %s: curve %d (%q)", fn, k, c.Name)
		if c.Name == "" {
			return fmt.Errorf("%s: empty name", where)
		}
		if len(c.FPR) != len(c.TPR) {
			return fmt.Errorf("%s: %d FPR values but %d TPR values", where, len(c.FPR), len(c.TPR))
		}
		if len(c.FPR) < 2 {
			return fmt.Errorf("%s: %d points, need at least 2", where, len(c.FPR))
		}
		for i := range c.FPR {
			if !in01(c.FPR[i]) || !in01(c.TPR[i]) {
				return fmt.Errorf("%s: point %d (%v, %v) is outside [0, 1]", where, i, c.FPR[i], c.TPR[i])
			}
		}
		for _, v := range []float64{c.AUROC, c.Lower, c.Upper} {
			if !in01(v) {
				return fmt.Errorf("%s: AUROC or bound %v is outside [0, 1]", where, v)
			}
		}
	}
	return nil
}

func in01(x float64) bool { return x >= 0 && x <= 1 }

// ROC draws ROC curves, one line per curve in the order given, with a
// dashed diagonal for chance, and writes the PNG to w.
func ROC(w io.Writer, curves []ROCCurve, o Options) error {
	return drawROC("ROC", w, curves, o)
}

// ROCFile is ROC writing to the file at path, atomically.
func ROCFile(path string, curves []ROCCurve, o Options) error {
	return writeFile("ROCFile", path, func(w io.Writer) error { return drawROC("ROCFile", w, curves, o) })
}

func drawROC(fn string, w io.Writer, curves []ROCCurve, o Options) error {
	o, err := o.resolve(fn)
	if err != nil {
		return err
	}
	if err := checkROC(fn, curves); err != nil {
		return err
	}
	p := plot.New()
	p.Title.Text = o.Title
	p.X.Label.Text = "False positive rate (1 - specificity)"
	p.Y.Label.Text = "True positive rate (sensitivity)"
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
	p.Add(plotter.NewGrid())

	chance, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 1}})
	if err != nil {
		return fmt.Errorf("figures: %s: %w", fn, err)
	}
	chance.Color = color.Gray{Y: 128}
	chance.Dashes = []vg.Length{vg.Points(4), vg.Points(4)}
	p.Add(chance)

	for k, c := range curves {
		xy := make(plotter.XYs, len(c.FPR))
		for i := range xy {
			xy[i] = plotter.XY{X: c.FPR[i], Y: c.TPR[i]}
		}
		l, err := plotter.NewLine(xy)
		if err != nil {
			return fmt.Errorf("figures: %s: curve %d (%q): %w", fn, k, c.Name, err)
		}
		l.Color, _ = style(k)
		l.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(c.legend(), l)
	}
	p.Legend.Add("Chance", chance)
	p.Legend.Top, p.Legend.Left = false, false
	p.Legend.XOffs, p.Legend.YOffs = -vg.Points(6), vg.Points(6)
	return render(fn, p, w, o)
}
