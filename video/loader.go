package video

import (
	"container/list"
	"context"
	"fmt"
	"iter"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
)

// Item is one unit of a loader's work: the videos it needs and what
// identifies it. A plain item has one path; a multi-instance contrastive pair
// has two (two videos of one study).
type Item struct {
	// Paths are the videos the item needs, decoded and preprocessed by the
	// loader and given to its SampleFunc in this order.
	Paths []string
	// ID names the item in batches; empty means Paths[0].
	ID string
	// Label is the item's class (1, 0, or -1 when unknown).
	Label int
	// Group is usually the study id (see Batch.Groups).
	Group string
}

func (it Item) id() string {
	if it.ID == "" && len(it.Paths) > 0 {
		return it.Paths[0]
	}
	return it.ID
}

// View is one clip that a SampleFunc makes from an item, with its label.
type View struct {
	Clip  *Video
	Label int
}

// SampleFunc turns an item's preprocessed videos (one per Item.Paths, in
// order) into views: one clip for supervised training, several clips for
// evaluation, two augmented views for contrastive learning. Every item of a
// loader must give the same number of views, of the same size. All randomness
// must come from rng, which the loader seeds from its seed, the epoch and the
// item's index, so that results do not depend on scheduling. The videos may be
// shared with other items through the cache: read them, never change them.
type SampleFunc func(rng *rand.Rand, item Item, videos []*Video) ([]View, error)

// TrainClipSampler returns a SampleFunc that takes one random clip of length frames
// at stride from the item's first video (TrainClipIndices, zero-padded when
// short) and, when augment is true, applies one DrawAugment draw to all its
// frames. The view's label is the item's.
func TrainClipSampler(length, stride int, augment bool) SampleFunc {
	return func(rng *rand.Rand, item Item, videos []*Video) ([]View, error) {
		v, err := firstVideo("train clip", item, videos)
		if err != nil {
			return nil, err
		}
		idx := TrainClipIndices(rng, v.T, length, stride)
		if idx == nil {
			return nil, fmt.Errorf("video: %s: train clip: bad length %d or stride %d", v.name(), length, stride)
		}
		clip, err := Gather(v, idx)
		if err != nil {
			return nil, err
		}
		if augment {
			if clip, err = DrawAugment(rng, clip.H, clip.W).Apply(clip); err != nil {
				return nil, err
			}
		}
		return []View{{Clip: clip, Label: item.Label}}, nil
	}
}

// EvalClipSampler returns a SampleFunc that takes the EvalClips (4) evaluation clips
// of length frames (EvalClipStarts) from the item's first video, one view
// each, without augmentation. The views' labels are the item's.
func EvalClipSampler(length int) SampleFunc {
	return func(_ *rand.Rand, item Item, videos []*Video) ([]View, error) {
		v, err := firstVideo("eval clips", item, videos)
		if err != nil {
			return nil, err
		}
		starts := EvalClipStarts(v.T, length)
		if starts == nil {
			return nil, fmt.Errorf("video: %s: eval clips: bad length %d", v.name(), length)
		}
		views := make([]View, len(starts))
		for k, s := range starts {
			clip, err := Gather(v, ClipIndices(v.T, s, length, 1))
			if err != nil {
				return nil, err
			}
			views[k] = View{Clip: clip, Label: item.Label}
		}
		return views, nil
	}
}

// firstVideo returns the first of an item's videos, or an error naming the
// item when there is none.
func firstVideo(what string, item Item, videos []*Video) (*Video, error) {
	if len(videos) == 0 || videos[0] == nil {
		return nil, fmt.Errorf("video: %s: item %q has no video", what, item.ID)
	}
	return videos[0], nil
}

// MaskAndResize returns the paper's preprocessing for a loader: MaskSector,
// then Resize to h x w.
func MaskAndResize(h, w int) func(*Video) (*Video, error) {
	return func(v *Video) (*Video, error) {
		m, err := MaskSector(v)
		if err != nil {
			return nil, err
		}
		if m.H == h && m.W == w {
			return m, nil // m is new, and Resize would return a copy of it
		}
		return Resize(m, h, w)
	}
}

// LoaderConfig configures a Loader. Items, Decode, Sample and BatchSize are
// required.
type LoaderConfig struct {
	// Items are the loader's items (see Manifest.Items).
	Items []Item
	// Decode reads a video file, for example ReadFile.
	Decode func(path string) (*Video, error)
	// Preprocess, when not nil, runs on every decoded video (for example
	// MaskAndResize(112, 112)); its results are what the cache holds.
	Preprocess func(*Video) (*Video, error)
	// Sample turns an item's videos into views.
	Sample SampleFunc
	// BatchSize is the number of items per batch.
	BatchSize int
	// Shuffle reorders the items every epoch, by Seed and the epoch.
	Shuffle bool
	// DropLast drops a last batch smaller than BatchSize.
	DropLast bool
	// Seed fixes the item order and every item's random draws: the same seed
	// and epoch give the same batches whatever Workers and Prefetch are.
	Seed uint64
	// Workers is the number of goroutines that decode, preprocess and sample;
	// 0 means runtime.GOMAXPROCS(0).
	Workers int
	// Prefetch is the most batches in preparation or ready while the
	// consumer holds one (so at most Prefetch+1 batches are in memory); 0
	// means 2.
	Prefetch int
	// CacheBytes caps an LRU cache of preprocessed videos (frame bytes); 0
	// means no cache. A video larger than the cap is not cached.
	CacheBytes int64
	// Batch says how clips become float32 batches.
	Batch BatchOptions
}

// Loader turns items into batches concurrently: decoding, preprocessing and
// sampling run on Workers goroutines, at most Prefetch batches ahead of the
// consumer, and batches come out in a fixed order. A Loader may be used for
// many epochs, one at a time or concurrently; its cache is shared.
type Loader struct {
	cfg   LoaderConfig
	cache *videoCache
}

// NewLoader checks cfg and returns a Loader.
func NewLoader(cfg LoaderConfig) (*Loader, error) {
	switch {
	case len(cfg.Items) == 0:
		return nil, fmt.Errorf("video: loader: no items")
	case cfg.Decode == nil:
		return nil, fmt.Errorf("video: loader: no Decode function")
	case cfg.Sample == nil:
		return nil, fmt.Errorf("video: loader: no Sample function")
	case cfg.BatchSize <= 0:
		return nil, fmt.Errorf("video: loader: batch size %d, want > 0", cfg.BatchSize)
	case cfg.Workers < 0 || cfg.Prefetch < 0 || cfg.CacheBytes < 0:
		return nil, fmt.Errorf("video: loader: negative Workers (%d), Prefetch (%d) or CacheBytes (%d)", cfg.Workers, cfg.Prefetch, cfg.CacheBytes)
	}
	for i, it := range cfg.Items {
		if len(it.Paths) == 0 {
			return nil, fmt.Errorf("video: loader: item %d (%q) has no paths", i, it.ID)
		}
	}
	if cfg.Workers == 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.Prefetch == 0 {
		cfg.Prefetch = 2
	}
	if c := cfg.Batch.Channels; (c != 0 && c != 1 && c != 3) || (cfg.Batch.Kinetics && c == 1) {
		return nil, fmt.Errorf("video: loader: batch options %+v: want Channels 0, 1 or 3, and 3 (or 0 with RGB clips) for Kinetics", cfg.Batch)
	}
	return &Loader{cfg: cfg, cache: newVideoCache(cfg.CacheBytes)}, nil
}

// NumBatches returns the number of batches in an epoch.
func (l *Loader) NumBatches() int {
	n, b := len(l.cfg.Items), l.cfg.BatchSize
	if l.cfg.DropLast {
		return n / b
	}
	return (n + b - 1) / b
}

// Step is one batch of a loader: for each view index k (see SampleFunc), a
// Batch of every item's view k, in the same item order.
type Step struct {
	// Epoch and Index are the epoch and the batch's position in it.
	Epoch, Index int
	// Views holds one batch per view: one for training, EvalClips for
	// evaluation, two for contrastive pairs.
	Views []*Batch
}

// LoadError is the error of one video that failed to decode or preprocess.
type LoadError struct {
	Path string
	Err  error
}

// Error returns "video: load PATH: " followed by the underlying error.
func (e *LoadError) Error() string { return "video: load " + e.Path + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *LoadError) Unwrap() error { return e.Err }

// Batches returns the batches of one epoch in order. Iteration stops after the
// first error, which it yields with a nil Step: a failed item (naming its
// path), or the context's error once ctx is cancelled. Breaking out of the
// loop, an error or cancellation stops every goroutine the epoch started
// before the loop ends; a Decode or Preprocess call in progress runs to its
// end first.
func (l *Loader) Batches(ctx context.Context, epoch int) iter.Seq2[*Step, error] {
	return func(yield func(*Step, error) bool) {
		l.run(ctx, epoch, yield)
	}
}

// pendingBatch is a batch in preparation.
type pendingBatch struct {
	items     []int    // item indices, in batch order
	views     [][]View // per slot
	errs      []error  // per slot
	remaining atomic.Int32
	done      chan struct{} // closed when step or err is set
	step      *Step
	err       error
}

type loadJob struct {
	b, slot int
}

func (l *Loader) run(parent context.Context, epoch int, yield func(*Step, error) bool) {
	order := l.order(epoch)
	nb := l.NumBatches()
	batches := make([]*pendingBatch, nb)
	for b := range batches {
		end := min(len(order), (b+1)*l.cfg.BatchSize)
		items := order[b*l.cfg.BatchSize : end]
		p := &pendingBatch{items: items, views: make([][]View, len(items)), errs: make([]error, len(items)), done: make(chan struct{})}
		p.remaining.Store(int32(len(items)))
		batches[b] = p
	}

	ctx, cancel := context.WithCancel(parent)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()

	tokens := make(chan struct{}, l.cfg.Prefetch)
	jobs := make(chan loadJob)
	wg.Go(func() { // dispatcher: hands out items, at most Prefetch batches ahead
		defer close(jobs)
		for b, p := range batches {
			select {
			case tokens <- struct{}{}:
			case <-ctx.Done():
				return
			}
			for slot := range p.items {
				select {
				case jobs <- loadJob{b, slot}:
				case <-ctx.Done():
					return
				}
			}
		}
	})
	for range l.cfg.Workers {
		wg.Go(func() {
			for j := range jobs {
				if ctx.Err() != nil {
					continue
				}
				p := batches[j.b]
				idx := p.items[j.slot]
				p.views[j.slot], p.errs[j.slot] = l.sample(epoch, idx)
				if p.remaining.Add(-1) == 0 {
					p.step, p.err = l.assemble(epoch, j.b, p)
					close(p.done)
				}
			}
		})
	}

	for b, p := range batches {
		select {
		case <-p.done:
		case <-ctx.Done():
			yield(nil, fmt.Errorf("video: loader: epoch %d batch %d: %w", epoch, b, context.Cause(parent)))
			return
		}
		batches[b] = nil
		if p.err != nil {
			yield(nil, p.err)
			return
		}
		<-tokens // batch b is the consumer's now: prepare one more
		if !yield(p.step, nil) {
			return
		}
	}
}

// order returns the epoch's item order.
func (l *Loader) order(epoch int) []int {
	order := make([]int, len(l.cfg.Items))
	for i := range order {
		order[i] = i
	}
	if l.cfg.Shuffle {
		rng := rand.New(rand.NewPCG(l.cfg.Seed, mix64(uint64(epoch)^0x5417f1e)))
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	return order
}

// mix64 is SplitMix64's finaliser: it spreads nearby inputs over all bits.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// sample loads item idx's videos and runs the SampleFunc with the item's own
// random stream.
func (l *Loader) sample(epoch, idx int) ([]View, error) {
	it := l.cfg.Items[idx]
	videos := make([]*Video, len(it.Paths))
	for k, path := range it.Paths {
		v, err := l.video(path)
		if err != nil {
			return nil, err
		}
		videos[k] = v
	}
	rng := rand.New(rand.NewPCG(mix64(l.cfg.Seed^mix64(uint64(epoch))), uint64(idx)))
	views, err := l.cfg.Sample(rng, it, videos)
	if err != nil {
		return nil, fmt.Errorf("video: sample %s: %w", it.id(), err)
	}
	if len(views) == 0 {
		return nil, fmt.Errorf("video: sample %s: no views", it.id())
	}
	for k, v := range views {
		if v.Clip == nil {
			return nil, fmt.Errorf("video: sample %s: view %d has no clip", it.id(), k)
		}
	}
	return views, nil
}

// video returns the preprocessed video at path, from the cache when there.
func (l *Loader) video(path string) (*Video, error) {
	return l.cache.get(path, func() (*Video, error) {
		v, err := l.cfg.Decode(path)
		if err == nil && v == nil {
			err = fmt.Errorf("decoder returned no video")
		}
		if err == nil {
			err = v.Validate()
		}
		if err == nil && l.cfg.Preprocess != nil {
			if v, err = l.cfg.Preprocess(v); err == nil {
				err = v.Validate()
			}
		}
		if err != nil {
			return nil, &LoadError{Path: path, Err: err}
		}
		return v, nil
	})
}

// assemble builds the batches of every view of p once all its items are done.
// Its error is the first failed item's, in batch order.
func (l *Loader) assemble(epoch, b int, p *pendingBatch) (*Step, error) {
	for _, err := range p.errs {
		if err != nil {
			return nil, err
		}
	}
	nv := len(p.views[0])
	step := &Step{Epoch: epoch, Index: b, Views: make([]*Batch, nv)}
	clips := make([]*Video, len(p.items))
	info := make([]ItemInfo, len(p.items))
	for k := 0; k < nv; k++ {
		for slot, views := range p.views {
			it := l.cfg.Items[p.items[slot]]
			if len(views) != nv {
				return nil, fmt.Errorf("video: loader: item %s gave %d views, item %s gave %d", it.id(), len(views), l.cfg.Items[p.items[0]].id(), nv)
			}
			clips[slot] = views[k].Clip
			info[slot] = ItemInfo{ID: it.id(), Label: views[k].Label, Group: it.Group}
		}
		batch, err := NewBatch(clips, info, l.cfg.Batch)
		if err != nil {
			return nil, fmt.Errorf("video: loader: epoch %d batch %d view %d: %w", epoch, b, k, err)
		}
		step.Views[k] = batch
	}
	return step, nil
}

// videoCache is an LRU cache of videos under a cap on frame bytes that also
// makes concurrent loads of one path share a single decode.
type videoCache struct {
	max int64

	mu       sync.Mutex
	size     int64
	lru      *list.List // of *cacheEntry, most recent first
	entries  map[string]*list.Element
	inflight map[string]*cacheFlight
}

type cacheEntry struct {
	path string
	v    *Video
}

type cacheFlight struct {
	done chan struct{}
	v    *Video
	err  error
}

func newVideoCache(max int64) *videoCache {
	return &videoCache{max: max, lru: list.New(), entries: map[string]*list.Element{}, inflight: map[string]*cacheFlight{}}
}

// get returns the cached video for path or loads it with load. Concurrent
// calls for one path share one load. Errors are not cached.
func (c *videoCache) get(path string, load func() (*Video, error)) (*Video, error) {
	c.mu.Lock()
	if e, ok := c.entries[path]; ok {
		c.lru.MoveToFront(e)
		c.mu.Unlock()
		return e.Value.(*cacheEntry).v, nil
	}
	if f, ok := c.inflight[path]; ok {
		c.mu.Unlock()
		<-f.done
		return f.v, f.err
	}
	f := &cacheFlight{done: make(chan struct{})}
	c.inflight[path] = f
	c.mu.Unlock()

	f.v, f.err = load()

	c.mu.Lock()
	delete(c.inflight, path)
	if f.err == nil {
		c.add(path, f.v)
	}
	c.mu.Unlock()
	close(f.done)
	return f.v, f.err
}

// add stores v under path, evicting the least recently used videos to stay
// under the cap. c.mu must be held.
func (c *videoCache) add(path string, v *Video) {
	n := int64(len(v.Frames))
	if n > c.max {
		return
	}
	for c.size+n > c.max {
		e := c.lru.Back()
		old := e.Value.(*cacheEntry)
		c.size -= int64(len(old.v.Frames))
		delete(c.entries, old.path)
		c.lru.Remove(e)
	}
	c.entries[path] = c.lru.PushFront(&cacheEntry{path, v})
	c.size += n
}

// stats reports the cache's contents, for tests.
func (c *videoCache) stats() (n int, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries), c.size
}
