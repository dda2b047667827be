package vidssl_test

import (
	"context"
	"fmt"
	"image"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"

	"github.com/vidssl/vidssl/contrastive"
	"github.com/vidssl/vidssl/explain"
	"github.com/vidssl/vidssl/figures"
	"github.com/vidssl/vidssl/finetune"
	"github.com/vidssl/vidssl/metrics"
	"github.com/vidssl/vidssl/nn"
	"github.com/vidssl/vidssl/pretext"
	"github.com/vidssl/vidssl/pretrain"
	"github.com/vidssl/vidssl/probe"
	"github.com/vidssl/vidssl/resnet3d"
	"github.com/vidssl/vidssl/video"
)

// edgeVideo returns a video of t frames of h x w RGB pixels with a bright
// square in the middle (so that sector masking keeps something).
func edgeVideo(t, h, w int) *video.Video {
	v, err := video.New(t, h, w, 3)
	if err != nil {
		panic(err)
	}
	rng := rand.New(rand.NewPCG(uint64(t), uint64(h*w)))
	for i := range v.Frames {
		v.Frames[i] = uint8(64 + rng.IntN(128))
	}
	return v
}

// edgeData writes one AVI per spec (T, H, W, label, study) into dir and
// returns the manifest, every record in split.
func edgeData(t *testing.T, split string, specs ...[5]int) *video.Manifest {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("path,patient_id,study_id,label,split\n")
	for i, s := range specs {
		name := fmt.Sprintf("v%d.avi", i)
		if err := video.WriteAVIFile(filepath.Join(dir, name), edgeVideo(s[0], s[1], s[2]), nil); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s,P%d,S%d,%d,%s\n", name, s[4], s[4], s[3], split)
	}
	path := filepath.Join(dir, "m.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := video.ReadManifest(path, video.OurColumns)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var tinyNet = resnet3d.Config{InChannels: 3, Width: 2, Blocks: [4]int{1, 1, 1, 1}}

func tinyModel(t *testing.T, classes int) *resnet3d.Model {
	c := tinyNet
	c.NumClasses = classes
	m, err := resnet3d.New(c, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func tinyFinetune() finetune.Config {
	c := finetune.SmallConfig()
	c.Model = tinyNet
	c.Model.NumClasses = 1
	c.ClipLength = 4
	c.BatchSize = 2
	c.MaxEpochs = 1
	c.LRSweep = nil
	c.Workers = 1
	c.FrameSize = 0
	return c
}

func tinyPretrain() pretrain.Config {
	c := pretrain.SmallConfig(pretrain.MISimCLRFO)
	c.Model = tinyNet
	c.ClipLength = 4
	c.BatchPairs = 2
	c.Epochs = 1
	c.Workers = 1
	c.CacheBytes = 0
	return c
}

func forward(m *resnet3d.Model, shape [5]int) ([]float32, error) {
	g := nn.NewGraph(false, nil)
	x := g.Input("x", shape[:]...)
	y, err := m.Forward(g, x)
	if err != nil {
		return nil, err
	}
	p := nn.NewEvaluator(g)
	defer p.Close()
	if _, err := p.Run(context.Background(), nn.Feed{Node: x, Data: make([]float32, shape[0]*shape[1]*shape[2]*shape[3]*shape[4])}); err != nil {
		return nil, err
	}
	return y.Value().Data().([]float32), nil
}

// runGraph runs g, a graph without a loss, and returns y's values.
func runGraph(g *nn.Graph, y *G.Node, feeds ...nn.Feed) ([]float32, error) {
	p := nn.NewEvaluator(g)
	defer p.Close()
	if _, err := p.Run(context.Background(), feeds...); err != nil {
		return nil, err
	}
	switch v := y.Value().Data().(type) {
	case []float32:
		return append([]float32(nil), v...), nil
	case float32:
		return []float32{v}, nil
	}
	return nil, fmt.Errorf("nn: value of type %T", y.Value().Data())
}

// close reports whether got holds want, to float32 rounding.
func close(got []float32, want ...float64) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if math.Abs(float64(got[i])-want[i]) > 1e-5*(1+math.Abs(want[i])) {
			return false
		}
	}
	return true
}

// expect reports a wrong result.
func expect(t *testing.T, ok bool, format string, args ...any) {
	t.Helper()
	if !ok {
		t.Errorf(format, args...)
	}
}

// TestEdgeSizes runs every public entry point that takes clips, videos or
// scores at the edges: one clip, one frame, a clip longer than the video,
// frames smaller than the network's total stride (16 in space), a 1x1 video,
// one class, all-equal scores and empty inputs, and a batch, clip, row or
// item count of one wherever one is valid (so that no entry point is tested
// only with two or more). Each must give an error that names its package, or
// a correct answer; none may panic.
func TestEdgeSizes(t *testing.T) {
	ctx := context.Background()
	boot := metrics.BootstrapOptions{Resamples: 50, Seed: 1}
	tf, tp := tinyFinetune(), tinyPretrain()
	type result struct {
		v   any
		err error
	}
	r := func(v any, err error) result { return result{v, err} }
	cases := []struct {
		name string
		// want is a part of the error message, or "" for a result
		want string
		// run calls the entry point and checks a result's values itself
		run func(t *testing.T) result
	}{
		// explain
		{"explain/ResNetCAM/one clip one frame", "", func(t *testing.T) result {
			c, err := explain.ResNetCAM(ctx, tinyModel(t, 1), make([]float32, 3), [5]int{1, 3, 1, 1, 1}, 4, 0)
			if err == nil && (c.Shape != [4]int{1, 1, 1, 1} || len(c.Logits) != 1 || len(c.Heatmaps) != 1) {
				t.Errorf("CAM of shape %v with %d logits and %d heatmap values, want (1, 1, 1, 1), 1 and 1", c.Shape, len(c.Logits), len(c.Heatmaps))
			}
			return r(c, err)
		}},
		{"explain/ResNetCAM/empty", "explain: ResNetCAM: clips: resnet3d: input shape", func(t *testing.T) result {
			return r(explain.ResNetCAM(ctx, tinyModel(t, 1), nil, [5]int{0, 3, 4, 8, 8}, 4, 0))
		}},
		// resnet3d
		{"resnet3d/Forward/1x1 one frame one clip", "", func(t *testing.T) result {
			y, err := forward(tinyModel(t, 1), [5]int{1, 3, 1, 1, 1})
			expect(t, err != nil || len(y) == 1, "%d logits, want 1", len(y))
			return r(y, err)
		}},
		{"resnet3d/Forward/below stride", "", func(t *testing.T) result {
			y, err := forward(tinyModel(t, 2), [5]int{1, 3, 2, 7, 5})
			expect(t, err != nil || len(y) == 2, "%d logits, want 2", len(y))
			return r(y, err)
		}},
		{"resnet3d/NewClassifierTrainer/one clip", "expected more than 1 value per channel when training", func(t *testing.T) result {
			p, _, _, err := resnet3d.NewClassifierTrainer(tinyModel(t, 1), 1, 1, 3, 3, 1, nn.NewAdam(1e-3), nil)
			return r(p, err)
		}},
		{"resnet3d/NewClassifierTrainer/zero", "resnet3d: classifier trainer: resnet3d: input shape", func(t *testing.T) result {
			p, _, _, err := resnet3d.NewClassifierTrainer(tinyModel(t, 1), 0, 1, 3, 3, 1, nn.NewAdam(1e-3), nil)
			return r(p, err)
		}},
		// pretrain
		{"pretrain/NewEvaluator/negative", "pretrain: evaluator: the encoder does not take clips of shape [-1 3 4 8 8]: nn: output shape", func(t *testing.T) result {
			m, err := pretrain.NewModel(tp)
			if err != nil {
				return r(nil, err)
			}
			return r(pretrain.NewEvaluator(m, [5]int{-1, 3, 4, 8, 8}))
		}},
		{"pretrain/Run/one video", "pretrain: 1 training pairs from 1 records of 1 studies in splits [\"train\"], fewer than one batch of 2", func(t *testing.T) result {
			return r(pretrain.Run(ctx, tp, edgeData(t, "train", [5]int{6, 8, 8, 0, 1}), t.TempDir()))
		}},
		{"pretrain/Run/one pair per batch", "pretrain: config: BatchPairs = 1, want >= 2 (NT-Xent needs negatives)", func(t *testing.T) result {
			c := tp
			c.BatchPairs = 1
			return r(pretrain.Run(ctx, c, edgeData(t, "train", [5]int{4, 32, 32, 0, 1}, [5]int{4, 32, 32, 0, 2}), t.TempDir()))
		}},
		{"pretrain/Run/empty", "pretrain: the manifest has no records in splits [\"train\"] (Config.Splits) among 0", func(t *testing.T) result { return r(pretrain.Run(ctx, tp, &video.Manifest{}, t.TempDir())) }},
		{"pretrain/Run/one frame 1x1", "", func(t *testing.T) result {
			res, err := pretrain.Run(ctx, tp, edgeData(t, "train", [5]int{1, 1, 1, 0, 1}, [5]int{1, 1, 1, 0, 1}, [5]int{1, 1, 1, 0, 2}, [5]int{1, 1, 1, 0, 2}), t.TempDir())
			if err == nil {
				expect(t, len(res.History) == 1 && !math.IsNaN(res.History[0].Loss), "history %+v, want one epoch with a loss", res.History)
			}
			return r(res, err)
		}},
		// finetune
		{"finetune/Predict/one frame", "", func(t *testing.T) result {
			p, err := finetune.Predict(ctx, tf, tinyModel(t, 1), edgeData(t, "test", [5]int{1, 8, 8, 1, 1}))
			if err == nil {
				expect(t, len(p.Videos) == 1 && p.Videos[0].Count == video.EvalClips && p.Videos[0].Prob > 0 && p.Videos[0].Prob < 1, "predictions %+v, want one video of %d clips", p.Videos, video.EvalClips)
			}
			return r(p, err)
		}},
		{"finetune/Predict/1x1", "", func(t *testing.T) result {
			p, err := finetune.Predict(ctx, tf, tinyModel(t, 1), edgeData(t, "test", [5]int{2, 1, 1, 1, 1}))
			if err == nil {
				expect(t, len(p.Videos) == 1 && p.Videos[0].Count == video.EvalClips && p.Videos[0].Prob > 0 && p.Videos[0].Prob < 1, "predictions %+v, want one video of %d clips", p.Videos, video.EvalClips)
			}
			return r(p, err)
		}},
		{"finetune/Predict/empty", "finetune: predict: no videos", func(t *testing.T) result {
			return r(finetune.Predict(ctx, tf, tinyModel(t, 1), &video.Manifest{}))
		}},
		{"finetune/Evaluate/one class", "only one class", func(t *testing.T) result {
			return r(finetune.Evaluate(ctx, tf, tinyModel(t, 1), edgeData(t, "test", [5]int{5, 8, 8, 1, 1}, [5]int{5, 8, 8, 1, 2}), boot))
		}},
		{"finetune/FineTune/one video each", "", func(t *testing.T) result {
			m := edgeData(t, "train", [5]int{3, 8, 8, 1, 1}, [5]int{3, 8, 8, 0, 2})
			return r(finetune.FineTune(ctx, tf, tinyModel(t, 1), m, m, 1))
		}},
		{"finetune/FineTune/batch of one", "", func(t *testing.T) result {
			c := tf
			c.BatchSize = 1
			m := edgeData(t, "train", [5]int{4, 32, 32, 1, 1}, [5]int{4, 32, 32, 0, 2})
			res, err := finetune.FineTune(ctx, c, tinyModel(t, 1), m, m, 1)
			if err == nil {
				h := res.History()
				expect(t, len(h) == 1 && !math.IsNaN(h[0].TrainLoss), "history %+v, want one epoch with a loss", h)
			}
			return r(res, err)
		}},
		{"finetune/FineTune/one class", "training needs both classes", func(t *testing.T) result {
			m := edgeData(t, "train", [5]int{3, 8, 8, 1, 1})
			return r(finetune.FineTune(ctx, tf, tinyModel(t, 1), m, m, 1))
		}},
		{"finetune/Score/empty", "finetune: score: metrics: BootstrapAUROC: empty input", func(t *testing.T) result { return r(finetune.Score(nil, boot)) }},
		{"finetune/Score/equal", "", func(t *testing.T) result {
			m, err := finetune.Score([]finetune.Prediction{{ID: "a", Study: "a", Label: 1, Prob: .5}, {ID: "b", Study: "b", Label: 0, Prob: .5}}, boot)
			expect(t, err != nil || m.AUROC.Estimate == 0.5, "AUROC %v of equal scores, want 0.5", m.AUROC)
			return r(m, err)
		}},
		{"finetune/Subsets/empty", "finetune: subsets: no studies", func(t *testing.T) result { return r(finetune.Subsets(nil, []float64{0.5}, 1)) }},
		{"finetune/Subsets/one", "", func(t *testing.T) result {
			s, err := finetune.Subsets([]string{"a"}, []float64{0.01, 1}, 1)
			expect(t, err != nil || len(s[0.01]) == 1 && len(s[1]) == 1, "subsets %v of one study, want it in each", s)
			return r(s, err)
		}},
		// contrastive
		{"contrastive/NTXentGrad/one pair", "", func(t *testing.T) result {
			l, _, _, err := contrastive.NTXentGrad([]float32{1, 0}, []float32{0, 1}, 1, 2, 0.1, nil)
			// One pair has no negatives: each view's softmax has one term.
			expect(t, err != nil || l == 0, "loss %v of one pair, want 0", l)
			return r(l, err)
		}},
		{"contrastive/NTXent/one pair in a graph", "", func(t *testing.T) result {
			g := nn.NewGraph(true, nil)
			z1, z2, groups := g.Input("z1", 1, 3), g.Input("z2", 1, 3), g.Input("groups", 1)
			loss, err := contrastive.NTXent(z1, z2, groups, 0.1)
			if err != nil {
				return r(nil, err)
			}
			if _, err := G.Grad(loss, z1, z2); err != nil {
				return r(nil, err)
			}
			p := nn.NewEvaluator(g)
			defer p.Close()
			if _, err := p.Run(ctx, nn.Feed{Node: z1, Data: []float32{1, 2, 3}}, nn.Feed{Node: z2, Data: []float32{3, 2, 1}},
				nn.Feed{Node: groups, Data: contrastive.GroupCodes([]string{"s"}).Float32s()}); err != nil {
				return r(nil, err)
			}
			l, err := nn.ScalarValue(loss.Value())
			expect(t, err != nil || l == 0, "loss %v of one pair, want 0", l)
			return r(l, err)
		}},
		{"pretext/Loss/one clip in a graph", "", func(t *testing.T) result {
			g := nn.NewGraph(true, nil)
			h := g.Input("h", 1, 4)
			head, err := pretext.NewOrderHead(4, 4, rand.New(rand.NewPCG(1, 1)))
			if err != nil {
				return r(nil, err)
			}
			logits, err := head.Forward(g, h)
			if err != nil {
				return r(nil, err)
			}
			labels := g.Input("labels", 1)
			loss, err := pretext.Loss(logits, labels)
			if err != nil {
				return r(nil, err)
			}
			if _, err := G.Grad(loss, h); err != nil {
				return r(nil, err)
			}
			p := nn.NewEvaluator(g)
			defer p.Close()
			if _, err := p.Run(ctx, nn.Feed{Node: h, Data: []float32{1, 2, 3, 4}}, nn.Feed{Node: labels, Data: []float32{5}}); err != nil {
				return r(nil, err)
			}
			l, err := nn.ScalarValue(loss.Value())
			expect(t, err != nil || l > 0 && !math.IsInf(float64(l), 0), "loss %v, want a positive cross-entropy", l)
			return r(l, err)
		}},
		{"contrastive/NTXentGrad/empty", "contrastive: NTXentGrad:", func(t *testing.T) result {
			l, _, _, err := contrastive.NTXentGrad(nil, nil, 0, 2, 0.1, nil)
			return r(l, err)
		}},
		{"contrastive/RetrievalTop1/one", "contrastive: retrieval:", func(t *testing.T) result { return r(contrastive.RetrievalTop1([]float32{1, 2}, 1, 2, []string{"a"})) }},
		{"contrastive/RetrievalTop1/empty", "contrastive: retrieval:", func(t *testing.T) result { return r(contrastive.RetrievalTop1(nil, 0, 2, nil)) }},
		{"contrastive/MultiInstanceItems/one video", "", func(t *testing.T) result {
			items, err := contrastive.MultiInstanceItems(edgeData(t, "train", [5]int{1, 1, 1, 0, 1}), contrastive.ByStudy)
			expect(t, err != nil || len(items) == 1, "%d items of one video, want 1", len(items))
			return r(items, err)
		}},
		{"contrastive/PairSampler/clip longer than video", "", func(t *testing.T) result {
			s := contrastive.PairSampler(8, nil)
			views, err := s(rand.New(rand.NewPCG(1, 1)), video.Item{Paths: []string{"a"}}, []*video.Video{edgeVideo(2, 1, 1)})
			expect(t, err != nil || len(views) == 2 && views[0].Clip.T == 8, "views %+v, want 2 of 8 frames", views)
			return r(views, err)
		}},
		{"contrastive/PairSampler/no videos", "contrastive: pair sampler: item has 0 videos", func(t *testing.T) result {
			s := contrastive.PairSampler(8, nil)
			return r(s(rand.New(rand.NewPCG(1, 1)), video.Item{}, nil))
		}},
		// pretext
		{"pretext/Shuffle/one frame", "", func(t *testing.T) result {
			v, c, err := pretext.RandomShuffle(rand.New(rand.NewPCG(1, 1)), edgeVideo(1, 1, 1))
			return r([]any{v, c}, err)
		}},
		{"pretext/Accuracy/empty", "pretext: accuracy:", func(t *testing.T) result { return r(pretext.Accuracy(nil, nil, 24)) }},
		{"pretext/Accuracy/one class", "", func(t *testing.T) result {
			a, err := pretext.Accuracy([]float32{3}, []int{0}, 1)
			expect(t, err != nil || a == 1, "accuracy %v with one class, want 1", a)
			return r(a, err)
		}},
		// metrics
		{"metrics/AUROC/empty", "metrics: AUROC: empty input", func(t *testing.T) result { return r(metrics.AUROC(nil, nil)) }},
		{"metrics/AUROC/one class", "metrics: AUROC: only one class", func(t *testing.T) result { return r(metrics.AUROC([]bool{true, true}, []float64{1, 2})) }},
		{"metrics/AUROC/equal", "", func(t *testing.T) result {
			a, err := metrics.AUROC([]bool{true, false, true}, []float64{1, 1, 1})
			expect(t, err != nil || a == 0.5, "AUROC %v of equal scores, want 0.5", a)
			return r(a, err)
		}},
		{"metrics/ROC/equal", "", func(t *testing.T) result { return r(metrics.ROC([]bool{true, false}, []float64{1, 1})) }},
		{"metrics/PR/equal", "", func(t *testing.T) result { return r(metrics.PR([]bool{true, false}, []float64{1, 1})) }},
		{"metrics/AUPRC/equal", "", func(t *testing.T) result { return r(metrics.AUPRC([]bool{true, false}, []float64{1, 1})) }},
		{"metrics/AveragePrecision/one", "metrics: AveragePrecision: only one class", func(t *testing.T) result { return r(metrics.AveragePrecision([]bool{true}, []float64{1})) }},
		{"metrics/ConfusionAt/empty", "metrics: ConfusionAt: empty input", func(t *testing.T) result { return r(metrics.ConfusionAt(nil, nil, 0.5)) }},
		{"metrics/BestF1/equal", "", func(t *testing.T) result { return r(metrics.BestF1([]bool{true, false}, []float64{1, 1})) }},
		{"metrics/BootstrapAUROC/equal", "", func(t *testing.T) result {
			iv, err := metrics.BootstrapAUROC([]bool{true, false, true, false}, []float64{1, 1, 1, 1}, boot)
			expect(t, err != nil || iv.Estimate == 0.5, "AUROC %v of equal scores, want 0.5", iv)
			return r(iv, err)
		}},
		{"metrics/BootstrapAUROC/one", "metrics: BootstrapAUROC: only one class", func(t *testing.T) result { return r(metrics.BootstrapAUROC([]bool{true}, []float64{1}, boot)) }},
		{"metrics/PairedBootstrapAUROC/empty", "metrics: PairedBootstrapAUROC: empty input", func(t *testing.T) result { return r(metrics.PairedBootstrapAUROC(nil, nil, nil, boot)) }},
		{"metrics/DeLong/equal", "metrics: DeLong: variance of the AUROC difference is 0", func(t *testing.T) result {
			return r(metrics.DeLong([]bool{true, false, true, false}, []float64{1, 1, 1, 1}, []float64{1, 1, 1, 1}))
		}},
		{"metrics/DeLong/one each", "metrics: DeLong: need at least 2 of each class", func(t *testing.T) result {
			return r(metrics.DeLong([]bool{true, false}, []float64{1, 0}, []float64{0, 1}))
		}},
		{"metrics/MeanBy/empty", "metrics: MeanBy: empty input", func(t *testing.T) result { return r(metrics.MeanBy(nil, nil, nil)) }},
		{"metrics/Aggregate/one", "", func(t *testing.T) result {
			v, s, err := metrics.Aggregate([]metrics.ClipScore{{Study: "s", Video: "v", Label: true, Score: 1}})
			expect(t, err != nil || len(v.IDs) == 1 && len(s.IDs) == 1, "%d videos and %d studies, want 1 and 1", len(v.IDs), len(s.IDs))
			return r([]any{v, s}, err)
		}},
		{"metrics/Aggregate/empty", "metrics: Aggregate: empty input", func(t *testing.T) result {
			v, s, err := metrics.Aggregate(nil)
			return r([]any{v, s}, err)
		}},
		// video
		{"video/New/zero", "video: <video>: bad size", func(t *testing.T) result { return r(video.New(0, 1, 1, 3)) }},
		{"video/Resize/1x1 to 1x1", "", func(t *testing.T) result { return r(video.Resize(edgeVideo(1, 1, 1), 1, 1)) }},
		{"video/Resize/1x1 up", "", func(t *testing.T) result { return r(video.Resize(edgeVideo(1, 1, 1), 4, 4)) }},
		{"video/Resize/to zero", "size must be positive", func(t *testing.T) result { return r(video.Resize(edgeVideo(1, 2, 2), 0, 4)) }},
		{"video/MaskSector/1x1", "", func(t *testing.T) result { return r(video.MaskSector(edgeVideo(1, 1, 1))) }},
		{"video/MaskAndResize/1x1", "", func(t *testing.T) result { return r(video.MaskAndResize(4, 4)(edgeVideo(1, 1, 1))) }},
		{"video/ToGrey/1x1", "", func(t *testing.T) result { return r(video.ToGrey(edgeVideo(1, 1, 1))) }},
		{"video/Gather/longer", "", func(t *testing.T) result {
			v, err := video.Gather(edgeVideo(1, 1, 1), video.ClipIndices(1, 0, 4, 1))
			expect(t, err != nil || v.T == 4 && v.Frames[3] == 0 && v.Frames[0] != 0, "gathered %+v, want the frame and 3 zero frames", v)
			return r(v, err)
		}},
		{"video/Gather/empty", "video: <video>: gather: no frame indices", func(t *testing.T) result { return r(video.Gather(edgeVideo(1, 1, 1), nil)) }},
		{"video/TrainClipIndices/longer", "", func(t *testing.T) result { return r(video.TrainClipIndices(rand.New(rand.NewPCG(1, 1)), 1, 4, 2), nil) }},
		{"video/EvalClipStarts/longer", "", func(t *testing.T) result { return r(video.EvalClipStarts(1, 16), nil) }},
		{"video/TrainClipSampler/longer", "", func(t *testing.T) result {
			views, err := video.TrainClipSampler(16, 1, true)(rand.New(rand.NewPCG(1, 1)), video.Item{}, []*video.Video{edgeVideo(1, 1, 1)})
			expect(t, err != nil || len(views) == 1 && views[0].Clip.T == 16, "views %+v, want one of 16 frames", views)
			return r(views, err)
		}},
		{"video/TrainClipSampler/no video", "video: train clip: item", func(t *testing.T) result {
			return r(video.TrainClipSampler(16, 1, true)(rand.New(rand.NewPCG(1, 1)), video.Item{}, nil))
		}},
		{"video/EvalClipSampler/longer", "", func(t *testing.T) result {
			views, err := video.EvalClipSampler(16)(rand.New(rand.NewPCG(1, 1)), video.Item{}, []*video.Video{edgeVideo(1, 1, 1)})
			expect(t, err != nil || len(views) == video.EvalClips && views[0].Clip.T == 16, "views %+v, want %d of 16 frames", views, video.EvalClips)
			return r(views, err)
		}},
		{"video/EvalClipSampler/no video", "video: eval clips: item", func(t *testing.T) result {
			return r(video.EvalClipSampler(16)(rand.New(rand.NewPCG(1, 1)), video.Item{ID: "x"}, nil))
		}},
		{"video/Augment/1x1", "", func(t *testing.T) result {
			p := video.DrawAugment(rand.New(rand.NewPCG(1, 1)), 1, 1)
			return r(p.Apply(edgeVideo(1, 1, 1)))
		}},
		{"video/NewBatch/empty", "video: batch: no clips", func(t *testing.T) result { return r(video.NewBatch(nil, nil, video.BatchOptions{})) }},
		{"video/NewBatch/one 1x1", "", func(t *testing.T) result {
			b, err := video.NewBatch([]*video.Video{edgeVideo(1, 1, 1)}, []video.ItemInfo{{}}, video.BatchOptions{})
			expect(t, err != nil || b.Shape == [5]int{1, 3, 1, 1, 1}, "batch shape %v, want (1, 3, 1, 1, 1)", b.Shape)
			return r(b, err)
		}},
		{"video/ClipTensor/short", "video: <video>: clip tensor:", func(t *testing.T) result {
			return r(nil, video.ClipTensor(nil, edgeVideo(1, 1, 1), video.BatchOptions{}))
		}},
		{"video/NewLoader/empty", "video: loader: no items", func(t *testing.T) result { return r(video.NewLoader(video.LoaderConfig{})) }},

		// N = 1 where one is valid (the audit of issue 16: these entry
		// points were tested only with two or more rows, clips or items).
		{"nn/Linear/one row", "", func(t *testing.T) result {
			g := nn.NewGraph(false, nil)
			x, w, b := g.Input("x", 1, 2), g.Input("w", 3, 2), g.Input("b", 3)
			y, err := nn.Linear(x, w, b)
			if err != nil {
				return r(nil, err)
			}
			out, err := runGraph(g, y, nn.Feed{Node: x, Data: []float32{1, 2}}, nn.Feed{Node: w, Data: []float32{1, 0, 0, 1, 1, 1}}, nn.Feed{Node: b, Data: []float32{0, 0, 1}})
			expect(t, err != nil || close(out, 1, 2, 4), "Linear of one row = %v, want [1 2 4]", out)
			return r(out, err)
		}},
		{"nn/CrossEntropy/one row", "", func(t *testing.T) result {
			g := nn.NewGraph(false, nil)
			x, y := g.Input("logits", 1, 3), g.Input("labels", 1)
			loss, err := nn.CrossEntropy(x, y)
			if err != nil {
				return r(nil, err)
			}
			out, err := runGraph(g, loss, nn.Feed{Node: x, Data: []float32{1, 2, 3}}, nn.Feed{Node: y, Data: []float32{2}})
			want := math.Log(math.Exp(1)+math.Exp(2)+math.Exp(3)) - 3
			expect(t, err != nil || close(out, want), "CrossEntropy of one row = %v, want %v", out, want)
			return r(out, err)
		}},
		{"nn/BCEWithLogits/one row", "", func(t *testing.T) result {
			g := nn.NewGraph(false, nil)
			x, y := g.Input("logits", 1, 1), g.Input("targets", 1, 1)
			loss, err := nn.BCEWithLogits(x, y, 3)
			if err != nil {
				return r(nil, err)
			}
			out, err := runGraph(g, loss, nn.Feed{Node: x, Data: []float32{0.5}}, nn.Feed{Node: y, Data: []float32{1}})
			want := 3 * math.Log1p(math.Exp(-0.5))
			expect(t, err != nil || close(out, want), "BCEWithLogits of one row = %v, want %v", out, want)
			return r(out, err)
		}},
		{"nn/GlobalAvgPool3d/one clip", "", func(t *testing.T) result {
			g := nn.NewGraph(false, nil)
			x := g.Input("x", 1, 2, 1, 1, 2)
			y, err := nn.GlobalAvgPool3d(x, "pool")
			if err != nil {
				return r(nil, err)
			}
			out, err := runGraph(g, y, nn.Feed{Node: x, Data: []float32{1, 3, 5, 9}})
			expect(t, err != nil || close(out, 2, 7), "pooled %v, want [2 7]", out)
			return r(out, err)
		}},
		{"nn/Dropout/one value", "", func(t *testing.T) result {
			g := nn.NewGraph(true, rand.New(rand.NewPCG(1, 1)))
			x := g.Input("x", 1, 1)
			y, err := nn.Dropout(g, x, 0.5)
			if err != nil {
				return r(nil, err)
			}
			out, err := runGraph(g, y, nn.Feed{Node: x, Data: []float32{3}})
			expect(t, err != nil || close(out, 0) || close(out, 6), "dropout of 3 = %v, want 0 or 6", out)
			return r(out, err)
		}},
		{"nn/BatchNorm3d/one clip training", "", func(t *testing.T) result {
			g := nn.NewGraph(true, nil)
			x := g.Input("x", 1, 1, 1, 2, 2)
			y, err := nn.NewBatchNorm3dLayer("bn", 1).Forward(g, x)
			if err != nil {
				return r(nil, err)
			}
			out, err := runGraph(g, y, nn.Feed{Node: x, Data: []float32{1, 2, 3, 4}})
			// (v - 2.5) / sqrt(1.25 + 1e-5)
			k := 1 / math.Sqrt(1.25+1e-5)
			expect(t, err != nil || close(out, -1.5*k, -0.5*k, 0.5*k, 1.5*k), "BatchNorm3d of one clip = %v", out)
			return r(out, err)
		}},
		{"contrastive/ProjectionHead/one row", "", func(t *testing.T) result {
			head, err := contrastive.NewProjectionHead(8, rand.New(rand.NewPCG(1, 1)))
			if err != nil {
				return r(nil, err)
			}
			g := nn.NewGraph(true, nil)
			h := g.Input("h", 1, 8)
			z, err := head.Forward(g, h)
			if err != nil {
				return r(nil, err)
			}
			out, err := runGraph(g, z, nn.Feed{Node: h, Data: []float32{1, 2, 3, 4, 5, 6, 7, 8}})
			expect(t, err != nil || len(out) == head.OutDim(), "%d values, want %d", len(out), head.OutDim())
			return r(out, err)
		}},
		{"contrastive/SimCLRItems/one video", "", func(t *testing.T) result {
			items, err := contrastive.SimCLRItems(edgeData(t, "train", [5]int{2, 4, 4, 0, 1}), contrastive.ByStudy)
			expect(t, err != nil || len(items) == 1, "%d items, want 1", len(items))
			return r(items, err)
		}},
		{"pretext/OrderHead/one row", "", func(t *testing.T) result {
			head, err := pretext.NewOrderHead(8, 3, rand.New(rand.NewPCG(1, 1)))
			if err != nil {
				return r(nil, err)
			}
			g := nn.NewGraph(false, nil)
			h := g.Input("h", 1, 8)
			o, err := head.Forward(g, h)
			if err != nil {
				return r(nil, err)
			}
			out, err := runGraph(g, o, nn.Feed{Node: h, Data: make([]float32, 8)})
			expect(t, err != nil || len(out) == head.Classes(), "%d logits, want %d", len(out), head.Classes())
			return r(out, err)
		}},
		{"pretext/Accuracy/one", "", func(t *testing.T) result {
			acc, err := pretext.Accuracy([]float32{0, 5}, []int{1}, 2)
			expect(t, err != nil || acc == 1, "accuracy %v, want 1", acc)
			return r(acc, err)
		}},
		{"pretext/Permutations/one frame", "", func(t *testing.T) result {
			p, err := pretext.Permutations(1)
			expect(t, err != nil || len(p) == 1 && len(p[0]) == 1 && p[0][0] == 0, "permutations of 1: %v, want [[0]]", p)
			return r(p, err)
		}},
		{"metrics/AUROC/one each", "", func(t *testing.T) result {
			a, err := metrics.AUROC([]bool{false, true}, []float64{0.2, 0.7})
			expect(t, err != nil || a == 1, "AUROC %v, want 1", a)
			return r(a, err)
		}},
		{"metrics/ROC/one each", "", func(t *testing.T) result {
			c, err := metrics.ROC([]bool{true, false}, []float64{0.2, 0.7})
			return r(c, err)
		}},
		{"metrics/PR/one each", "", func(t *testing.T) result { return r(metrics.PR([]bool{true, false}, []float64{0.7, 0.2})) }},
		{"metrics/BestF1/one each", "", func(t *testing.T) result {
			b, err := metrics.BestF1([]bool{true, false}, []float64{0.7, 0.2})
			expect(t, err != nil || b.F == 1, "best F1 %+v, want 1", b)
			return r(b, err)
		}},
		{"metrics/ConfusionAt/one", "", func(t *testing.T) result {
			c, err := metrics.ConfusionAt([]bool{true}, []float64{0.7}, 0.5)
			expect(t, err != nil || c.TP == 1 && c.N() == 1, "confusion %+v, want one true positive", c)
			return r(c, err)
		}},
		{"metrics/MeanBy/one", "", func(t *testing.T) result {
			g, err := metrics.MeanBy([]string{"a"}, []bool{true}, []float64{0.25})
			expect(t, err != nil || g.Len() == 1 && g.Scores[0] == 0.25, "grouped %+v, want one group of 0.25", g)
			return r(g, err)
		}},
		{"metrics/LabelsFromInts/one", "", func(t *testing.T) result {
			l, err := metrics.LabelsFromInts([]int{1})
			expect(t, err != nil || len(l) == 1 && l[0], "labels %v, want [true]", l)
			return r(l, err)
		}},
		{"metrics/PairedBootstrapAUROC/one each", "", func(t *testing.T) result {
			return r(metrics.PairedBootstrapAUROC([]bool{false, true}, []float64{0.1, 0.9}, []float64{0.9, 0.1}, boot))
		}},
		{"finetune/Score/one study each", "", func(t *testing.T) result {
			m, err := finetune.Score([]finetune.Prediction{{ID: "a", Study: "a", Label: 0, Prob: 0.2, Count: 1}, {ID: "b", Study: "b", Label: 1, Prob: 0.9, Count: 1}}, boot)
			expect(t, err != nil || m.AUROC.Estimate == 1, "metrics %+v, want AUROC 1", m)
			return r(m, err)
		}},
		{"finetune/StudyLabels/one", "", func(t *testing.T) result {
			l, err := finetune.StudyLabels(edgeData(t, "train", [5]int{2, 4, 4, 1, 7}))
			expect(t, err != nil || len(l) == 1 && l["S7"] == 1, "labels %v, want S7: 1", l)
			return r(l, err)
		}},
		{"finetune/SelectStudies/one", "", func(t *testing.T) result {
			m, err := finetune.SelectStudies(edgeData(t, "train", [5]int{2, 4, 4, 1, 7}, [5]int{2, 4, 4, 0, 8}), []string{"S8"})
			expect(t, err != nil || len(m.Records) == 1 && m.Records[0].Study == "S8", "selected %+v, want S8", m)
			return r(m, err)
		}},
		{"video/Loader/batch of one", "", func(t *testing.T) result {
			m := edgeData(t, "train", [5]int{2, 4, 4, 0, 1})
			l, err := video.NewLoader(video.LoaderConfig{Items: m.Items(), Decode: video.ReadFile, Sample: video.TrainClipSampler(2, 1, false), BatchSize: 1, Workers: 1})
			if err != nil {
				return r(nil, err)
			}
			steps := 0
			for st, err := range l.Batches(ctx, 1) {
				if err != nil {
					return r(nil, err)
				}
				steps++
				expect(t, len(st.Views) == 1 && st.Views[0].Shape == [5]int{1, 3, 2, 4, 4}, "step %+v, want one view of (1, 3, 2, 4, 4)", st)
			}
			expect(t, steps == 1 && l.NumBatches() == 1, "%d steps (NumBatches %d), want 1", steps, l.NumBatches())
			return r(steps, nil)
		}},
		{"video/SplitByStudy/one study", "", func(t *testing.T) result {
			m := &video.Manifest{Records: []video.Record{{Path: "a", Study: "S"}}}
			err := m.SplitByStudy(1, video.PaperSplit)
			expect(t, err != nil || m.Records[0].Split == video.SplitTrain, "split %q, want train", m.Records[0].Split)
			return r(m, err)
		}},
		{"figures/AUROCByFraction/one point", "", func(t *testing.T) result {
			err := figures.AUROCByFraction(io.Discard, []figures.FractionSeries{{Name: "Random", Points: []figures.FractionPoint{{Percent: 100, AUROC: 0.8, Lower: 0.7, Upper: 0.9}}}}, figures.Options{})
			return r(nil, err)
		}},
		{"resnet3d/NewClassifierTrainer/one clip, 4 values per channel", "", func(t *testing.T) result {
			// One clip is a valid batch when every batch norm sees more than
			// one value per channel: layer4 sees 1x2x2 of 8x32x32.
			p, x, y, err := resnet3d.NewClassifierTrainer(tinyModel(t, 1), 1, 8, 32, 32, 1, nn.NewAdam(1e-3), nil)
			if err != nil {
				return r(nil, err)
			}
			defer p.Close()
			loss, err := p.Run(ctx, nn.Feed{Node: x, Data: make([]float32, 3*8*32*32)}, nn.Feed{Node: y, Data: []float32{1}})
			expect(t, err != nil || !math.IsNaN(float64(loss)), "loss %v", loss)
			return r(loss, err)
		}},
		{"pretrain/Evaluator/one clip", "", func(t *testing.T) result {
			m, err := pretrain.NewModel(tp)
			if err != nil {
				return r(nil, err)
			}
			e, err := pretrain.NewEvaluator(m, [5]int{1, 3, 4, 8, 8})
			if err != nil {
				return r(nil, err)
			}
			defer e.Close()
			h, o, err := e.Run(ctx, make([]float32, 3*4*8*8))
			expect(t, err != nil || len(h) == tp.Model.FeatureDim() && len(o) == 24, "%d features and %d order logits, want %d and 24", len(h), len(o), tp.Model.FeatureDim())
			return r(h, err)
		}},
		{"pretrain/Probe/one video", "", func(t *testing.T) result {
			m, err := pretrain.NewModel(tp)
			if err != nil {
				return r(nil, err)
			}
			data := edgeData(t, "test", [5]int{6, 8, 8, 1, 1})
			p := pretrain.Probe{ClipLength: 4, Workers: 1}
			f, err := p.VideoFeatures(ctx, m, data, 1)
			if err != nil {
				return r(nil, err)
			}
			expect(t, len(f) == tp.Model.FeatureDim(), "%d features, want %d", len(f), tp.Model.FeatureDim())
			acc, err := p.FrameOrder(ctx, m, data)
			expect(t, err != nil || acc == 0 || acc == 1, "frame-order accuracy %v of one video, want 0 or 1", acc)
			return r(acc, err)
		}},
		{"pretrain/StudyProbes/one study of each class", "", func(t *testing.T) result {
			train := edgeData(t, "train", [5]int{2, 4, 4, 0, 1}, [5]int{2, 4, 4, 1, 2})
			test := edgeData(t, "test", [5]int{2, 4, 4, 1, 3}, [5]int{2, 4, 4, 0, 4})
			res, err := pretrain.StudyProbes([]float32{0, 1, 1, 0}, train, []float32{1, 0, 0, 1}, test, 2, pretrain.ProbeOptions{})
			expect(t, err != nil || res.Linear.Len() == 2 && res.LinearAUROC == 1 && res.KNNAUROC == 1, "probes %+v, want AUROC 1 on two test studies", res)
			return r(res, err)
		}},
		{"pretrain/StudyProbes/one test study", "pretrain: probes: test studies: metrics: AUROC: only one class", func(t *testing.T) result {
			train := edgeData(t, "train", [5]int{2, 4, 4, 0, 1}, [5]int{2, 4, 4, 1, 2})
			test := edgeData(t, "test", [5]int{2, 4, 4, 1, 3})
			return r(pretrain.StudyProbes([]float32{0, 1, 1, 0}, train, []float32{1, 0}, test, 2, pretrain.ProbeOptions{}))
		}},
		{"probe/Logistic/one row", "", func(t *testing.T) result {
			m, err := probe.Linear{}.Fit([]float32{0, 1}, 2, 1, []int{0, 1})
			if err != nil {
				return r(nil, err)
			}
			s, err := m.Scores([]float32{5}, 1)
			expect(t, err != nil || len(s) == 1 && s[0] > 0.5, "scores %v, want one above 0.5", s)
			return r(s, err)
		}},
		{"probe/KNN/one test row", "", func(t *testing.T) result {
			s, err := probe.KNN{}.Scores([]float32{1, 0, 0, 1}, 2, []int{1, 0}, []float32{1, 0}, 1, 2)
			expect(t, err != nil || len(s) == 1 && s[0] > 0.5, "scores %v, want one above 0.5", s)
			return r(s, err)
		}},
		{"contrastive/GroupCodes/one", "", func(t *testing.T) result {
			g := contrastive.GroupCodes([]string{"S"})
			expect(t, len(g) == 1 && len(g.Float32s()) == 1, "codes %v, want one", g)
			return r(g, nil)
		}},
		{"explain/Grid/one image", "", func(t *testing.T) result {
			img, err := explain.Colorize([]float32{0.5}, 1, 1, explain.Jet)
			if err != nil {
				return r(nil, err)
			}
			return r(explain.Grid([][]*image.RGBA{{img}}, []string{"model"}, []string{"overlay"}))
		}},
		{"figures/ROC/one curve", "", func(t *testing.T) result {
			err := figures.ROC(io.Discard, []figures.ROCCurve{{Name: "Random", FPR: []float64{0, 1}, TPR: []float64{0, 1}, AUROC: 0.5}}, figures.Options{})
			return r(nil, err)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var res result
			func() {
				defer func() {
					if p := recover(); p != nil {
						res.err = fmt.Errorf("PANIC: %v", p)
					}
				}()
				res = c.run(t)
			}()
			switch {
			case res.err != nil && c.want == "":
				t.Errorf("error %v, want a result", res.err)
			case res.err == nil && c.want != "":
				t.Errorf("result %v, want an error with %q", res.v, c.want)
			case res.err != nil && !strings.Contains(res.err.Error(), c.want):
				t.Errorf("error %q, want one with %q", res.err, c.want)
			case res.err != nil && !strings.HasPrefix(res.err.Error(), strings.Split(c.name, "/")[0]+": ") && !strings.HasPrefix(res.err.Error(), "video: "):
				t.Errorf("error %q does not begin with its package's name", res.err)
			}
		})
	}
}
