package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vidssl/vidssl/figures"
)

// seedRow is one study-level AUROC of one seed's results.csv.
type seedRow struct {
	Init, Eval string
	Fraction   float64
	AUROC      float64
}

// seedComparison is one row of one seed's comparisons.csv.
type seedComparison struct {
	Init, Eval string
	Fraction   float64
	Diff, P    float64
}

// combine reads the results of runs with different seeds (their -out
// directories) and writes, to out, seeds.csv and seeds.md (the mean and the
// spread over seeds of every study-level AUROC and paired difference) and
// figure2-seeds.png.
func combine(dirs []string, out string) error {
	if len(dirs) < 2 {
		return fmt.Errorf("-combine: %d directories, want at least 2", len(dirs))
	}
	runs := make([][]seedRow, len(dirs))
	comps := make([][]seedComparison, len(dirs))
	for i, d := range dirs {
		var err error
		if runs[i], err = readSeedResults(filepath.Join(d, "results.csv")); err != nil {
			return err
		}
		if comps[i], err = readSeedComparisons(filepath.Join(d, "comparisons.csv")); err != nil {
			return err
		}
	}
	type key struct {
		Init, Eval string
		Fraction   float64
	}
	var keys []key
	auroc := map[key][]float64{}
	for _, rows := range runs {
		for _, r := range rows {
			k := key{r.Init, r.Eval, r.Fraction}
			if _, ok := auroc[k]; !ok {
				keys = append(keys, k)
			}
			auroc[k] = append(auroc[k], r.AUROC)
		}
	}
	diff := map[key][]seedComparison{}
	for _, cs := range comps {
		for _, c := range cs {
			k := key{c.Init, c.Eval, c.Fraction}
			diff[k] = append(diff[k], c)
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Study-level test AUROC over %d seeds\n\nWritten %s by `go run ./examples/aorticstenosis -combine %s -out %s`.\n\n",
		len(dirs), time.Now().UTC().Format(time.RFC3339), strings.Join(dirs, ","), out)
	b.WriteString("Each cell is the mean over seeds, ± the sample standard deviation, and [the smallest, the largest]. " +
		"A seed draws its own synthetic data set, label subsets, initialisations and data order.\n\n")
	var fractions []float64
	var evals, inits []string
	for _, k := range keys {
		fractions = append(fractions, k.Fraction)
		if !slices.Contains(evals, k.Eval) {
			evals = append(evals, k.Eval)
		}
		if !slices.Contains(inits, k.Init) {
			inits = append(inits, k.Init)
		}
	}
	slices.Sort(fractions)
	fractions = slices.Compact(fractions)
	var series []figures.FractionSeries
	for _, ev := range evals {
		fmt.Fprintf(&b, "## %s\n\n| initialisation |", ev)
		for _, f := range fractions {
			fmt.Fprintf(&b, " %s |", pctName(f))
		}
		b.WriteString("\n| --- |" + strings.Repeat(" --- |", len(fractions)) + "\n")
		for k, in := range inits {
			fmt.Fprintf(&b, "| %s |", in)
			s := figures.FractionSeries{Name: in, Style: k + 1, Dashed: ev != evalFineTune}
			if ev != evalFineTune {
				s.Name += ", " + ev
			}
			for _, f := range fractions {
				v := auroc[key{in, ev, f}]
				if len(v) == 0 {
					b.WriteString(" - |")
					continue
				}
				mean, sd := meanSD(v)
				fmt.Fprintf(&b, " %.3f ± %.3f [%.3f, %.3f] (n=%d) |", mean, sd, slices.Min(v), slices.Max(v), len(v))
				s.Points = append(s.Points, figures.FractionPoint{Percent: f * 100, AUROC: mean, Lower: slices.Min(v), Upper: slices.Max(v)})
			}
			b.WriteString("\n")
			if len(s.Points) > 0 {
				series = append(series, s)
			}
		}
		b.WriteString("\n")
	}
	b.WriteString("## Paired differences with Random\n\nMean AUROC difference over seeds, its range, and in how many seeds the paired bootstrap found " +
		"the initialisation better (difference > 0, p < 0.05) or worse (difference < 0, p < 0.05) than Random.\n\n" +
		"| initialisation | evaluation | fraction | mean difference | range | better | worse | seeds |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n")
	var rows [][]string
	for _, k := range keys {
		cs := diff[k]
		if len(cs) == 0 {
			continue
		}
		var ds []float64
		better, worse := 0, 0
		for _, c := range cs {
			ds = append(ds, c.Diff)
			if c.P < 0.05 && c.Diff > 0 {
				better++
			}
			if c.P < 0.05 && c.Diff < 0 {
				worse++
			}
		}
		mean, _ := meanSD(ds)
		fmt.Fprintf(&b, "| %s | %s | %s | %+.3f | %+.3f to %+.3f | %d | %d | %d |\n", k.Init, k.Eval, pctName(k.Fraction), mean, slices.Min(ds), slices.Max(ds), better, worse, len(cs))
		rows = append(rows, []string{k.Init, k.Eval, fmt.Sprint(k.Fraction), f4(mean), f4(slices.Min(ds)), f4(slices.Max(ds)), strconv.Itoa(better), strconv.Itoa(worse), strconv.Itoa(len(cs))})
	}
	b.WriteString("\n![AUROC by label fraction, mean over seeds; bars: smallest to largest](figure2-seeds.png)\n")
	if err := writePretrainingSeeds(&b, dirs); err != nil {
		return err
	}
	err := writeFileAtomic(filepath.Join(out, "seeds.csv"), func(w io.Writer) error {
		cw := csv.NewWriter(w)
		cw.Write([]string{"initialisation", "evaluation", "fraction", "mean_auroc", "sd_auroc", "min_auroc", "max_auroc", "seeds"})
		for _, k := range keys {
			v := auroc[k]
			mean, sd := meanSD(v)
			cw.Write([]string{k.Init, k.Eval, fmt.Sprint(k.Fraction), f4(mean), f4(sd), f4(slices.Min(v)), f4(slices.Max(v)), strconv.Itoa(len(v))})
		}
		cw.Write(nil)
		cw.Write([]string{"initialisation", "evaluation", "fraction", "mean_difference", "min_difference", "max_difference", "better", "worse", "seeds"})
		for _, r := range rows {
			cw.Write(r)
		}
		cw.Flush()
		return cw.Error()
	})
	if err != nil {
		return err
	}
	if err := figures.AUROCByFractionFile(filepath.Join(out, "figure2-seeds.png"), series,
		figures.Options{Title: fmt.Sprintf("Study-level test AUROC, mean of %d seeds (bars: range; dashed: linear probe)", len(dirs))}); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(out, "seeds.md"), func(w io.Writer) error {
		_, err := io.WriteString(w, b.String())
		return err
	})
}

// meanSD returns the mean and the sample standard deviation (0 for one
// value).
func meanSD(v []float64) (mean, sd float64) {
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	if len(v) < 2 {
		return mean, 0
	}
	for _, x := range v {
		sd += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(sd / float64(len(v)-1))
}

// readCSVColumns reads a CSV file and returns its rows as maps from the
// header's names, checking that want are among them.
func readCSVColumns(path string, want ...string) ([]map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s: empty", path)
	}
	for _, w := range want {
		if !slices.Contains(rows[0], w) {
			return nil, fmt.Errorf("%s: no column %q (written by an older version? rerun its report stage)", path, w)
		}
	}
	var out []map[string]string
	for _, r := range rows[1:] {
		m := map[string]string{}
		for i, h := range rows[0] {
			if i < len(r) {
				m[h] = r[i]
			}
		}
		out = append(out, m)
	}
	return out, nil
}

func readSeedResults(path string) ([]seedRow, error) {
	rows, err := readCSVColumns(path, "initialisation", "evaluation", "fraction", "level", "auroc")
	if err != nil {
		return nil, err
	}
	var out []seedRow
	for i, r := range rows {
		if r["level"] != "study" {
			continue
		}
		f, err1 := strconv.ParseFloat(r["fraction"], 64)
		a, err2 := strconv.ParseFloat(r["auroc"], 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s: row %d: bad fraction %q or AUROC %q", path, i+2, r["fraction"], r["auroc"])
		}
		out = append(out, seedRow{Init: r["initialisation"], Eval: r["evaluation"], Fraction: f, AUROC: a})
	}
	return out, nil
}

func readSeedComparisons(path string) ([]seedComparison, error) {
	rows, err := readCSVColumns(path, "initialisation", "evaluation", "fraction", "auroc_difference", "paired_bootstrap_p")
	if err != nil {
		return nil, err
	}
	var out []seedComparison
	for i, r := range rows {
		f, err1 := strconv.ParseFloat(r["fraction"], 64)
		d, err2 := strconv.ParseFloat(r["auroc_difference"], 64)
		p, err3 := strconv.ParseFloat(r["paired_bootstrap_p"], 64)
		if err1 != nil || err2 != nil || err3 != nil {
			return nil, fmt.Errorf("%s: row %d: bad number", path, i+2)
		}
		out = append(out, seedComparison{Init: r["initialisation"], Eval: r["evaluation"], Fraction: f, Diff: d, P: p})
	}
	return out, nil
}

// writePretrainingSeeds appends to b, when the runs in dirs kept their
// pretraining histories (DIR/pretrain/METHOD/history.csv), each seed's
// pretraining outcome at its last epoch: whether each objective learned in
// every seed. Runs without histories add nothing.
func writePretrainingSeeds(b *strings.Builder, dirs []string) error {
	type line struct{ method, text string }
	var lines []line
	for _, d := range dirs {
		paths, err := filepath.Glob(filepath.Join(d, "pretrain", "*", "history.csv"))
		if err != nil {
			return err
		}
		slices.Sort(paths)
		for _, path := range paths {
			rows, err := readCSVColumns(path, "epoch", "ntxent", "order", "held_out_order_accuracy", "linear_auroc", "knn_auroc")
			if err != nil {
				return err
			}
			if len(rows) == 0 {
				continue
			}
			first, last := rows[0], rows[len(rows)-1]
			order, acc := num(last["order"]), num(last["held_out_order_accuracy"])
			if v, err := strconv.ParseFloat(last["order"], 64); err == nil && v == 0 {
				order, acc = "-", "-" // a method without frame order
			}
			method := filepath.Base(filepath.Dir(path))
			lines = append(lines, line{method, fmt.Sprintf("| %s | %s | %s | %s → %s | %s | %s | %s | %s |",
				method, d, last["epoch"], num(first["ntxent"]), num(last["ntxent"]),
				order, acc, num(last["linear_auroc"]), num(last["knn_auroc"]))})
		}
	}
	if len(lines) == 0 {
		return nil
	}
	b.WriteString("\n## Pretraining, each seed at its last epoch\n\n" +
		"From each run's pretrain/METHOD/history.csv (NT-Xent and order loss: the epoch's mean over training steps). " +
		"NT-Xent's no-information value is ln(2N-1) for N pairs a batch (ln 63 = 4.14 for 32); an order loss of ln 24 = 3.18 and a held-out order accuracy of 1/24 = 0.042 are chance for 4-frame clips. " +
		"The monitor's linear-probe and k-NN AUROC are on the validation studies; a dash: not measured.\n\n" +
		"| method | run | epochs | NT-Xent, first → last epoch | order loss | held-out order accuracy | monitor linear AUROC | monitor k-NN AUROC |\n" +
		"| --- | --- | --- | --- | --- | --- | --- | --- |\n")
	slices.SortStableFunc(lines, func(x, y line) int { return strings.Compare(x.method, y.method) })
	for _, l := range lines {
		b.WriteString(l.text + "\n")
	}
	return nil
}

// num formats a history's number with three decimals, or a dash when the
// cell is empty or not a number.
func num(s string) string {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return "-"
	}
	return fmt.Sprintf("%.3f", v)
}
