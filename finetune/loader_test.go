package finetune

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/vidssl/vidssl/video"
)

// TestTrainLoaderIsFineTunes: TrainLoader gives the batches FineTune's
// runner trains on, bit for bit, and checks its arguments.
func TestTrainLoaderIsFineTunes(t *testing.T) {
	train, val, _ := synthData(t, 8, 10, 3)
	cfg := tinyConfig()
	cfg.BatchSize = 3
	model, _, err := NewModel(cfg, Init{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := newRunner(cfg, model, train, val)
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	l, err := TrainLoader(cfg, train)
	if err != nil {
		t.Fatal(err)
	}
	var got, want []*video.Step
	for _, x := range []struct {
		l     *video.Loader
		steps *[]*video.Step
	}{{l, &got}, {r.loader, &want}} {
		for step, err := range x.l.Batches(context.Background(), 2) {
			if err != nil {
				t.Fatal(err)
			}
			*x.steps = append(*x.steps, step)
		}
	}
	if len(want) < 2 || !reflect.DeepEqual(got, want) {
		t.Errorf("TrainLoader gave %d steps, the runner's loader %d, or other batches", len(got), len(want))
	}

	if _, err := TrainLoader(cfg, nil); err == nil || !strings.Contains(err.Error(), "no training videos") {
		t.Errorf("nil manifest: error %v", err)
	}
	cfg.ClipLength = 0
	if _, err := TrainLoader(cfg, train); err == nil || !strings.Contains(err.Error(), "ClipLength") {
		t.Errorf("ClipLength 0: error %v", err)
	}
}
