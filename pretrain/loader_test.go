package pretrain

import (
	"reflect"
	"testing"

	"github.com/vidssl/vidssl/video"
)

// TestTrainLoaderIsRuns: TrainLoader gives the batches Run's runner trains
// on, bit for bit (frame-order labels included, with one permutation per
// view and with SharedOrder), and PlanRun's plan.
func TestTrainLoaderIsRuns(t *testing.T) {
	m := testData(t)
	for _, shared := range []bool{false, true} {
		cfg := tinyConfig(MISimCLRFO)
		cfg.SharedOrder = shared
		r, err := newRunner(cfg, m, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		l, p, err := TrainLoader(cfg, m)
		if err != nil {
			t.Fatal(err)
		}
		if want, err := PlanRun(cfg, m); err != nil || !reflect.DeepEqual(p, want) {
			t.Errorf("SharedOrder %v: plan %+v, PlanRun's %+v (%v)", shared, p, want, err)
		}
		var got, want []*video.Step
		for step, err := range l.Batches(t.Context(), 1) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, step)
		}
		for step, err := range r.loader.Batches(t.Context(), 1) {
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, step)
		}
		if len(want) != p.StepsPerEpoch || !reflect.DeepEqual(got, want) {
			t.Errorf("SharedOrder %v: TrainLoader gave %d steps, the runner's loader %d, or other batches", shared, len(got), len(want))
		}
	}
}
