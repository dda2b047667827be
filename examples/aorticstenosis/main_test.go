package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"image/png"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vidssl/vidssl/gpu"
	"github.com/vidssl/vidssl/pretrain"
	"github.com/vidssl/vidssl/video"
)

// TestTinyPipeline runs the whole pipeline with the tiny preset and checks
// that every artifact exists and parses, then that a rerun skips the work.
func TestTinyPipeline(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the whole pipeline")
	}
	out := t.TempDir()
	o := options{Preset: "tiny", Out: out, Stages: "all", Device: "cpu", Workers: 2, Quiet: true}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := run(context.Background(), o, log); err != nil {
		t.Fatal(err)
	}
	inits := []string{"Random", "SimCLR", "MI-SimCLR", "MI-SimCLR+FO"}

	rows := readCSV(t, filepath.Join(out, "results.csv"))
	wantHeader := []string{"initialisation", "evaluation", "fraction", "train_studies", "level", "n", "positives", "auroc", "auroc_lower", "auroc_upper"}
	for i, h := range wantHeader {
		if rows[0][i] != h {
			t.Fatalf("results.csv column %d is %q, want %q", i, rows[0][i], h)
		}
	}
	// 4 initialisations x 2 fractions x (fine-tuning at 2 levels + the
	// linear probe at study level).
	if len(rows)-1 != len(inits)*2*3 {
		t.Errorf("results.csv has %d rows, want %d", len(rows)-1, len(inits)*2*3)
	}
	probes := 0
	for _, r := range rows[1:] {
		if r[1] == "linear probe" {
			probes++
			if r[4] != "study" {
				t.Errorf("a linear probe row at level %q", r[4])
			}
		}
	}
	if probes != len(inits)*2 {
		t.Errorf("results.csv has %d linear probe rows, want %d", probes, len(inits)*2)
	}
	// Both evaluations compare 3 initialisations with Random at 2 fractions.
	cmp := readCSV(t, filepath.Join(out, "comparisons.csv"))
	if len(cmp)-1 != (len(inits)-1)*2*2 {
		t.Errorf("comparisons.csv has %d rows, want %d", len(cmp)-1, (len(inits)-1)*2*2)
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
	for i, name := range inits {
		// A fine-tuning and a linear-probe row; the self-supervised ones
		// also have a pretraining row and 2 x 2 comparisons.
		want := 2
		if i > 0 {
			want = 7
		}
		if n := strings.Count(string(summary), "| "+name+" |"); n != want {
			t.Errorf("summary.md has %d rows for %s, want %d", n, name, want)
		}
	}
	// The pretraining monitor probed every epoch (tiny: 1 epoch).
	hist, err := pretrain.ReadHistory(filepath.Join(out, "pretrain", "mi-simclr-fo", pretrain.HistoryName))
	if err != nil || len(hist) == 0 || !hist[len(hist)-1].Probed {
		t.Errorf("MI-SimCLR+FO's last epoch was not probed: %+v %v", hist, err)
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
	probePath := filepath.Join(out, "probe", "SimCLR", "10%", "metrics.json")
	probeBefore, err := os.Stat(probePath)
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
	if probeAfter, err := os.Stat(probePath); err != nil || !probeAfter.ModTime().Equal(probeBefore.ModTime()) {
		t.Errorf("a rerun with the same settings probed again (%v)", err)
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
		{Preset: "tiny", Out: t.TempDir(), Stages: "all", Device: "cpu", Workers: 1, PretrainOn: "test"},
	} {
		if err := run(context.Background(), o, log); err == nil {
			t.Errorf("options %+v gave no error", o)
		}
	}
}

// TestDeviceChoice: -device cuda without a usable GPU stops with the reason
// before anything runs; auto falls back to the CPU.
func TestDeviceChoice(t *testing.T) {
	if gpu.CUDAAvailable() == nil {
		t.Skip("this machine has a usable GPU")
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	out := t.TempDir()
	err := run(context.Background(), options{Preset: "tiny", Out: out, Stages: "all", Device: "cuda", Workers: 1}, log)
	if err == nil || !strings.HasPrefix(err.Error(), "-device cuda: cuda: ") {
		t.Fatalf("-device cuda: %v, want an error saying why CUDA cannot be used", err)
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("-device cuda failed but wrote %d entries in the output directory", len(entries))
	}
	e, err := openDevice("auto", log)
	if e != nil || err != nil {
		t.Errorf("openDevice(auto) = %v, %v; want the CPU (nil, nil)", e, err)
	}
}

// TestBadDataStopsBeforeTraining checks that a manifest with a missing video
// file, a missing label column or a split without a positive study stops the
// pipeline, before any training, with an error that says so.
func TestBadDataStopsBeforeTraining(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	write := func(dir, csv string) {
		if err := os.WriteFile(filepath.Join(dir, "manifest.csv"), []byte(csv), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	touch := func(dir string, names ...string) {
		for _, n := range names {
			if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, c := range []struct {
		name, csv string
		files     []string
		want      string
	}{
		{"missing file", "path,patient_id,study_id,label,split\na.avi,p1,s1,1,train\nb.avi,p2,s2,0,train\n", []string{"a.avi"}, "b.avi"},
		{"no label column", "path,patient_id,study_id,split\na.avi,p1,s1,train\n", []string{"a.avi"}, "label"},
		{"no positive", "path,patient_id,study_id,label,split\n" +
			"a.avi,p1,s1,1,train\nb.avi,p2,s2,0,train\nc.avi,p3,s3,1,val\nd.avi,p4,s4,0,val\ne.avi,p5,s5,0,test\nf.avi,p6,s6,0,test\n",
			[]string{"a.avi", "b.avi", "c.avi", "d.avi", "e.avi", "f.avi"}, "test split has no positive"},
	} {
		t.Run(c.name, func(t *testing.T) {
			data, out := t.TempDir(), t.TempDir()
			write(data, c.csv)
			touch(data, c.files...)
			o := options{Preset: "tiny", Out: out, Data: data, Stages: "all", Device: "cpu", Workers: 1, Quiet: true}
			err := run(context.Background(), o, log)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one mentioning %q", err, c.want)
			}
			if _, err := os.Stat(filepath.Join(out, "pretrain")); err == nil {
				t.Error("training started")
			}
		})
	}
}

// TestStagesInParts runs the tiny pipeline in three parts, as a user would
// on different days or machines: data, then data and pretraining, then
// fine-tuning, then Grad-CAM and the report. Each part does its work and
// succeeds, does nothing after its last stage, and reads what the parts
// before it wrote.
func TestStagesInParts(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the whole pipeline in parts")
	}
	out := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	exists := func(rel string) bool {
		_, err := os.Stat(filepath.Join(out, rel))
		return err == nil
	}
	for _, step := range []struct {
		stages       string
		want, absent []string
	}{
		{"data", []string{"data/manifest.csv"}, []string{"pretrain", "finetune", "results.csv"}},
		{"data,pretrain", []string{"pretrain/mi-simclr-fo/history.csv"}, []string{"finetune", "results.csv"}},
		{"finetune", []string{"finetune/Random/100%/metrics.json", "finetune/MI-SimCLR+FO/100%/metrics.json"}, []string{"figure3.png", "results.csv"}},
		{"gradcam,report", []string{"figure3.png", "results.csv", "summary.md"}, nil},
	} {
		o := options{Preset: "tiny", Out: out, Stages: step.stages, Device: "cpu", Workers: 2, Quiet: true}
		if err := run(context.Background(), o, log); err != nil {
			t.Fatalf("-stages %s: %v", step.stages, err)
		}
		for _, p := range step.want {
			if !exists(p) {
				t.Errorf("-stages %s: no %s", step.stages, p)
			}
		}
		for _, p := range step.absent {
			if exists(p) {
				t.Errorf("-stages %s wrote %s", step.stages, p)
			}
		}
	}
	// A stage whose inputs were never made says which stage to run first.
	o := options{Preset: "tiny", Out: t.TempDir(), Stages: "finetune", Device: "cpu", Workers: 2, Quiet: true}
	if err := run(context.Background(), o, log); err == nil || !strings.Contains(err.Error(), "run the data stage first") {
		t.Errorf("-stages finetune on an empty directory: %v", err)
	}
}

// TestUnreadableVideosBeforeTraining truncates two videos of a data set and
// checks that the check before training lists both with their rows, and
// that -unreadable skip goes on without them.
func TestUnreadableVideosBeforeTraining(t *testing.T) {
	gen := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := run(context.Background(), options{Preset: "tiny", Out: gen, Stages: "data", Device: "cpu", Workers: 2, Quiet: true}, log); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(gen, "data")
	rows := readCSV(t, filepath.Join(data, "manifest.csv"))
	var bad []string
	for _, row := range rows[1:3] {
		path := filepath.Join(data, row[0])
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b[:len(b)/3], 0o644); err != nil {
			t.Fatal(err)
		}
		bad = append(bad, path)
	}
	for _, stages := range []string{"data", "pretrain"} {
		out := t.TempDir()
		o := options{Preset: "tiny", Out: out, Data: data, Stages: stages, Device: "cpu", Workers: 2, Quiet: true}
		err := run(context.Background(), o, log)
		if err == nil {
			t.Fatalf("-stages %s: no error", stages)
		}
		for i, p := range bad {
			want := fmt.Sprintf("manifest.csv row %d: video: read %s", i+2, p)
			if !strings.Contains(err.Error(), want) {
				t.Errorf("-stages %s: error lacks %q:\n%v", stages, want, err)
			}
		}
		if _, err := os.Stat(filepath.Join(out, "pretrain")); err == nil {
			t.Errorf("-stages %s: training started", stages)
		}
	}
	var logged strings.Builder
	o := options{Preset: "tiny", Out: t.TempDir(), Data: data, Stages: "data", Device: "cpu", Workers: 2, Quiet: true, Unreadable: "skip"}
	if err := run(context.Background(), o, slog.New(slog.NewTextHandler(&logged, nil))); err != nil {
		t.Fatalf("-unreadable skip: %v", err)
	}
	if !strings.Contains(logged.String(), "skipped=2") {
		t.Errorf("-unreadable skip did not log two skipped videos:\n%s", logged.String())
	}
}

// TestPretrainOnAll: -pretrain-on all pretrains on every record, in
// OUT/pretrain-all, and logs each method's plan (records, pairs, steps per
// epoch) before it trains; the default logs the training split's.
func TestPretrainOnAll(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: pretrains three methods")
	}
	out := t.TempDir()
	for _, on := range []string{"all", "train"} {
		var logged strings.Builder
		log := slog.New(slog.NewTextHandler(&logged, nil))
		o := options{Preset: "tiny", Out: out, Stages: "data,pretrain", Device: "cpu", Workers: 2, Quiet: true, PretrainOn: on}
		if err := run(context.Background(), o, log); err != nil {
			t.Fatalf("-pretrain-on %s: %v", on, err)
		}
		m, err := video.ReadManifest(filepath.Join(out, "data", "manifest.csv"), video.OurColumns)
		if err != nil {
			t.Fatal(err)
		}
		records, splits, dir := len(m.Records), `splits=,ext_test,test,train,unlabelled,val`, "pretrain-all"
		if on == "train" {
			records, splits, dir = len(m.Subset(video.SplitTrain).Records), "splits=train", "pretrain"
		}
		want := fmt.Sprintf("msg=pretraining method=MI-SimCLR+FO %s records=%d ", splits, records)
		if !strings.Contains(logged.String(), want) || !strings.Contains(logged.String(), "steps per epoch") {
			t.Errorf("-pretrain-on %s: log lacks %q:\n%s", on, want, logged.String())
		}
		if _, err := os.Stat(filepath.Join(out, dir, "mi-simclr-fo", "history.csv")); err != nil {
			t.Errorf("-pretrain-on %s: %v", on, err)
		}
	}
}
