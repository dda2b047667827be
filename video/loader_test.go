package video_test

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vidssl/vidssl/video"
)

// fakeVideos decodes paths into synthetic videos: the path fixes the size
// (12..27 frames of 16 x 20 grey pixels) and contents, so any two decodes of a
// path agree. It counts decodes and fails for paths that start with "bad".
type fakeVideos struct {
	decodes atomic.Int64
	delay   time.Duration
}

func (f *fakeVideos) decode(path string) (*video.Video, error) {
	f.decodes.Add(1)
	if f.delay > 0 {
		time.Sleep(f.delay)
	}
	if strings.HasPrefix(path, "bad") {
		return nil, errors.New("unsupported codec")
	}
	h := fnv.New64a()
	h.Write([]byte(path))
	seed := h.Sum64()
	rng := rand.New(rand.NewPCG(seed, 1))
	v, err := video.New(12+int(seed%16), 16, 20, 1)
	if err != nil {
		return nil, err
	}
	for i := range v.Frames {
		v.Frames[i] = uint8(rng.IntN(256))
	}
	v.Source = path
	return v, nil
}

func items(n int) []video.Item {
	its := make([]video.Item, n)
	for i := range its {
		its[i] = video.Item{Paths: []string{fmt.Sprintf("v%02d.avi", i)}, Label: i % 2, Group: fmt.Sprintf("S%d", i/3)}
	}
	return its
}

// collect runs one epoch and returns its steps, stopping at the first error.
func collect(t *testing.T, l *video.Loader, epoch int) ([]*video.Step, error) {
	t.Helper()
	var steps []*video.Step
	for s, err := range l.Batches(context.Background(), epoch) {
		if err != nil {
			return steps, err
		}
		steps = append(steps, s)
	}
	return steps, nil
}

// noLeaks fails t when more goroutines run than before, after giving
// finished ones a moment to exit.
func noLeaks(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLoaderSameBatchesWhateverWorkers(t *testing.T) {
	before := runtime.NumGoroutine()
	fv := &fakeVideos{}
	cfg := video.LoaderConfig{
		Items:     items(23),
		Decode:    fv.decode,
		Sample:    video.TrainClipSampler(8, 1, true),
		BatchSize: 4,
		Shuffle:   true,
		Seed:      5,
		Batch:     video.BatchOptions{Channels: 3, Kinetics: true},
	}
	var runs [][]*video.Step
	for _, wp := range [][3]int{{1, 1, 0}, {8, 3, 0}, {3, 2, 1 << 20}, {0, 0, 0}} {
		cfg.Workers, cfg.Prefetch, cfg.CacheBytes = wp[0], wp[1], int64(wp[2])
		l, err := video.NewLoader(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if l.NumBatches() != 6 {
			t.Fatalf("NumBatches = %d, want 6", l.NumBatches())
		}
		for epoch := 0; epoch < 2; epoch++ { // the second epoch may hit the cache
			steps, err := collect(t, l, 3)
			if err != nil {
				t.Fatal(err)
			}
			runs = append(runs, steps)
		}
	}
	for r, steps := range runs {
		if len(steps) != 6 {
			t.Fatalf("run %d: %d batches, want 6", r, len(steps))
		}
		for b, s := range steps {
			if s.Index != b || s.Epoch != 3 || len(s.Views) != 1 {
				t.Fatalf("run %d batch %d: index %d epoch %d, %d views", r, b, s.Index, s.Epoch, len(s.Views))
			}
			got, want := s.Views[0], runs[0][b].Views[0]
			if got.Shape != want.Shape || !slices.Equal(got.IDs, want.IDs) || !slices.Equal(got.Labels, want.Labels) ||
				!slices.Equal(got.Groups, want.Groups) || !slices.Equal(got.Data, want.Data) {
				t.Fatalf("run %d batch %d differs from run 0", r, b)
			}
		}
	}
	if s := runs[0][5].Views[0].Shape; s != [5]int{3, 3, 8, 16, 20} {
		t.Errorf("last batch shape %v, want [3 3 8 16 20]", s)
	}
	noLeaks(t, before)
}

func TestLoaderItemDrawsIndependentOfBatching(t *testing.T) {
	fv := &fakeVideos{}
	clips := map[int]map[string][]float32{}
	for _, bs := range []int{1, 3, 7} {
		for _, shuffle := range []bool{false, true} {
			l, err := video.NewLoader(video.LoaderConfig{Items: items(14), Decode: fv.decode, Sample: video.TrainClipSampler(4, 1, true),
				BatchSize: bs, Shuffle: shuffle, Seed: 3})
			if err != nil {
				t.Fatal(err)
			}
			for epoch := range 2 {
				steps, err := collect(t, l, epoch)
				if err != nil {
					t.Fatal(err)
				}
				if clips[epoch] == nil {
					clips[epoch] = map[string][]float32{}
				}
				for _, s := range steps {
					b := s.Views[0]
					for n, id := range b.IDs {
						if prev, ok := clips[epoch][id]; ok && !slices.Equal(prev, b.Item(n)) {
							t.Fatalf("batch size %d, shuffle %v: epoch %d item %s drew another clip", bs, shuffle, epoch, id)
						}
						clips[epoch][id] = slices.Clone(b.Item(n))
					}
				}
			}
		}
	}
	same := 0
	for id, c := range clips[0] {
		if slices.Equal(c, clips[1][id]) {
			same++
		}
	}
	if same > 2 {
		t.Errorf("%d of 14 items drew the same clip and augmentation in epochs 0 and 1", same)
	}
}

func TestLoaderEpochs(t *testing.T) {
	fv := &fakeVideos{}
	cfg := video.LoaderConfig{Items: items(10), Decode: fv.decode, Sample: video.TrainClipSampler(4, 2, false), BatchSize: 3, Shuffle: true, DropLast: true, Seed: 1}
	l, err := video.NewLoader(cfg)
	if err != nil {
		t.Fatal(err)
	}
	order := func(epoch int) []string {
		steps, err := collect(t, l, epoch)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, s := range steps {
			if cfg.DropLast && s.Views[0].Shape[0] != 3 {
				t.Fatalf("DropLast: batch of %d", s.Views[0].Shape[0])
			}
			ids = append(ids, s.Views[0].IDs...)
		}
		return ids
	}
	e0, e1 := order(0), order(1)
	if len(e0) != 9 || len(e1) != 9 || len(slices.Compact(slices.Sorted(slices.Values(e0)))) != 9 {
		t.Fatalf("epoch orders %v and %v", e0, e1)
	}
	if slices.Equal(e0, e1) {
		t.Errorf("epochs 0 and 1 have the same order %v", e0)
	}
	if !slices.Equal(e0, order(0)) {
		t.Error("epoch 0 twice: different orders")
	}
	cfg.Shuffle, cfg.DropLast = false, false
	l, _ = video.NewLoader(cfg)
	var want []string
	for _, it := range items(10) {
		want = append(want, it.Paths[0])
	}
	if got := order(0); !slices.Equal(got, want) {
		t.Errorf("unshuffled order %v, want %v", got, want)
	}
}

func TestLoaderError(t *testing.T) {
	before := runtime.NumGoroutine()
	its := items(20)
	its[9].Paths[0] = "bad/v09.avi"
	its[13].Paths[0] = "bad/v13.avi"
	for _, workers := range []int{1, 4} {
		fv := &fakeVideos{}
		l, err := video.NewLoader(video.LoaderConfig{Items: its, Decode: fv.decode, Sample: video.TrainClipSampler(4, 1, false), BatchSize: 4, Workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		steps, err := collect(t, l, 0)
		var le *video.LoadError
		if !errors.As(err, &le) || le.Path != "bad/v09.avi" || !strings.Contains(err.Error(), "bad/v09.avi: unsupported codec") {
			t.Fatalf("workers %d: error %v, want a LoadError for bad/v09.avi", workers, err)
		}
		if len(steps) != 2 {
			t.Errorf("workers %d: %d batches before the error, want 2", workers, len(steps))
		}
	}
	// A sampler error names the item.
	fv := &fakeVideos{}
	l, _ := video.NewLoader(video.LoaderConfig{Items: items(3), Decode: fv.decode, BatchSize: 2,
		Sample: func(*rand.Rand, video.Item, []*video.Video) ([]video.View, error) { return nil, errors.New("boom") }})
	if _, err := collect(t, l, 0); err == nil || !strings.Contains(err.Error(), "v00.avi: boom") {
		t.Errorf("sampler error: %v", err)
	}
	// Items with different view counts cannot share a batch.
	l, _ = video.NewLoader(video.LoaderConfig{Items: items(3), Decode: fv.decode, BatchSize: 3,
		Sample: func(_ *rand.Rand, it video.Item, vs []*video.Video) ([]video.View, error) {
			if it.Paths[0] == "v01.avi" {
				return []video.View{{Clip: vs[0]}, {Clip: vs[0]}}, nil
			}
			return []video.View{{Clip: vs[0]}}, nil
		}})
	if _, err := collect(t, l, 0); err == nil || !strings.Contains(err.Error(), "v01.avi gave 2 views") {
		t.Errorf("view count mismatch: %v", err)
	}
	noLeaks(t, before)
}

func TestLoaderCancelAndBreak(t *testing.T) {
	before := runtime.NumGoroutine()
	fv := &fakeVideos{delay: time.Millisecond}
	l, err := video.NewLoader(video.LoaderConfig{Items: items(200), Decode: fv.decode, Sample: video.TrainClipSampler(4, 1, true), BatchSize: 4, Workers: 6, Prefetch: 3})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	var last error
	for s, err := range l.Batches(ctx, 0) {
		if err != nil {
			last = err
			break
		}
		if s == nil {
			t.Fatal("nil step without error")
		}
		n++
		if n == 2 {
			cancel()
		}
	}
	if !errors.Is(last, context.Canceled) || n > 2+3 {
		t.Errorf("after cancel: %d batches, error %v; want at most 5 batches and context.Canceled", n, last)
	}
	noLeaks(t, before)

	// Breaking out of the loop stops the epoch too.
	for range l.Batches(context.Background(), 1) {
		break
	}
	noLeaks(t, before)

	// A context cancelled before the epoch starts.
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	for _, err := range l.Batches(ctx, 2) {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled context: error %v", err)
		}
	}
	noLeaks(t, before)
}

func TestLoaderPrefetchBound(t *testing.T) {
	before := runtime.NumGoroutine()
	fv := &fakeVideos{}
	const batch, prefetch = 5, 2
	l, _ := video.NewLoader(video.LoaderConfig{Items: items(100), Decode: fv.decode, Sample: video.TrainClipSampler(4, 1, false), BatchSize: batch, Workers: 8, Prefetch: prefetch})
	for range l.Batches(context.Background(), 0) {
		// Hold the first batch: the loader must stop after preparing
		// Prefetch more.
		time.Sleep(100 * time.Millisecond)
		if n := fv.decodes.Load(); n > (prefetch+1)*batch {
			t.Errorf("%d videos decoded while the first batch is held, want at most %d", n, (prefetch+1)*batch)
		}
		break
	}
	noLeaks(t, before)
}

func TestLoaderCache(t *testing.T) {
	run := func(cacheBytes int64, epochs int) int64 {
		fv := &fakeVideos{}
		l, err := video.NewLoader(video.LoaderConfig{Items: items(12), Decode: fv.decode, Sample: video.TrainClipSampler(4, 1, false),
			BatchSize: 4, Workers: 3, CacheBytes: cacheBytes, Shuffle: true})
		if err != nil {
			t.Fatal(err)
		}
		for e := 0; e < epochs; e++ {
			if _, err := collect(t, l, e); err != nil {
				t.Fatal(err)
			}
		}
		return fv.decodes.Load()
	}
	if n := run(0, 3); n != 36 {
		t.Errorf("no cache: %d decodes in 3 epochs, want 36", n)
	}
	if n := run(1<<30, 3); n != 12 {
		t.Errorf("big cache: %d decodes in 3 epochs, want 12", n)
	}
	if n := run(100, 2); n != 24 {
		t.Errorf("cache smaller than any video: %d decodes in 2 epochs, want 24", n)
	}

	// Least recently used goes first: with room for two videos, a video used
	// every other item stays cached while the others pass through.
	var decodes atomic.Int64
	decode := func(path string) (*video.Video, error) {
		decodes.Add(1)
		v, err := video.New(4, 10, 10, 1) // 400 bytes
		v.Source = path
		return v, err
	}
	var its []video.Item
	for i, p := range []string{"a", "b", "a", "c", "a", "d", "a", "c"} {
		its = append(its, video.Item{Paths: []string{p}, ID: fmt.Sprint(i)})
	}
	for _, tc := range []struct {
		cache int64
		want  int64
	}{{800, 5}, {799, 8}, {1200, 4}} {
		decodes.Store(0)
		l, _ := video.NewLoader(video.LoaderConfig{Items: its, Decode: decode, Sample: video.TrainClipSampler(4, 1, false), BatchSize: 1, Workers: 1, CacheBytes: tc.cache})
		if _, err := collect(t, l, 0); err != nil {
			t.Fatal(err)
		}
		if n := decodes.Load(); n != tc.want {
			t.Errorf("cache of %d bytes: %d decodes of a b a c a d a c, want %d", tc.cache, n, tc.want)
		}
	}
}

// pairSampler is how a multi-instance contrastive sampler can use the loader:
// an item names two videos of one study and gives one augmented clip of each.
func pairSampler(rng *rand.Rand, it video.Item, vs []*video.Video) ([]video.View, error) {
	views := make([]video.View, 2)
	for k, v := range vs {
		clip, err := video.Gather(v, video.TrainClipIndices(rng, v.T, 4, 1))
		if err != nil {
			return nil, err
		}
		if clip, err = video.DrawAugment(rng, clip.H, clip.W).Apply(clip); err != nil {
			return nil, err
		}
		views[k] = video.View{Clip: clip, Label: -1}
	}
	return views, nil
}

func TestLoaderPairs(t *testing.T) {
	before := runtime.NumGoroutine()
	// Study S has videos a, b, c: three pairs; study T has one video: paired
	// with itself. Concurrent items share decodes through the cache.
	its := []video.Item{
		{Paths: []string{"a", "b"}, ID: "S:a+b", Group: "S"},
		{Paths: []string{"a", "c"}, ID: "S:a+c", Group: "S"},
		{Paths: []string{"b", "c"}, ID: "S:b+c", Group: "S"},
		{Paths: []string{"t", "t"}, ID: "T:t+t", Group: "T"},
	}
	fv := &fakeVideos{delay: 5 * time.Millisecond}
	l, err := video.NewLoader(video.LoaderConfig{Items: its, Decode: fv.decode, Sample: pairSampler, BatchSize: 4, Workers: 4, CacheBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	steps, err := collect(t, l, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 1 || len(steps[0].Views) != 2 {
		t.Fatalf("%d steps, want 1 with 2 views", len(steps))
	}
	v1, v2 := steps[0].Views[0], steps[0].Views[1]
	if v1.Shape != [5]int{4, 1, 4, 16, 20} || v2.Shape != v1.Shape {
		t.Errorf("shapes %v and %v", v1.Shape, v2.Shape)
	}
	if !slices.Equal(v1.Groups, []string{"S", "S", "S", "T"}) || !slices.Equal(v1.IDs, v2.IDs) {
		t.Errorf("groups %v, ids %v and %v", v1.Groups, v1.IDs, v2.IDs)
	}
	if slices.Equal(v1.Item(3), v2.Item(3)) {
		t.Error("the two views of t+t are identical: want independent clips and augmentations")
	}
	if n := fv.decodes.Load(); n != 4 {
		t.Errorf("%d decodes, want 4 (a, b, c, t once each)", n)
	}
	noLeaks(t, before)
}

func TestLoaderEvalClips(t *testing.T) {
	fv := &fakeVideos{}
	its := items(5)
	l, err := video.NewLoader(video.LoaderConfig{Items: its, Decode: fv.decode, Sample: video.EvalClipSampler(6), BatchSize: 5})
	if err != nil {
		t.Fatal(err)
	}
	steps, err := collect(t, l, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 1 || len(steps[0].Views) != video.EvalClips {
		t.Fatalf("%d steps, want 1 with 4 views", len(steps))
	}
	for n, it := range its {
		v, _ := fv.decode(it.Paths[0])
		starts := video.EvalClipStarts(v.T, 6)
		for k, b := range steps[0].Views {
			clip, _ := video.Gather(v, video.ClipIndices(v.T, starts[k], 6, 1))
			want := make([]float32, 6*16*20)
			if err := video.ClipTensor(want, clip, video.BatchOptions{}); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(b.Item(n), want) {
				t.Errorf("item %d view %d is not the clip from frame %d", n, k, starts[k])
			}
			if b.Labels[n] != it.Label {
				t.Errorf("item %d view %d: label %d, want %d", n, k, b.Labels[n], it.Label)
			}
		}
	}
}

func TestLoaderPreprocessAndConfig(t *testing.T) {
	fv := &fakeVideos{}
	var calls atomic.Int64
	pre := func(v *video.Video) (*video.Video, error) {
		calls.Add(1)
		return video.Resize(v, 8, 8)
	}
	l, err := video.NewLoader(video.LoaderConfig{Items: items(4), Decode: fv.decode, Preprocess: pre, Sample: video.TrainClipSampler(4, 1, false), BatchSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	steps, err := collect(t, l, 0)
	if err != nil {
		t.Fatal(err)
	}
	if s := steps[0].Views[0].Shape; s != [5]int{2, 1, 4, 8, 8} || calls.Load() != 4 {
		t.Errorf("shape %v after %d preprocess calls", s, calls.Load())
	}
	failing := func(v *video.Video) (*video.Video, error) { return nil, errors.New("no sector") }
	l, _ = video.NewLoader(video.LoaderConfig{Items: items(4), Decode: fv.decode, Preprocess: failing, Sample: video.TrainClipSampler(4, 1, false), BatchSize: 2})
	if _, err := collect(t, l, 0); err == nil || !strings.Contains(err.Error(), "video: load v00.avi: no sector") {
		t.Errorf("preprocess error: %v", err)
	}

	good := video.LoaderConfig{Items: items(1), Decode: fv.decode, Sample: video.TrainClipSampler(4, 1, false), BatchSize: 1}
	for name, mod := range map[string]func(*video.LoaderConfig){
		"no items":   func(c *video.LoaderConfig) { c.Items = nil },
		"no decode":  func(c *video.LoaderConfig) { c.Decode = nil },
		"no sample":  func(c *video.LoaderConfig) { c.Sample = nil },
		"batch size": func(c *video.LoaderConfig) { c.BatchSize = 0 },
		"workers":    func(c *video.LoaderConfig) { c.Workers = -1 },
		"no paths":   func(c *video.LoaderConfig) { c.Items = []video.Item{{ID: "x"}} },
		"channels":   func(c *video.LoaderConfig) { c.Batch.Channels = 2 },
	} {
		cfg := good
		mod(&cfg)
		if _, err := video.NewLoader(cfg); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestLoaderConcurrentEpochs(t *testing.T) {
	fv := &fakeVideos{}
	l, _ := video.NewLoader(video.LoaderConfig{Items: items(16), Decode: fv.decode, Sample: video.TrainClipSampler(4, 1, true), BatchSize: 4, CacheBytes: 1 << 20, Seed: 9})
	ref, err := collect(t, l, 7)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			steps, err := collect(t, l, 7)
			if err != nil {
				t.Error(err)
				return
			}
			for b := range steps {
				if !slices.Equal(steps[b].Views[0].Data, ref[b].Views[0].Data) {
					t.Errorf("batch %d differs", b)
				}
			}
		})
	}
	wg.Wait()
}

// Example shows the fine-tuning pipeline for the training split: items from a
// manifest, decoding (here: in memory), the paper's preprocessing, one random
// augmented 16-frame clip per video, and Kinetics-normalised batches.
func ExampleLoader() {
	m := &video.Manifest{}
	for i := 0; i < 10; i++ {
		m.Records = append(m.Records, video.Record{Path: fmt.Sprintf("study%d/v.avi", i/2), Study: fmt.Sprint(i / 2), Label: i % 2})
	}
	decode := func(path string) (*video.Video, error) {
		v, err := video.New(40, 120, 160, 3) // stands in for video.ReadFile
		if err != nil {
			return nil, err
		}
		for i := range v.Frames {
			v.Frames[i] = uint8(i % 251)
		}
		v.Source = path
		return v, nil
	}
	l, err := video.NewLoader(video.LoaderConfig{
		Items:      m.Items(),
		Decode:     decode,
		Preprocess: video.MaskAndResize(112, 112),
		Sample:     video.TrainClipSampler(16, 1, true),
		BatchSize:  4,
		Shuffle:    true,
		Seed:       1,
		Workers:    4,
		CacheBytes: 256 << 20,
		Batch:      video.BatchOptions{Kinetics: true},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for step, err := range l.Batches(context.Background(), 0) {
		if err != nil {
			fmt.Println(err)
			return
		}
		b := step.Views[0]
		fmt.Println(step.Index, b.Shape, len(b.Labels))
	}
	// Output:
	// 0 [4 3 16 112 112] 4
	// 1 [4 3 16 112 112] 4
	// 2 [2 3 16 112 112] 2
}
