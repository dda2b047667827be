package main

import (
	"context"
	"encoding/csv"
	"image/png"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTinyPipeline runs the whole pipeline with the tiny preset and checks
// that every artifact exists and parses, then that a rerun skips the work.
func TestTinyPipeline(t *testing.T) {
	out := t.TempDir()
	o := options{Preset: "tiny", Out: out, Stages: "all", Device: "cpu", Workers: 2, Quiet: true}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := run(context.Background(), o, log); err != nil {
		t.Fatal(err)
	}
	inits := []string{"Random", "SimCLR", "MI-SimCLR", "MI-SimCLR+FO"}

	rows := readCSV(t, filepath.Join(out, "results.csv"))
	wantHeader := []string{"initialisation", "fraction", "train_studies", "level", "n", "positives", "auroc", "auroc_lower", "auroc_upper"}
	for i, h := range wantHeader {
		if rows[0][i] != h {
			t.Fatalf("results.csv column %d is %q, want %q", i, rows[0][i], h)
		}
	}
	// 4 initialisations x 2 fractions x 2 levels.
	if len(rows)-1 != len(inits)*2*2 {
		t.Errorf("results.csv has %d rows, want %d", len(rows)-1, len(inits)*2*2)
	}
	cmp := readCSV(t, filepath.Join(out, "comparisons.csv"))
	if len(cmp)-1 != (len(inits)-1)*2 {
		t.Errorf("comparisons.csv has %d rows, want %d", len(cmp)-1, (len(inits)-1)*2)
	}
	for _, name := range []string{"figure2.png", "figure3.png", "roc-10.png", "roc-100.png"} {
		f, err := os.Open(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if b := img.Bounds(); b.Dx() < 100 || b.Dy() < 100 {
			t.Errorf("%s is only %dx%d", name, b.Dx(), b.Dy())
		}
	}
	summary, err := os.ReadFile(filepath.Join(out, "summary.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range inits {
		if !strings.Contains(string(summary), "| "+name+" |") {
			t.Errorf("summary.md has no row for %s", name)
		}
	}
	for _, name := range inits {
		if _, err := os.Stat(filepath.Join(out, "finetune", name, "100%", "history.csv")); err != nil {
			t.Errorf("no fine-tuning history: %v", err)
		}
	}
	for _, m := range []string{"simclr", "mi-simclr", "mi-simclr-fo"} {
		if _, err := os.Stat(filepath.Join(out, "pretrain", m, "history.csv")); err != nil {
			t.Errorf("no pretraining history: %v", err)
		}
	}

	// A rerun with the same settings finds every result and redoes nothing.
	before, err := os.Stat(filepath.Join(out, "finetune", "Random", "100%", "metrics.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), o, log); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(filepath.Join(out, "finetune", "Random", "100%", "metrics.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !after.ModTime().Equal(before.ModTime()) {
		t.Error("a rerun with the same settings fine-tuned again")
	}
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
		t.Fatalf("%s: %v", path, err)
	}
	if len(rows) < 2 {
		t.Fatalf("%s has no data rows", path)
	}
	return rows
}

func TestBadOptions(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, o := range []options{
		{Preset: "huge", Out: t.TempDir(), Stages: "all", Device: "cpu", Workers: 1},
		{Preset: "tiny", Out: t.TempDir(), Stages: "train", Device: "cpu", Workers: 1},
		{Preset: "tiny", Out: t.TempDir(), Stages: "all", Device: "tpu", Workers: 1},
		{Preset: "tiny", Out: t.TempDir(), Stages: "all", Device: "cpu", Workers: 1, Data: filepath.Join(t.TempDir(), "missing")},
	} {
		if err := run(context.Background(), o, log); err == nil {
			t.Errorf("options %+v gave no error", o)
		}
	}
}
