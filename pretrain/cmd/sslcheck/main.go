// Command sslcheck checks that vidssl's self-supervised methods learn: it
// makes synthetic echo data sets (video/echosynth; sector-masked as the
// paper preprocesses), pretrains each method on a training split with
// pretrain.SmallConfig, and measures on the held-out (validation and test)
// videos
//
//   - the frame-order accuracy of MI-SimCLR+FO's order head (chance 1/24), and
//   - same-study top-1 retrieval with frozen encoder features: how often a
//     video's nearest other video (cosine) is of its own study,
//
// each against the same model at its random initialisation.
//
//	go run ./pretrain/cmd/sslcheck                # about 6 minutes on 2 cores
//	go run ./pretrain/cmd/sslcheck -epochs 60 -studies 200 -seed 2
//
// # Frame order needs visible motion
//
// SimCLR and MI-SimCLR run on 32x32 videos at 30 frames per second (-size,
// -fps). MI-SimCLR+FO runs on its own data set, the same studies at 64x64
// and 10 frames per second (-fo-size, -fo-fps), with Adam at 1e-3, 16 pairs
// per step and 70 epochs (-fo-lr, -fo-batch, -fo-epochs); its frame-order
// accuracy is measured on -fo-repeat clips per held-out video. The reason is
// the data, not the method: the order of a clip's 4 consecutive frames shows
// in how the heart moves between them, and echosynth's posterior wall moves
// about 1.1 cm in a systole of about 0.27 s, which at 32 pixels (1.8 px/cm) and
// 30 fps is a quarter of a pixel per frame. At 64 pixels and 10 fps the wall
// moves about 1.4 px per frame (echosynth at the paper's 112 pixels moves it
// 0.5-0.9 px per frame at 30-50 fps), and a 4-frame clip spans 0.3 s, less
// than the shortest beat (0.56 s at 107 bpm), so it never holds a whole
// cycle, whose order would be ambiguous. Contraction played backwards
// resembles relaxation, so a clip and its reverse are easily confused (which
// caps the accuracy near 1/2 where they cannot be told apart). -fo-size 0
// -fo-fps 0 puts MI-SimCLR+FO on the same data as the others.
//
// Measured on 2026-12-07 (frame order alone, -cw 0, 80 studies, 30 epochs of
// about 16 steps, width 8, Adam 1e-3 unless named, seed 1; held-out accuracy
// on 288 clips, chance 0.042, standard error about 0.012 at chance):
//
//	data                                          held-out order accuracy
//	64x64 generated, 10 fps, scanner-fixed speckle  0.090 (train 0.23)
//	64x64 generated, 10 fps, tissue speckle         0.260 (train 0.27)
//	  the same, seeds 2 and 3                       0.059, 0.236
//	  the same, seed 1, VIDSSL_BLAS=openblas        0.337
//	48x48 generated, 10 fps, tissue speckle         0.045 (lr 1e-2: 0.049)
//	112 generated, masked, resized to 64, 10 fps    0.094 (train 0.10)
//	  the same run extended to 90 epochs            0.413
//	112 generated, masked, resized to 48, 10 fps    0.069 (train 0.10)
//	  the same run extended to 90 epochs            0.444 (train 0.43)
//	112 generated, masked, resized to 48, 7.5 fps   0.052
//
// With NT-Xent as well (MI-SimCLR+FO as the paper weights it, -cw 1), on
// the data where frame order alone reached 0.444 (112 resized to 48, 10
// fps, 90 epochs), the order head never left chance, whatever its weight,
// while NT-Xent fell from ln 31 = 3.43 to about 0.4-0.6:
//
//	-ow 1: 0.045    -ow 3: 0.066    -ow 10: 0.056
//
// So at this scale the contrastive objective, not the data, keeps frame
// order from being learnt, and weighting the order loss up to 10 times does
// not change that. It is not that NT-Xent, computed on clips whose two
// views are shuffled independently, rewards features blind to the order:
// with both views shuffled alike (-shared-order, pretrain.Config.SharedOrder)
// the head stayed at chance too (0.024). Frame order alone sits at chance
// for about 35 epochs before it takes off; NT-Xent, which learns from the
// first epoch, seems to pull the width-8 encoder's 64 features towards
// appearance before the weak, slowly accumulating order signal can take
// hold.
//
// Three remedies, each chosen from that reading before it ran, did not
// change it (same data and settings, 90 epochs, 2026-12-07):
//
//	order alone for 45 epochs, then both (-warmup 45)    0.090
//	  the same with the order loss weighted 10 (-ow 10)  0.069
//	width 16 (128 features), both from the start         0.062 (retrieval 0.861)
//
// Nor does time: the paper's way extended to 300 epochs (the paper's
// length) left the order head at chance (0.056; NT-Xent 0.11, retrieval
// 0.931). At initialisation NT-Xent's gradient on the encoder is 13 times
// the order loss's (L2 over all encoder weights, tau 0.1, random clips;
// 6-25 times per layer), about 1/tau, which is why the order weight was
// raised to 10; raising it did not help either.
//
// The warm-up runs explain it. In the first, the order loss had left chance
// at epoch 43 (3.134 at epoch 45, against ln 24 = 3.178) and was back at
// chance one epoch after NT-Xent joined. Adam's second moments, built from
// the order loss's smaller gradients, make NT-Xent's first steps after the
// switch several times larger than usual, so a restart of Adam at the
// switch was tried too (a throwaway build; seeds 1-3 with and without it,
// 90 epochs; the take-off epoch moves with the seed and with the kernels'
// rounding, so the order loss at the switch differs between runs of one
// seed on two builds):
//
//	order loss at the switch   Adam restarted   held-out order   retrieval   NT-Xent at 90
//	2.00 (seed 2)              no               0.524            0.014       3.40
//	2.27 (seed 1)              yes              0.441            0.194       2.46
//	2.72 (seed 3)              no               0.128            0.264       1.48
//	2.85 (seed 3)              yes              0.059            0.583       0.81
//	3.07 (seed 2)              yes              0.031            0.792       0.56
//	3.13 (seed 1)              no               0.090            0.722       0.88
//
// So the restart does not decide it; how far frame order has got when
// NT-Xent joins does. The two objectives compete for the width-8 encoder's
// 64 features, winner take all: an established order head survives and
// holds NT-Xent at its no-information value (ln 31 = 3.43) for 35-45
// epochs; an order head just off chance is erased; in between the outcome
// is mixed (the two 2.7-2.85 rows). Given time, an established order head and NT-Xent do coexist: the
// 2.27 run extended to 300 epochs ended at held-out order accuracy 0.493
// (12 times chance), NT-Xent 0.82 and retrieval 0.569 (random init 0.347;
// NT-Xent alone reaches 0.93). Positives in MI-SimCLR are clips of other
// videos at other points of the heart cycle, so the motion features frame
// order reads are noise to NT-Xent, which removes them when it gets there
// first.
//
// A warm-up that ends when the order head is established follows from
// this: pretrain.Config.OrderWarmupAccuracy (-warmup-acc) ends it after the
// first epoch whose training order accuracy reaches a level, with
// -warmup as the longest. Run on three seeds not used before (4-6), with
// the level set beforehand at 5 times chance (0.21), the longest warm-up
// 100 epochs and 200 epochs in all (-warmup 100 -warmup-acc 0.21
// -fo-epochs 200):
//
//	seed   NT-Xent joined   held-out order   retrieval (random init)   NT-Xent at 200
//	4      epoch 57         0.538            0.042 (0.528)             3.41
//	5      epoch 73         0.410            0.292 (0.292)             1.27
//	6      epoch 101 (cap)  0.069            0.847 (0.389)             0.41
//
// Frame order survived wherever it was established (seeds 4 and 5); in
// seed 6 it took off only at epoch 85 and was still weak (0.11) at the
// cap, and NT-Xent erased it. But NT-Xent then learned in one seed of the
// two (seed 5; its retrieval no better than a random encoder's) and in seed
// 4 stayed at its no-information value for 144 epochs. So no schedule
// tried here gets both objectives to learn in every seed at width 8: at
// this scale MI-SimCLR+FO is either MI-SimCLR on shuffled frames or, once
// frame order wins, a frame-order encoder. The paper's encoder has 512
// features, eight times these. Width 16 did not change the paper's way
// here, nor did width 32 (256 features, a quarter of R3D-18's width), run
// on 2026-12-08 for seeds 1-3 (-width 32 -fo-epochs 90, the paper's
// schedule; success fixed beforehand as held-out order >= 0.21, 5 times
// chance, in every seed): held-out order 0.069, 0.076, 0.045 (random init
// 0.028-0.045), while NT-Xent fell to 0.17-0.23 and same-study retrieval
// reached 0.958-0.972 (random init 0.47-0.65). Nor did R3D-18's full
// feature width (-width 64: 512 features, one block per stage; seeds 1-3,
// the same schedule and bar, fixed before they ran; 2026-12-08, 32-35
// minutes and 1.8-1.9 GB each on 2 cores): held-out order 0.038, 0.059,
// 0.045 (random init 0.024-0.035), while NT-Xent fell to 0.30-0.33 and
// same-study retrieval reached 0.861-0.917 (random init 0.57-0.63).
// Nor did the learning rate, the temperature or the paper's length (width
// 8, the paper's schedule otherwise, the same bar, each decided before it
// ran, 2026-12-08; NT-Xent from the history's last epoch):
//
//	change                        held-out order, seeds 1-3   NT-Xent      retrieval (random init)
//	Adam at 1e-2 (not 1e-3)       0.076, 0.042, 0.052         0.61-0.96    0.57-0.85 (0.29-0.35)
//	Adam at 1e-4                  0.049, 0.031, 0.042         0.97-1.13    0.61-0.74 (0.29-0.35)
//	tau 0.5 (not 0.1)             0.042, 0.038, 0.056         1.87-1.92    0.72-0.76 (0.29-0.35)
//	300 epochs (seeds 2 and 3)    0.031, 0.024                0.10, 0.18   0.88, 0.89 (0.29, 0.35)
//
// (tau 0.5 makes NT-Xent's gradient about 5 times smaller, which the order
// weight of 10 above more than matched; seed 1 at 300 epochs is the 0.056
// above.)
//
// What the gradients say. pretrain.MeasureAlignment (-align EPOCHS) takes,
// at a checkpoint, NT-Xent's and the order loss's gradients on the
// encoder, each summed over one epoch's 17 batches, and gives their cosine,
// the ratio of their norms, and each one's consistency (its cosine between
// the sums over the two halves of the batches; near 0 it is batch noise,
// with no direction that many steps would follow). Measured on 2026-12-08
// at the checkpoints of the width-8 runs above and the width-64 seed 1
// (the losses unweighted; the -ow 10 run weighs the order loss 10 times):
//
//	run                         epoch  NT-Xent  order  cosine  ratio  consistency (NT-Xent, order)
//	paper's way, seed 1             5     2.33   3.15   -0.10    7.2  +0.37, -0.07
//	                               45     0.48   3.16   +0.17   17.9  +0.68, -0.15
//	                               90     0.27   3.17   +0.05    6.8  +0.30, +0.09
//	                              300     0.05   3.18   -0.08    4.9  +0.24, -0.19
//	  -ow 10                        5     2.63   3.13   +0.01    8.1  +0.50, +0.09
//	                               45     0.56   3.15   -0.07   13.0  +0.03, -0.14
//	                               90     0.41   3.17   -0.15   14.3  +0.20, +0.06
//	  -width 64                     5     1.82   3.12   +0.22    9.2  +0.75, -0.21
//	                               45     0.40   3.13   +0.52    9.1  +0.73, +0.05
//	                               90     0.15   3.14   +0.01    4.5  +0.12, -0.15
//	frame order alone (-cw 0)      20     3.38   3.13   +0.01    6.9  +0.14, +0.20
//	                               45     4.10   2.39   -0.05    2.1  +0.38, +0.56
//	                               90     4.29   1.04   -0.49    2.7  +0.47, +0.51
//	warm-up, seed 4 (switch 57)    55     4.33   2.25   -0.36    3.1  +0.14, +0.55
//	                               60     3.40   2.04   +0.01   0.16  +0.41, +0.49
//	warm-up, seed 5 (switch 73)    70     5.34   2.32   -0.39    4.7  +0.05, +0.77
//	                               75     3.39   2.24   +0.85   0.33  +0.84, +0.82
//	                              100     2.25   2.01   +0.37   0.59  +0.71, +0.94
//	warm-up, seed 6 (switch 101)  100     4.11   2.77   -0.77    2.4  +0.69, +0.95
//	                              105     2.29   3.10   -0.24    1.9  +0.31, +0.71
//
// Three things follow. With both losses from the start, the order loss's
// gradient is batch noise at every checkpoint (consistency -0.21 to
// +0.09; -0.26 to +0.10 at the last epoch of each run in the table before
// this one), at width 8 and 64, while NT-Xent's mostly is (+0.12 to +0.75,
// once +0.03) and is 4.5-18 times larger; weighted 10 times, the order
// loss pulls about as hard as NT-Xent and its gradient is still noise. The
// order head never finds a direction to follow, so nothing is erased
// because nothing is learnt (alone, its gradient's consistency was +0.20
// at epoch 20 and +0.56 at 45, as it took off). Once frame order has been learnt
// (alone, or at the end of a warm-up), the two gradients point apart:
// cosine -0.36 to -0.77 against consistencies of 0.5-0.95, most in the
// stem and layer1 (-0.40 to -0.85 at the switches), the layers that see
// the motion, with NT-Xent's 2.4-4.7 times the larger; at every switch a
// plain gradient step on the 1:1 sum would raise the order loss (1 +
// ratio*cosine = -0.12, -0.83, -0.83; Adam scales each weight's step,
// which this does not model). Then one of the two gives way: in seed 6 the
// order loss was back at chance within two epochs; in seeds 4 and 5
// NT-Xent fell at once from 4.3-5.3 (worse than uninformative projections)
// to about ln 31 = 3.43 (projections nearly alike), where its gradient is
// 0.16-0.33 of the order loss's, and in seed 5 it left that value later
// with the two gradients aligned (cosine +0.85 at epoch 75, +0.37 at 100).
// So the two objectives are not merely unequal in size: at this scale the
// features frame order needs lie where NT-Xent's gradient points away from.
//
// (-gen-size 112 generates at 112 pixels and resizes after masking, as the
// example's presets do.) Speckle that moves with the tissue, as echosynth's
// now does, is what makes the learnt order carry over to held-out videos at
// 64 pixels; scanner-fixed speckle (echosynth before 2026-12-07) let the
// head fit the training clips without generalising. Resizing from 112
// pixels averages the speckle away, as downsampling real echoes does, and
// leaves the walls' and valves' edges as the only cue: order then needs
// more steps (at 48 pixels it takes off after about 35 epochs and reaches
// 10 times chance by 90). Where it is learnable, the
// order head sits at chance for a while and then takes off, and when it
// takes off varies with the seed and the BLAS's rounding (epoch 11 for seed
// 1, about 25 for seed 2, which ended at 0.059): that, and not a defect, is
// why two machines gave 0.215 and 0.052 with the same command. Except where
// seeds are named these are single runs; the
// example's demo preset measures the same accuracy on its own data (about
// 3,300 steps of 32 pairs) in its history.csv.
//
// Flags change the data sets (-studies, -frames, -size, -fps, -nuisance,
// -fo-size, -fo-fps) and the presets (-epochs, -width, -batch, -lr, -tau, -cw,
// -ow, -mask, and for MI-SimCLR+FO -fo-epochs, -fo-batch, -fo-lr,
// -shared-order, -warmup). Data sets
// and runs go under -dir (a temporary directory by default); a run that is
// already there is resumed (or extended, with more epochs), so a second
// invocation only evaluates.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
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
	dir               string
	studies, frames   int
	size              int
	fps, nuisance     float64
	methods           string
	epochs, width     int
	batch             int
	lr, tau, cw, ow   float64
	seed              uint64
	mask              string
	sharedOrder       bool
	warmup            int
	warmupAccuracy    float64
	foSize            int
	foFPS, foLR       float64
	foEpochs, foBatch int
	foRepeat          int
	genSize           int
	align             string
}

func main() {
	var o options
	flag.StringVar(&o.dir, "dir", "", "directory for the data set and the runs (default: a temporary one, removed at the end)")
	flag.IntVar(&o.studies, "studies", 80, "studies in the synthetic data set")
	flag.IntVar(&o.frames, "frames", 16, "frames per video")
	flag.IntVar(&o.size, "size", 32, "frame height and width")
	flag.Float64Var(&o.fps, "fps", 30, "frame rate of the synthetic videos")
	flag.Float64Var(&o.nuisance, "nuisance", 1, "scale of the within-study acquisition jitter (echosynth.Config.VideoJitter) around its centre (1: echosynth's defaults)")
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
	flag.BoolVar(&o.sharedOrder, "shared-order", false, "MI-SimCLR+FO shuffles both views of a pair by one permutation (pretrain.Config.SharedOrder) instead of one each, the paper's way")
	flag.IntVar(&o.warmup, "warmup", 0, "MI-SimCLR+FO trains the frame-order loss alone for this many epochs first (pretrain.Config.OrderWarmupEpochs)")
	flag.Float64Var(&o.warmupAccuracy, "warmup-acc", 0, "with -warmup: end the warm-up after the first epoch whose training order accuracy reaches this (pretrain.Config.OrderWarmupAccuracy; -warmup is then the longest warm-up)")
	flag.IntVar(&o.foSize, "fo-size", 64, "frame size of MI-SimCLR+FO's data set (0: -size)")
	flag.Float64Var(&o.foFPS, "fo-fps", 10, "frame rate of MI-SimCLR+FO's data set (0: -fps)")
	flag.Float64Var(&o.foLR, "fo-lr", 1e-3, "learning rate of MI-SimCLR+FO (0: -lr)")
	flag.IntVar(&o.foEpochs, "fo-epochs", 70, "epochs of MI-SimCLR+FO (0: -epochs)")
	flag.IntVar(&o.foBatch, "fo-batch", 16, "pairs per step of MI-SimCLR+FO (0: -batch)")
	flag.IntVar(&o.foRepeat, "fo-repeat", 4, "clips per held-out video in the frame-order probe")
	flag.IntVar(&o.genSize, "gen-size", 0, "generate the videos at this size, then mask the sector and resize to the training size, as the example's presets do (0: generate at the training size)")
	flag.StringVar(&o.align, "align", "", "comma-separated epochs: at MI-SimCLR+FO's checkpoints of these epochs, measure how its two losses' gradients on the encoder align (pretrain.MeasureAlignment, over one epoch's batches)")
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
	sets := map[[2]float64]*dataset{}
	var report []string
	for _, name := range strings.Split(o.methods, ",") {
		method, err := pretrain.ParseMethod(name)
		if err != nil {
			return err
		}
		size, fps := o.size, o.fps
		if method.FrameOrder() {
			if o.foSize > 0 {
				size = o.foSize
			}
			if o.foFPS > 0 {
				fps = o.foFPS
			}
		}
		ds, ok := sets[[2]float64{float64(size), fps}]
		if !ok {
			if ds, err = makeDataset(ctx, log, dir, o, size, fps); err != nil {
				return err
			}
			sets[[2]float64{float64(size), fps}] = ds
		}
		cfg := pretrain.SmallConfig(method)
		cfg.Seed = o.seed
		cfg.Preprocess = o.preprocess(size)
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
		if method.FrameOrder() {
			if o.foEpochs > 0 {
				cfg.Epochs = o.foEpochs
			}
			if o.foBatch > 0 {
				cfg.BatchPairs = o.foBatch
			}
			if o.foLR > 0 {
				cfg.LR = o.foLR
			}
		}
		if o.tau > 0 {
			cfg.Tau = o.tau
		}
		cfg.SharedOrder = o.sharedOrder
		if cfg.Method.FrameOrder() {
			cfg.OrderWarmupEpochs = o.warmup
			cfg.OrderWarmupAccuracy = o.warmupAccuracy
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
		name := fmt.Sprintf("%s-w%d-b%d-lr%g-tau%g-cw%g-ow%g-mask%t-seed%d", method, cfg.Model.Width, cfg.BatchPairs, cfg.LR, cfg.Tau, cfg.ContrastiveWeight, cfg.OrderWeight, cfg.MaskSameGroup, o.seed)
		if cfg.SharedOrder && cfg.Method.FrameOrder() {
			name += "-shared"
		}
		if cfg.OrderWarmupEpochs > 0 {
			name += fmt.Sprintf("-warmup%d", cfg.OrderWarmupEpochs)
		}
		if cfg.OrderWarmupAccuracy > 0 {
			name += fmt.Sprintf("-acc%g", cfg.OrderWarmupAccuracy)
		}
		runDir := filepath.Join(ds.dir, name)
		start := time.Now()
		res, err := pretrain.Run(ctx, cfg, ds.all, runDir)
		if err != nil {
			return err
		}
		log.Info("pretrained", "method", method, "dir", runDir, "took", time.Since(start).Round(time.Second))
		if method.FrameOrder() && o.align != "" {
			lines, err := alignments(ctx, cfg, ds.all, runDir, o.align)
			if err != nil {
				return err
			}
			report = append(report, lines...)
		}
		random, err := pretrain.NewModel(cfg)
		if err != nil {
			return err
		}
		where := fmt.Sprintf("%dx%d, %g fps", size, size, fps)
		probe := pretrain.Probe{ClipLength: cfg.ClipLength, Seed: 12345, Preprocess: cfg.Preprocess}
		if method.FrameOrder() {
			// Several clips (random starts and orders) per held-out video:
			// one clip each leaves the accuracy too noisy to read.
			rep := &video.Manifest{}
			for range max(1, o.foRepeat) {
				rep.Records = append(rep.Records, ds.held.Records...)
			}
			acc, err := probe.FrameOrder(ctx, res.Model, rep)
			if err != nil {
				return err
			}
			acc0, err := probe.FrameOrder(ctx, random, rep)
			if err != nil {
				return err
			}
			report = append(report, fmt.Sprintf("%-13s frame-order accuracy on %d held-out clips (%s): %.3f (random init %.3f, chance %.3f)",
				method, len(rep.Records), where, acc, acc0, 1/24.0))
		}
		ret, err := probe.Retrieval(ctx, res.Model, ds.held, contrastive.ByStudy)
		if err != nil {
			return err
		}
		ret0, err := probe.Retrieval(ctx, random, ds.held, contrastive.ByStudy)
		if err != nil {
			return err
		}
		report = append(report, fmt.Sprintf("%-13s same-study top-1 retrieval on %d held-out videos (%s): %.3f (random init %.3f, chance %.3f)",
			method, ret.Queries, where, ret.Rate(), ret0.Rate(), ret.Chance))
	}
	for _, line := range report {
		fmt.Println(line)
	}
	return nil
}

// alignments measures pretrain.MeasureAlignment at the checkpoints in
// runDir of the comma-separated epochs, over each epoch's batches, and
// returns a report line for each.
func alignments(ctx context.Context, cfg pretrain.Config, m *video.Manifest, runDir, epochs string) ([]string, error) {
	var lines []string
	for _, f := range strings.Split(epochs, ",") {
		e, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || e < 1 {
			return nil, fmt.Errorf("-align: %q is not an epoch", f)
		}
		model, _, _, err := pretrain.Load(filepath.Join(runDir, pretrain.EpochName(e)))
		if err != nil {
			return nil, fmt.Errorf("-align: %w", err)
		}
		a, err := pretrain.MeasureAlignment(ctx, model, cfg, m, e, math.MaxInt)
		if err != nil {
			return nil, err
		}
		lines = append(lines, fmt.Sprintf("%-13s gradient alignment at epoch %d, %v", cfg.Method, e, a))
	}
	return lines, nil
}

// preprocess is what every clip goes through before training at size x
// size: the sector mask, and a resize when the videos were generated
// larger (-gen-size).
func (o options) preprocess(size int) func(*video.Video) (*video.Video, error) {
	if o.genSize > size {
		return video.MaskAndResize(size, size)
	}
	return video.MaskSector
}

// dataset is a synthetic data set on disk: its manifest and the held-out
// (validation and test) records.
type dataset struct {
	dir       string
	all, held *video.Manifest
}

// makeDataset writes (or finds) the echosynth data set of o's studies,
// frames and nuisance scale at size x size pixels and fps frames per second.
func makeDataset(ctx context.Context, log *slog.Logger, dir string, o options, size int, fps float64) (*dataset, error) {
	dcfg := echosynth.DefaultConfig()
	gen := max(size, o.genSize)
	dcfg.Studies, dcfg.Frames, dcfg.Height, dcfg.Width, dcfg.FPS = o.studies, o.frames, gen, gen, fps
	dcfg.VideoJitter = dcfg.VideoJitter.Scale(o.nuisance)
	start := time.Now()
	dataDir := filepath.Join(dir, fmt.Sprintf("echosynth-%d-%d-%d-%g-n%g", o.studies, o.frames, gen, fps, o.nuisance))
	manifest, err := echosynth.WriteDataset(ctx, dataDir, dcfg, nil)
	if err != nil {
		return nil, err
	}
	m, err := video.ReadManifest(manifest, video.OurColumns)
	if err != nil {
		return nil, err
	}
	held := &video.Manifest{}
	for _, r := range m.Records {
		if r.Split == video.SplitVal || r.Split == video.SplitTest {
			held.Records = append(held.Records, r)
		}
	}
	log.Info("data", "dir", dataDir, "videos", len(m.Records), "train", len(m.Subset(video.SplitTrain).Records), "held_out", len(held.Records), "took", time.Since(start).Round(time.Millisecond))
	return &dataset{dir: dataDir, all: m, held: held}, nil
}
