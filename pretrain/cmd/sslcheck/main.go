// Command sslcheck checks that vidssl's self-supervised methods learn: it
// makes a synthetic echo data set (video/echosynth; sector-masked as the
// paper preprocesses), pretrains each method on its training split with
// pretrain.SmallConfig, and measures on the held-out (validation and test)
// videos
//
//   - the frame-order accuracy of MI-SimCLR+FO's order head (chance 1/24), and
//   - same-study top-1 retrieval with frozen encoder features: how often a
//     video's nearest other video (cosine) is of its own study,
//
// each against the same model at its random initialisation.
//
//	go run ./pretrain/cmd/sslcheck                # about 3 minutes on 2 cores
//	go run ./pretrain/cmd/sslcheck -epochs 60 -studies 200 -seed 2
//
// Flags change the data set (-studies, -frames, -size, -fps, -nuisance) and
// the presets (-epochs, -width, -batch, -lr, -tau, -cw, -ow, -mask). Data
// sets and runs go under -dir (a temporary directory by default); a run that
// is already there is resumed, so a second invocation only evaluates.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/vidssl/vidssl/contrastive"
	"github.com/vidssl/vidssl/pretrain"
	"github.com/vidssl/vidssl/resnet3d"
	"github.com/vidssl/vidssl/video"
	"github.com/vidssl/vidssl/video/echosynth"
)

// options are the command's flags.
type options struct {
	dir             string
	studies, frames int
	size            int
	fps, nuisance   float64
	methods         string
	epochs, width   int
	batch           int
	lr, tau, cw, ow float64
	seed            uint64
	mask            string
}

func main() {
	var o options
	flag.StringVar(&o.dir, "dir", "", "directory for the data set and the runs (default: a temporary one, removed at the end)")
	flag.IntVar(&o.studies, "studies", 80, "studies in the synthetic data set")
	flag.IntVar(&o.frames, "frames", 16, "frames per video")
	flag.IntVar(&o.size, "size", 32, "frame height and width")
	flag.Float64Var(&o.fps, "fps", 30, "frame rate of the synthetic videos")
	flag.Float64Var(&o.nuisance, "nuisance", 1, "scale of the per-video acquisition ranges around their centres (1: echosynth's defaults)")
	flag.StringVar(&o.methods, "methods", "mi-simclr-fo,mi-simclr,simclr", "comma-separated methods to pretrain")
	flag.IntVar(&o.epochs, "epochs", 0, "epochs (0: the preset's)")
	flag.IntVar(&o.width, "width", 0, "encoder width (0: the preset's)")
	flag.IntVar(&o.batch, "batch", 0, "pairs per step (0: the preset's)")
	flag.Float64Var(&o.lr, "lr", 0, "learning rate (0: the preset's)")
	flag.Float64Var(&o.tau, "tau", 0, "NT-Xent temperature (0: the preset's)")
	flag.Float64Var(&o.cw, "cw", -1, "NT-Xent weight (-1: the preset's)")
	flag.Float64Var(&o.ow, "ow", -1, "frame-order weight (-1: the preset's)")
	flag.Uint64Var(&o.seed, "seed", 1, "seed of the runs")
	flag.StringVar(&o.mask, "mask", "", "same-group masking: on or off (default: the preset's)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(ctx, log, o); err != nil {
		log.Error("sslcheck", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger, o options) error {
	dir := o.dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "sslcheck")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	dcfg := echosynth.DefaultConfig()
	dcfg.Studies, dcfg.Frames, dcfg.Height, dcfg.Width, dcfg.FPS = o.studies, o.frames, o.size, o.size, o.fps
	scaleNuisance(&dcfg.Nuisance, o.nuisance)
	start := time.Now()
	dataDir := filepath.Join(dir, fmt.Sprintf("echosynth-%d-%d-%d-%g-n%g", o.studies, o.frames, o.size, o.fps, o.nuisance))
	manifest, err := echosynth.WriteDataset(ctx, dataDir, dcfg, nil)
	if err != nil {
		return err
	}
	m, err := video.ReadManifest(manifest, video.OurColumns)
	if err != nil {
		return err
	}
	held := &video.Manifest{}
	for _, r := range m.Records {
		if r.Split == video.SplitVal || r.Split == video.SplitTest {
			held.Records = append(held.Records, r)
		}
	}
	log.Info("data", "dir", dataDir, "videos", len(m.Records), "train", len(m.Subset(video.SplitTrain).Records), "held_out", len(held.Records), "took", time.Since(start).Round(time.Millisecond))

	var report []string
	for _, name := range strings.Split(o.methods, ",") {
		method, err := pretrain.ParseMethod(name)
		if err != nil {
			return err
		}
		cfg := pretrain.SmallConfig(method)
		cfg.Seed = o.seed
		cfg.Preprocess = video.MaskSector
		if o.epochs > 0 {
			cfg.Epochs = o.epochs
		}
		if o.width > 0 {
			cfg.Model = resnet3d.Config{InChannels: 3, Width: o.width, Blocks: cfg.Model.Blocks}
		}
		if o.batch > 0 {
			cfg.BatchPairs = o.batch
		}
		if o.lr > 0 {
			cfg.LR = o.lr
		}
		if o.tau > 0 {
			cfg.Tau = o.tau
		}
		switch o.mask {
		case "on":
			cfg.MaskSameGroup = true
		case "off":
			cfg.MaskSameGroup = false
		case "":
		default:
			return fmt.Errorf("-mask %q: want on or off", o.mask)
		}
		if o.cw >= 0 {
			cfg.ContrastiveWeight = o.cw
		}
		if o.ow >= 0 {
			cfg.OrderWeight = o.ow
		}
		cfg.Progress = func(p pretrain.Progress) {
			if p.Done != nil {
				log.Info("epoch", "method", method, "epoch", p.Epoch, "of", p.Epochs, "loss", fmt.Sprintf("%.4f", p.Done.Loss),
					"ntxent", fmt.Sprintf("%.4f", p.Done.NTXent), "order", fmt.Sprintf("%.4f", p.Done.Order),
					"order_acc", fmt.Sprintf("%.3f", p.Done.OrderAccuracy), "s", fmt.Sprintf("%.1f", p.Done.Seconds))
			}
		}
		runDir := filepath.Join(dataDir, fmt.Sprintf("%s-w%d-b%d-lr%g-tau%g-cw%g-ow%g-mask%t-seed%d", method, cfg.Model.Width, cfg.BatchPairs, cfg.LR, cfg.Tau, cfg.ContrastiveWeight, cfg.OrderWeight, cfg.MaskSameGroup, o.seed))
		start := time.Now()
		res, err := pretrain.Run(ctx, cfg, m, runDir)
		if err != nil {
			return err
		}
		log.Info("pretrained", "method", method, "dir", runDir, "took", time.Since(start).Round(time.Second))
		random, err := pretrain.NewModel(cfg)
		if err != nil {
			return err
		}
		probe := pretrain.Probe{ClipLength: cfg.ClipLength, Seed: 12345, Preprocess: video.MaskSector}
		if method.FrameOrder() {
			acc, err := probe.FrameOrder(ctx, res.Model, held)
			if err != nil {
				return err
			}
			acc0, err := probe.FrameOrder(ctx, random, held)
			if err != nil {
				return err
			}
			report = append(report, fmt.Sprintf("%-13s frame-order accuracy on %d held-out clips: %.3f (random init %.3f, chance %.3f)",
				method, len(held.Records), acc, acc0, 1/24.0))
		}
		ret, err := probe.Retrieval(ctx, res.Model, held, contrastive.ByStudy)
		if err != nil {
			return err
		}
		ret0, err := probe.Retrieval(ctx, random, held, contrastive.ByStudy)
		if err != nil {
			return err
		}
		report = append(report, fmt.Sprintf("%-13s same-study top-1 retrieval on %d held-out videos: %.3f (random init %.3f, chance %.3f)",
			method, ret.Queries, ret.Rate(), ret0.Rate(), ret.Chance))
	}
	for _, line := range report {
		fmt.Println(line)
	}
	return nil
}

// scaleNuisance shrinks (or widens) every per-video acquisition range around
// its centre by f: the smaller f, the more alike the videos of one study.
func scaleNuisance(n *echosynth.Nuisance, f float64) {
	for _, r := range []*echosynth.Range{&n.GainDB, &n.DynamicRangeDB, &n.TGCDB, &n.DepthCM, &n.SectorDeg,
		&n.TiltDeg, &n.ShiftCM, &n.HeartRateDeltaBPM, &n.NoiseLevel} {
		c, h := (r.Min+r.Max)/2, (r.Max-r.Min)/2*f
		r.Min, r.Max = c-h, c+h
	}
}
