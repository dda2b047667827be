package pretrain

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vidssl/vidssl/video"
)

// TestMonitor runs the monitor after every epoch of a short run: each
// epoch's history row carries study-level probe AUROCs, history.csv writes
// and reads them, and a resumed run keeps them.
func TestMonitor(t *testing.T) {
	m := testData(t)
	cfg := tinyConfig(MISimCLRFO)
	cfg.Epochs = 2
	cfg.CheckpointEvery = 1
	cfg.Monitor = &Monitor{Every: 1, Train: m.Subset(video.SplitTrain), Test: heldOut(m), Clips: 2}
	dir := t.TempDir()
	var lines []string
	cfg.Progress = func(p Progress) {
		if p.Done != nil && p.Done.Probed {
			lines = append(lines, "probed")
		}
	}
	res, err := Run(t.Context(), cfg, m, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 2 {
		t.Errorf("progress reported %d probed epochs, want 2", len(lines))
	}
	for _, h := range res.History {
		if !h.Probed || !(h.LinearAUROC >= 0 && h.LinearAUROC <= 1) || !(h.KNNAUROC >= 0 && h.KNNAUROC <= 1) || !(h.HeldOutOrderAccuracy >= 0 && h.HeldOutOrderAccuracy <= 1) {
			t.Errorf("epoch %d: probed %v, linear %v, k-NN %v, held-out order %v", h.Epoch, h.Probed, h.LinearAUROC, h.KNNAUROC, h.HeldOutOrderAccuracy)
		}
	}
	read, err := ReadHistory(filepath.Join(dir, HistoryName))
	if err != nil {
		t.Fatal(err)
	}
	for i := range read {
		read[i].Seconds = res.History[i].Seconds // written with 3 decimals
	}
	if !slices.Equal(read, res.History) {
		t.Errorf("history.csv reads back as %+v, want %+v", read, res.History)
	}
	// Extending the run keeps the probed epochs and probes the new one
	// (Every 2: only the new last epoch).
	cfg.Epochs = 3
	cfg.Monitor.Every = 2
	res, err = Run(t.Context(), cfg, m, dir)
	if err != nil {
		t.Fatal(err)
	}
	if h := res.History; len(h) != 3 || !h[0].Probed || !h[2].Probed || h[0].LinearAUROC != read[0].LinearAUROC {
		t.Errorf("extended history %+v", h)
	}

	bad := cfg
	bad.Monitor = &Monitor{Every: 0, Train: m, Test: m}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "Monitor.Every") {
		t.Errorf("Every 0: %v", err)
	}
	unlabelled := &video.Manifest{Records: []video.Record{{Path: "a.avi", Study: "s", Label: -1, File: "m.csv", Row: 2}}}
	bad.Monitor = &Monitor{Every: 1, Train: unlabelled, Test: m}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "m.csv row 2") {
		t.Errorf("unlabelled training video: %v", err)
	}
}

// heldOut returns the validation and test records of m.
func heldOut(m *video.Manifest) *video.Manifest {
	out := &video.Manifest{}
	for _, r := range m.Records {
		if r.Split == video.SplitVal || r.Split == video.SplitTest {
			out.Records = append(out.Records, r)
		}
	}
	return out
}

// TestVideoFeatures checks that one clip per video gives Features' rows and
// that more clips average rows of the same size.
func TestVideoFeatures(t *testing.T) {
	m := heldOut(testData(t))
	model, err := NewModel(tinyConfig(SimCLR))
	if err != nil {
		t.Fatal(err)
	}
	p := Probe{ClipLength: 4, Seed: 3}
	one, err := p.VideoFeatures(t.Context(), model, m, 0)
	if err != nil {
		t.Fatal(err)
	}
	want, err := p.Features(t.Context(), model, m)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(one, want) {
		t.Error("one clip per video differs from Features")
	}
	three, err := p.VideoFeatures(t.Context(), model, m, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(three) != len(one) || slices.Equal(three, one) {
		t.Errorf("3 clips: %d values (want %d), equal to one clip's: %v", len(three), len(one), slices.Equal(three, one))
	}
	if _, err := p.VideoFeatures(t.Context(), model, &video.Manifest{}, 1); err == nil {
		t.Error("no videos accepted")
	}
}

// TestReadOldHistory reads histories written before the probe columns and
// before the held-out frame-order column.
func TestReadOldHistory(t *testing.T) {
	path := filepath.Join(t.TempDir(), HistoryName)
	os.WriteFile(path, []byte("epoch,steps,loss,ntxent,order,order_accuracy,seconds\n1,3,2.5,2.5,0,0,1.000\n"), 0o644)
	h, err := ReadHistory(path)
	if err != nil || len(h) != 1 || h[0].Probed || h[0].Loss != 2.5 {
		t.Errorf("old history: %+v, %v", h, err)
	}
	os.WriteFile(path, []byte("epoch,steps,loss,ntxent,order,order_accuracy,seconds,linear_auroc,knn_auroc\n1,3,2.5,2.5,0,0,1.000,0.75,0.5\n"), 0o644)
	h, err = ReadHistory(path)
	if err != nil || len(h) != 1 || !h[0].Probed || h[0].LinearAUROC != 0.75 || h[0].KNNAUROC != 0.5 {
		t.Errorf("history with AUROCs: %+v, %v", h, err)
	}
}
