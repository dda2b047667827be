package figures

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// FractionPoint is the AUROC, with its confidence interval [Lower, Upper],
// of a model fine-tuned on Percent percent of the training labels.
type FractionPoint struct {
	Percent             float64 // in (0, 100], e.g. 1, 5, 10, 25, 50, 75, 100
	AUROC, Lower, Upper float64
}

// FractionSeries is one initialisation's AUROCs across label fractions.
type FractionSeries struct {
	Name   string
	Points []FractionPoint
	// Style, when >= 1, gives the series the colour and glyph of series
	// Style-1 instead of its own (so that two evaluations of one
	// initialisation share a colour); 0 means the series' own index.
	Style int
	// Dashed draws the line dashed (for example a linear probe next to
	// fine-tuning).
	Dashed bool
}

func checkFraction(fn string, series []FractionSeries) error {
	if len(series) == 0 {
		return fmt.Errorf("figures: %s: %w: no series", fn, errNoData)
	}
	for k, s := range series {
		where := fmt.Sprintf("figures: %s: series %d (%q)", fn, k, s.Name)
		if s.Name == "" {
			return fmt.Errorf("%s: empty name", where)
		}
		if len(s.Points) == 0 {
			return fmt.Errorf("%s: %w: no points", where, errNoData)
		}
		if s.Style < 0 {
			return fmt.Errorf("%s: Style %d, want >= 0", where, s.Style)
		}
		seen := make(map[float64]bool)
		for i, pt := range s.Points {
			if !(pt.Percent > 0 && pt.Percent <= 100) {
				return fmt.Errorf("%s: point %d: label fraction %v%% is not in (0, 100]", where, i, pt.Percent)
			}
			if seen[pt.Percent] {
				return fmt.Errorf("%s: point %d: label fraction %v%% appears twice", where, i, pt.Percent)
			}
			seen[pt.Percent] = true
			if !in01(pt.AUROC) || !in01(pt.Lower) || !in01(pt.Upper) {
				return fmt.Errorf("%s: point %d: AUROC %v (%v-%v) is outside [0, 1]", where, i, pt.AUROC, pt.Lower, pt.Upper)
			}
			if !(pt.Lower <= pt.AUROC && pt.AUROC <= pt.Upper) {
				return fmt.Errorf("%s: point %d: AUROC %v is not inside its interval %v-%v", where, i, pt.AUROC, pt.Lower, pt.Upper)
			}
		}
	}
	return nil
}

// AUROCByFraction draws AUROC against the percentage of training labels,
// one line per series (initialisation) with confidence-interval error bars,
// like Figure 2 of the paper, and writes the PNG to w. The x axis is
// logarithmic, with a tick at every fraction present. So that error bars at
// the same fraction do not hide one another, series are shifted sideways by
// a small constant factor (about 2% of the fraction per series); the ticks
// stay at the true fractions.
func AUROCByFraction(w io.Writer, series []FractionSeries, o Options) error {
	return drawFraction("AUROCByFraction", w, series, o)
}

// AUROCByFractionFile is AUROCByFraction writing to the file at path,
// atomically.
func AUROCByFractionFile(path string, series []FractionSeries, o Options) error {
	return writeFile("AUROCByFractionFile", path, func(w io.Writer) error {
		return drawFraction("AUROCByFractionFile", w, series, o)
	})
}

// errPoints implements plotter.XYer and plotter.YErrorer.
type errPoints struct {
	plotter.XYs
	plotter.YErrors
}

func drawFraction(fn string, w io.Writer, series []FractionSeries, o Options) error {
	o, err := o.resolve(fn)
	if err != nil {
		return err
	}
	if err := checkFraction(fn, series); err != nil {
		return err
	}
	p := plot.New()
	p.Title.Text = o.Title
	p.X.Label.Text = "Training labels (%)"
	p.Y.Label.Text = "Test AUROC"
	p.X.Scale = plot.LogScale{}
	p.Add(plotter.NewGrid())

	var percents []float64
	ymin, ymax := math.Inf(1), math.Inf(-1)
	for _, s := range series {
		for _, pt := range s.Points {
			percents = append(percents, pt.Percent)
			ymin, ymax = math.Min(ymin, pt.Lower), math.Max(ymax, pt.Upper)
		}
	}
	slices.Sort(percents)
	percents = slices.Compact(percents)
	ticks := make(plot.ConstantTicks, len(percents))
	for i, x := range percents {
		ticks[i] = plot.Tick{Value: x, Label: strconv.FormatFloat(x, 'g', -1, 64)}
	}
	p.X.Tick.Marker = ticks
	// Half a shift step of margin beyond the outermost series, in log space.
	const step = 0.01 // log10 units between neighbouring series
	margin := math.Pow(10, step*float64(len(series)+2))
	p.X.Min, p.X.Max = percents[0]/margin, percents[len(percents)-1]*margin
	pad := math.Max(0.02, 0.05*(ymax-ymin))
	p.Y.Min, p.Y.Max = math.Max(0, ymin-pad), math.Min(1, ymax+pad)

	for k, s := range series {
		pts := slices.Clone(s.Points)
		slices.SortFunc(pts, func(a, b FractionPoint) int {
			switch {
			case a.Percent < b.Percent:
				return -1
			case a.Percent > b.Percent:
				return 1
			}
			return 0
		})
		shift := math.Pow(10, step*(float64(k)-float64(len(series)-1)/2))
		e := errPoints{XYs: make(plotter.XYs, len(pts)), YErrors: make(plotter.YErrors, len(pts))}
		for i, pt := range pts {
			e.XYs[i] = plotter.XY{X: pt.Percent * shift, Y: pt.AUROC}
			e.YErrors[i].Low, e.YErrors[i].High = pt.AUROC-pt.Lower, pt.Upper-pt.AUROC
		}
		where := fmt.Sprintf("figures: %s: series %d (%q)", fn, k, s.Name)
		line, scatter, err := plotter.NewLinePoints(e.XYs)
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		bars, err := plotter.NewYErrorBars(e)
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		si := k
		if s.Style > 0 {
			si = s.Style - 1
		}
		c, shape := style(si)
		line.Color, line.Width = c, vg.Points(1.5)
		if s.Dashed {
			line.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		}
		scatter.Color, scatter.Shape, scatter.Radius = c, shape, vg.Points(3)
		bars.Color, bars.Width = c, vg.Points(1)
		bars.CapWidth = vg.Points(6)
		p.Add(bars, line, scatter)
		p.Legend.Add(s.Name, line, scatter)
	}
	p.Legend.Top, p.Legend.Left = false, false
	p.Legend.XOffs, p.Legend.YOffs = -vg.Points(6), vg.Points(6)
	return render(fn, p, w, o)
}
