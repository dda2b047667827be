package pretrain

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/vidssl/vidssl/contrastive"
	"github.com/vidssl/vidssl/pretext"
	"github.com/vidssl/vidssl/video"
)

// Probe evaluates a pretrained model on videos, typically held-out ones:
// frame-order accuracy and same-group retrieval with frozen features. Each
// video gives one clip of ClipLength consecutive frames at a random start
// (fixed by Seed and the video's index), without augmentation.
type Probe struct {
	// ClipLength is the number of frames per clip (the run's ClipLength).
	ClipLength int
	// BatchSize is the number of clips per forward pass; 0 means 32.
	BatchSize int
	// Seed fixes clip starts and frame orders.
	Seed uint64
	// Workers is the number of goroutines that decode (0: GOMAXPROCS).
	Workers int
	// Decode reads a video; nil means video.ReadFile.
	Decode func(path string) (*video.Video, error)
	// Preprocess, when not nil, runs on every decoded video.
	Preprocess func(*video.Video) (*video.Video, error)
}

// forEach runs the model in evaluation mode on one clip of every record of
// m (shuffled by pretext.RandomShuffle when shuffle is set) and calls fn
// with each batch's records, labels, features and order logits.
func (p Probe) forEach(ctx context.Context, model *Model, m *video.Manifest, shuffle bool, fn func(b *video.Batch, features, order []float32) error) error {
	if model == nil || m == nil || len(m.Records) == 0 {
		return fmt.Errorf("pretrain: probe: no model or no videos")
	}
	if p.ClipLength < 1 {
		return fmt.Errorf("pretrain: probe: ClipLength = %d, want > 0", p.ClipLength)
	}
	bs := p.BatchSize
	if bs == 0 {
		bs = 32
	}
	decode := p.Decode
	if decode == nil {
		decode = video.ReadFile
	}
	items := m.Items()
	length := p.ClipLength
	sample := func(rng *rand.Rand, item video.Item, videos []*video.Video) ([]video.View, error) {
		v := videos[0]
		clip, err := video.Gather(v, video.TrainClipIndices(rng, v.T, length, 1))
		if err != nil {
			return nil, err
		}
		label := item.Label
		if shuffle {
			if clip, label, err = pretext.RandomShuffle(rng, clip); err != nil {
				return nil, err
			}
		}
		return []video.View{{Clip: clip, Label: label}}, nil
	}
	loader, err := video.NewLoader(video.LoaderConfig{
		Items: items, Decode: decode, Preprocess: p.Preprocess, Sample: sample, BatchSize: bs,
		Seed: p.Seed, Workers: p.Workers, Batch: video.BatchOptions{Channels: model.Encoder.InChannels()},
	})
	if err != nil {
		return fmt.Errorf("pretrain: probe: %w", err)
	}
	evals := map[[5]int]*Evaluator{}
	defer func() {
		for _, e := range evals {
			e.Close()
		}
	}()
	for step, err := range loader.Batches(ctx, 0) {
		if err != nil {
			return fmt.Errorf("pretrain: probe: %w", err)
		}
		b := step.Views[0]
		e, ok := evals[b.Shape]
		if !ok {
			if e, err = NewEvaluator(model, b.Shape); err != nil {
				return err
			}
			evals[b.Shape] = e
		}
		features, order, err := e.Run(ctx, b.Data)
		if err != nil {
			return err
		}
		if err := fn(b, features, order); err != nil {
			return err
		}
	}
	return nil
}

// FrameOrder returns the frame-order accuracy of model on m's videos: each
// clip is shuffled by a random order (uniform over the ClipLength! orders,
// chance 1/ClipLength!) and counts as a hit when the order head's largest
// logit is at its class. The model needs an order head.
func (p Probe) FrameOrder(ctx context.Context, model *Model, m *video.Manifest) (float64, error) {
	if model == nil || model.Order == nil {
		return 0, fmt.Errorf("pretrain: probe: frame order needs a model with an order head")
	}
	if model.Order.K != p.ClipLength {
		return 0, fmt.Errorf("pretrain: probe: the order head is for %d frames, ClipLength is %d", model.Order.K, p.ClipLength)
	}
	hits, n := 0, 0
	err := p.forEach(ctx, model, m, true, func(b *video.Batch, _, order []float32) error {
		acc, err := pretext.Accuracy(order, b.Labels, model.Order.Classes())
		if err != nil {
			return err
		}
		hits += int(acc*float64(len(b.Labels)) + 0.5)
		n += len(b.Labels)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return float64(hits) / float64(n), nil
}

// Features returns the frozen encoder features h of one clip of every record
// of m, in record order (row-major, len(m.Records) x FeatureDim).
func (p Probe) Features(ctx context.Context, model *Model, m *video.Manifest) ([]float32, error) {
	var out []float32
	err := p.forEach(ctx, model, m, false, func(_ *video.Batch, features, _ []float32) error {
		out = append(out, features...)
		return nil
	})
	return out, err
}

// Retrieval returns how often the nearest other video of each video of m, by
// cosine similarity of frozen features, belongs to the same group (study or
// patient, by); see contrastive.RetrievalTop1.
func (p Probe) Retrieval(ctx context.Context, model *Model, m *video.Manifest, by contrastive.GroupBy) (contrastive.Retrieval, error) {
	items, err := contrastive.SimCLRItems(m, by)
	if err != nil {
		return contrastive.Retrieval{}, fmt.Errorf("pretrain: probe: %w", err)
	}
	groups := make([]string, len(items))
	for i, it := range items {
		groups[i] = it.Group
	}
	f, err := p.Features(ctx, model, m)
	if err != nil {
		return contrastive.Retrieval{}, err
	}
	d := model.Encoder.FeatureDim()
	return contrastive.RetrievalTop1(f, len(items), d, groups)
}
