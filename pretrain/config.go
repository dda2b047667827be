package pretrain

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/vidssl/vidssl/contrastive"
	"github.com/vidssl/vidssl/job"
	"github.com/vidssl/vidssl/nn"
	"github.com/vidssl/vidssl/resnet3d"
	"github.com/vidssl/vidssl/video"
)

// Method is a self-supervised pretraining method of the paper.
type Method int

const (
	// SimCLR: two augmentations of one clip of a video are a positive pair.
	SimCLR Method = iota + 1
	// MISimCLR (multi-instance SimCLR): clips of two different videos of
	// one study, each with its own augmentation, are a positive pair.
	MISimCLR
	// MISimCLRFO is MISimCLR plus the frame-order pretext task (EchoCLR):
	// each view's frames are shuffled after augmentation and a head on the
	// encoder's feature predicts the order.
	MISimCLRFO
)

var methodNames = map[Method]string{SimCLR: "simclr", MISimCLR: "mi-simclr", MISimCLRFO: "mi-simclr-fo"}

// String returns "simclr", "mi-simclr" or "mi-simclr-fo".
func (m Method) String() string {
	if s, ok := methodNames[m]; ok {
		return s
	}
	return fmt.Sprintf("Method(%d)", int(m))
}

// ParseMethod reads a method's name as String writes it (case-insensitive;
// "echoclr" is MISimCLRFO).
func ParseMethod(s string) (Method, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "echoclr" {
		return MISimCLRFO, nil
	}
	for m, name := range methodNames {
		if s == name {
			return m, nil
		}
	}
	return 0, fmt.Errorf("pretrain: unknown method %q, want simclr, mi-simclr or mi-simclr-fo", s)
}

// MultiInstance reports whether positive pairs are two videos of a group.
func (m Method) MultiInstance() bool { return m == MISimCLR || m == MISimCLRFO }

// FrameOrder reports whether the method adds the frame-order task.
func (m Method) FrameOrder() bool { return m == MISimCLRFO }

// MarshalText writes the method's name, so Configs read well as JSON.
func (m Method) MarshalText() ([]byte, error) {
	if _, ok := methodNames[m]; !ok {
		return nil, fmt.Errorf("pretrain: unknown method %d", int(m))
	}
	return []byte(m.String()), nil
}

// UnmarshalText reads a method's name.
func (m *Method) UnmarshalText(b []byte) error {
	v, err := ParseMethod(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// Config configures a pretraining run. Start from PaperConfig or
// SmallConfig and change what you need.
type Config struct {
	// Method is SimCLR, MISimCLR or MISimCLRFO.
	Method Method
	// Model is the encoder; NumClasses must be 0 (the pooled feature h).
	// It is ignored when NewEncoder is set: neither checked nor part of
	// the settings a resumed run must keep.
	Model resnet3d.Config
	// NewEncoder, when not nil, makes the encoder instead of Model: an
	// Encoder of the caller's (say, an nn.Sequential of nn's layers with
	// the methods Encoder asks for), initialised from rng, the stream
	// that then initialises the heads. It must make the same encoder
	// every time: a resumed run calls it again and loads the checkpoint's
	// weights into what it makes (strictly, by name and shape). A
	// checkpoint records the names and shapes of the encoder's Params,
	// which identify it in place of Model: a run resumes only from a
	// checkpoint of an encoder with the same ones (or, without
	// NewEncoder, of the same Model). On an Engine, the encoder must be
	// built of the layers gpu runs.
	NewEncoder func(rng *rand.Rand) (Encoder, error) `json:"-"`
	// ClipLength is the number of consecutive frames of a clip (the paper:
	// 4). Frame order needs 1..pretext.MaxFrames.
	ClipLength int
	// BatchPairs is the number of positive pairs per step (the paper: 196
	// per GPU on two GPUs, 392). The last partial batch of an epoch is
	// dropped, as in the public code, so one graph serves every step.
	BatchPairs int
	// Epochs is the number of epochs, counted from 1 (the paper: 300 for
	// MI-SimCLR and MI-SimCLR+FO, 520 for SimCLR).
	Epochs int
	// LR is the optimiser's learning rate (the paper: 0.1, no schedule).
	LR float64
	// Optimizer is the optimiser and its settings other than the learning
	// rate, on the CPU and on an Engine alike; its state (SGD's momentum
	// buffers, Adam's moments) is checkpointed and resumed, and it is part
	// of the settings a resumed run must keep. The zero value is the
	// paper's: Adam with PyTorch's defaults and no weight decay. It has no
	// JSON key when zero, so the run states of older checkpoints read and
	// write back as they were.
	Optimizer nn.OptimizerConfig `json:",omitzero"`
	// Tau is NT-Xent's temperature (the paper: 0.05).
	Tau float64
	// ContrastiveWeight and OrderWeight weigh the loss:
	//
	//	loss = ContrastiveWeight * NTXent(z1, z2)
	//	     + OrderWeight * (CE(order(h1), y1) + CE(order(h2), y2)) / 2
	//
	// (the paper: 1 and 1; the mean of the two views' cross-entropies is the
	// public code's cross-entropy of both views' logits stacked).
	// OrderWeight is ignored without frame order.
	ContrastiveWeight, OrderWeight float64
	// SharedOrder shuffles the two views of a pair by the same permutation
	// (one draw per pair) instead of one each, the paper's way. NT-Xent,
	// computed on the shuffled clips, then no longer asks for features that
	// ignore the frames' order, which the order head needs to read: an
	// ablation of why frame order does not learn next to NT-Xent at small
	// scale (see pretrain/cmd/sslcheck). Ignored without frame order.
	SharedOrder bool
	// OrderWarmupEpochs trains the frame-order loss alone (ContrastiveWeight
	// taken as 0) for the first OrderWarmupEpochs epochs, then both losses
	// with their weights; NT-Xent is still computed and reported during the
	// warm-up. 0, the paper's way, trains both from the start. An ablation
	// of why frame order does not learn next to NT-Xent at small scale: in
	// pretrain/cmd/sslcheck's setting the two compete, winner take all, and
	// an order head survives NT-Xent only if it is established when
	// NT-Xent joins. It needs a frame-order method and at most Epochs.
	OrderWarmupEpochs int
	// OrderWarmupAccuracy, when above 0, ends the warm-up early: after the
	// first epoch whose training frame-order accuracy (EpochStats's
	// OrderAccuracy) reaches it, so that NT-Xent joins once the order head
	// is established, whenever that happens; OrderWarmupEpochs is then the
	// longest warm-up. It needs OrderWarmupEpochs and is below 1.
	OrderWarmupAccuracy float64 `json:",omitempty"`
	// MaskSameGroup removes pairs of the same group (study or patient) from
	// each other's NT-Xent negatives (see contrastive.NTXent). The public
	// code does not mask; the presets mask for the multi-instance methods,
	// where several pairs of one study often share a batch, and not for
	// SimCLR.
	MaskSameGroup bool
	// GroupBy says what a multi-instance pair shares (and what masking
	// compares): contrastive.ByStudy (the paper) or ByPatient.
	GroupBy contrastive.GroupBy
	// Splits are the splits of the manifest whose records pretrain the
	// model (see video.Record.Split; "" selects the records without a
	// split); nil means only video.SplitTrain, the paper's choice.
	// {video.SplitTrain, video.SplitUnlabelled} adds videos kept for
	// pretraining only; AllSplits selects every record. Pretraining sees no labels, but a
	// model pretrained on the val or test videos has seen the videos it is
	// evaluated on: list those splits only when that is what you mean.
	// Splits is part of the settings a resumed run must keep.
	Splits []string
	// CheckpointEvery writes a checkpoint after every so many epochs (the
	// paper: 20); the last epoch is always written. 0 means only the last.
	CheckpointEvery int
	// Settings are the seed (the initialisation, the pair order and
	// every clip, augmentation and frame order: a run is a function of
	// Seed and the data, whether or not it was interrupted and resumed),
	// the video loading (Workers, CacheBytes, Decode, Preprocess) and the
	// Engine (see job.Settings). Engine, when not nil, runs the training
	// steps on it with a gpu.ViewTrainer: the encoder and the heads run on
	// the engine, and the loss (NT-Xent, frame order) is computed on the
	// host from the projections and logits; the model's weights,
	// batch-norm statistics and optimiser state stay on the engine and come
	// back to the model for every checkpoint. Losses match the CPU's to
	// float32 rounding, for every architecture resnet3d builds (R3D, MC3,
	// R(2+1)D) and for encoders of NewEncoder built of the layers gpu runs.
	job.Settings

	// Monitor, when not nil, evaluates the frozen encoder with a linear
	// and a k-NN probe every Monitor.Every epochs (see Monitor).
	Monitor *Monitor `json:"-"`

	// Progress, when not nil, is called after every step, from Run's
	// goroutine.
	Progress func(Progress) `json:"-"`
}

// PaperConfig returns the paper's setting for method m: R3D-18 from scratch,
// 4-frame clips, 392 pairs per step, Adam with lr 0.1, tau 0.05, weights 1:1,
// 300 epochs (520 for SimCLR), a checkpoint every 20 epochs, grouping by
// study. MaskSameGroup is on for the multi-instance methods (the public code
// does not mask; set it false to reproduce that).
func PaperConfig(m Method) Config {
	epochs := 300
	if m == SimCLR {
		epochs = 520
	}
	return Config{
		Method:            m,
		Model:             resnet3d.R3D18(0),
		ClipLength:        4,
		BatchPairs:        392,
		Epochs:            epochs,
		LR:                0.1,
		Tau:               contrastive.Tau,
		ContrastiveWeight: 1,
		OrderWeight:       1,
		MaskSameGroup:     m.MultiInstance(),
		GroupBy:           contrastive.ByStudy,
		CheckpointEvery:   20,
	}
}

// SmallConfig returns a preset that pretrains in minutes on a CPU, on
// 32x32 frames (echosynth data sets made at that size): a width-8 encoder
// with one block per stage (64-dimensional features, 16-dimensional
// projections), 32 pairs per step, Adam with lr 1e-2 (the paper's 0.1 is
// meant for batches of 392 and R3D-18), tau 0.1, 30 epochs, a checkpoint
// every 5 and a 512 MiB cache of decoded videos. The rest is the paper's.
func SmallConfig(m Method) Config {
	c := PaperConfig(m)
	c.Model = resnet3d.Config{InChannels: 3, Width: 8, Blocks: [4]int{1, 1, 1, 1}}
	c.BatchPairs = 32
	c.Epochs = 30
	c.LR = 1e-2
	c.Tau = 0.1
	c.CheckpointEvery = 5
	c.CacheBytes = 512 << 20
	return c
}

// AllSplits returns every split name and "" (the records without a
// split): Config.Splits = AllSplits() pretrains on every record of the
// manifest.
func AllSplits() []string {
	return []string{video.SplitTrain, video.SplitVal, video.SplitTest, video.SplitExtTest, video.SplitUnlabelled, ""}
}

// splits returns c.Splits sorted and without repeats; nil becomes
// [video.SplitTrain].
func (c Config) splits() []string {
	if c.Splits == nil {
		return []string{video.SplitTrain}
	}
	s := slices.Clone(c.Splits)
	slices.Sort(s)
	return slices.Compact(s)
}

// Validate reports the first thing wrong with c, or nil. Model is checked
// only without NewEncoder.
func (c Config) Validate() error { return c.validate(c.NewEncoder != nil) }

// validate is Validate, checking Model unless userEncoder says that
// NewEncoder makes the encoder (a checkpoint's Config has no NewEncoder,
// but its run state says whether it had one).
func (c Config) validate(userEncoder bool) error {
	if _, ok := methodNames[c.Method]; !ok {
		return fmt.Errorf("pretrain: config: unknown method %d", int(c.Method))
	}
	if !userEncoder {
		if c.Model.NumClasses != 0 {
			return fmt.Errorf("pretrain: config: Model.NumClasses = %d, want 0 (the encoder's feature)", c.Model.NumClasses)
		}
		if c.Model.InChannels != 1 && c.Model.InChannels != 3 {
			return fmt.Errorf("pretrain: config: Model.InChannels = %d, want 1 or 3", c.Model.InChannels)
		}
		if f := c.Model.FeatureDim(); f < 4 || f%4 != 0 {
			return fmt.Errorf("pretrain: config: feature size %d (Model.FeatureDim), want a multiple of 4", f)
		}
	}
	switch {
	case c.ClipLength < 1 || (c.Method.FrameOrder() && c.ClipLength > 8):
		return fmt.Errorf("pretrain: config: ClipLength = %d, want 1..8 (frame order has ClipLength! classes)", c.ClipLength)
	case c.BatchPairs < 2:
		return fmt.Errorf("pretrain: config: BatchPairs = %d, want >= 2 (NT-Xent needs negatives)", c.BatchPairs)
	case c.Epochs < 1:
		return fmt.Errorf("pretrain: config: Epochs = %d, want >= 1", c.Epochs)
	case !(c.LR > 0) || math.IsInf(c.LR, 0):
		return fmt.Errorf("pretrain: config: LR = %v, want > 0", c.LR)
	case !(c.Tau > 0) || math.IsInf(c.Tau, 0):
		return fmt.Errorf("pretrain: config: Tau = %v, want > 0", c.Tau)
	case !(c.ContrastiveWeight >= 0) || math.IsInf(c.ContrastiveWeight, 0):
		return fmt.Errorf("pretrain: config: ContrastiveWeight = %v, want >= 0", c.ContrastiveWeight)
	case c.Method.FrameOrder() && (!(c.OrderWeight >= 0) || math.IsInf(c.OrderWeight, 0)):
		return fmt.Errorf("pretrain: config: OrderWeight = %v, want >= 0", c.OrderWeight)
	case c.ContrastiveWeight == 0 && (!c.Method.FrameOrder() || c.OrderWeight == 0):
		return fmt.Errorf("pretrain: config: every loss weight is 0")
	case c.OrderWarmupEpochs < 0 || c.OrderWarmupEpochs > c.Epochs:
		return fmt.Errorf("pretrain: config: OrderWarmupEpochs = %d, want 0..Epochs (%d)", c.OrderWarmupEpochs, c.Epochs)
	case c.OrderWarmupEpochs > 0 && (!c.Method.FrameOrder() || c.OrderWeight == 0):
		return fmt.Errorf("pretrain: config: OrderWarmupEpochs = %d without a frame-order loss (method %v, OrderWeight %v)", c.OrderWarmupEpochs, c.Method, c.OrderWeight)
	case !(c.OrderWarmupAccuracy >= 0 && c.OrderWarmupAccuracy < 1):
		return fmt.Errorf("pretrain: config: OrderWarmupAccuracy = %v, want 0 <= a < 1", c.OrderWarmupAccuracy)
	case c.OrderWarmupAccuracy > 0 && c.OrderWarmupEpochs == 0:
		return fmt.Errorf("pretrain: config: OrderWarmupAccuracy = %v without OrderWarmupEpochs (the longest warm-up)", c.OrderWarmupAccuracy)
	case c.Optimizer.Validate() != nil:
		return fmt.Errorf("pretrain: config: Optimizer: %w", c.Optimizer.Validate())
	case c.GroupBy != contrastive.ByStudy && c.GroupBy != contrastive.ByPatient:
		return fmt.Errorf("pretrain: config: unknown GroupBy %d", int(c.GroupBy))
	case c.CheckpointEvery < 0 || c.Workers < 0 || c.CacheBytes < 0:
		return fmt.Errorf("pretrain: config: negative CheckpointEvery (%d), Workers (%d) or CacheBytes (%d)", c.CheckpointEvery, c.Workers, c.CacheBytes)
	}
	if c.Splits != nil && len(c.Splits) == 0 {
		return fmt.Errorf("pretrain: config: Splits is empty (nil means %q; AllSplits() means every record)", video.SplitTrain)
	}
	for _, sp := range c.Splits {
		if !slices.Contains(AllSplits(), sp) {
			return fmt.Errorf("pretrain: config: Splits: unknown split %q, want one of %q", sp, AllSplits())
		}
	}
	return c.Monitor.validate()
}

// identity is what must not change between a run and its resumption: every
// field that shapes the model or the numbers, and the splits trained on
// (nil and [train] are the same). Epochs (a run may be extended),
// CheckpointEvery, Workers, CacheBytes and the functions may change. The
// encoder is Model, or, when NewEncoder made it, encoder: its Params' names
// and shapes (encoderIdentity), and Model, which it leaves unused, is left
// out.
// identityDiff names the fields in which two identities differ: "LR 0.01
// in the checkpoint, 0.02 in this run; Seed ...".
func identityDiff(have, want string) string {
	var h, w map[string]json.RawMessage
	if json.Unmarshal([]byte(have), &h) != nil || json.Unmarshal([]byte(want), &w) != nil {
		return fmt.Sprintf("%s in the checkpoint, %s in this run", have, want)
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(w)) {
		if string(h[k]) != string(w[k]) {
			parts = append(parts, fieldDiff(k, h[k], w[k]))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(h)) {
		if _, ok := w[k]; !ok {
			parts = append(parts, fieldDiff(k, h[k], nil))
		}
	}
	return strings.Join(parts, "; ")
}

// fieldDiff says how field k differs between the checkpoint's identity
// (have) and this run's (want); nil is a field the identity leaves out.
// The encoder's Params, a long list, are summarised: their count, and the
// entries on one side only.
func fieldDiff(k string, have, want json.RawMessage) string {
	var h, w []string
	if k == "Optimizer" {
		return fmt.Sprintf("Optimizer %s in the checkpoint, %s in this run", optimizerName(have), optimizerName(want))
	}
	if k != "Encoder" || json.Unmarshal(orNull(have), &h) != nil || json.Unmarshal(orNull(want), &w) != nil {
		return fmt.Sprintf("%s %s in the checkpoint, %s in this run", k, orNone(have), orNone(want))
	}
	if h == nil || w == nil {
		return fmt.Sprintf("Encoder %s in the checkpoint, %s in this run", paramCount(h), paramCount(w))
	}
	only := func(a, b []string) string {
		var out []string
		for _, s := range a {
			if !slices.Contains(b, s) {
				out = append(out, s)
			}
		}
		if len(out) > 4 {
			out = append(out[:4], fmt.Sprintf("%d more", len(out)-4))
		}
		return "[" + strings.Join(out, ", ") + "]"
	}
	return fmt.Sprintf("Encoder Params %s in the checkpoint, %s in this run", only(h, w), only(w, h))
}

// optimizerName is the optimiser of an identity's Optimizer field: its
// String, or "adam" where the identity leaves it out.
func optimizerName(v json.RawMessage) string {
	var s string
	if v == nil || json.Unmarshal(v, &s) != nil {
		return nn.OptimizerConfig{}.String()
	}
	return s
}

// orNone is a field's JSON, or "none" where an identity leaves it out.
func orNone(v json.RawMessage) string {
	if v == nil {
		return "none"
	}
	return string(v)
}

// orNull is a field's JSON, or null where an identity leaves it out.
func orNull(v json.RawMessage) json.RawMessage {
	if v == nil {
		return json.RawMessage("null")
	}
	return v
}

// paramCount describes an encoder identity: "none" (Config.Model's
// encoder) or the number of Params of an encoder of Config.NewEncoder.
func paramCount(ps []string) string {
	if ps == nil {
		return "none (Model's)"
	}
	return fmt.Sprintf("%d Params (NewEncoder's)", len(ps))
}

func (c Config) identity(encoder []string) (string, error) {
	id := struct {
		Method                         Method
		Model                          *resnet3d.Config `json:",omitempty"`
		Encoder                        []string         `json:",omitempty"`
		ClipLength, BatchPairs         int
		LR, Tau                        float64
		ContrastiveWeight, OrderWeight float64
		MaskSameGroup                  bool
		GroupBy                        contrastive.GroupBy
		Seed                           uint64
		Splits                         []string
		SharedOrder                    bool    `json:",omitempty"` // omitted when false, as before it existed
		OrderWarmupEpochs              int     `json:",omitempty"` // omitted when 0, as before it existed
		OrderWarmupAccuracy            float64 `json:",omitempty"` // omitted when 0, as before it existed
		Optimizer                      string  `json:",omitempty"` // omitted for the paper's Adam, as before it existed
	}{c.Method, &c.Model, encoder, c.ClipLength, c.BatchPairs, c.LR, c.Tau, c.ContrastiveWeight, c.OrderWeight, c.MaskSameGroup, c.GroupBy, c.Seed, c.splits(), c.SharedOrder, c.OrderWarmupEpochs, c.OrderWarmupAccuracy, c.Optimizer.String()}
	if id.Optimizer == (nn.OptimizerConfig{}).String() {
		id.Optimizer = ""
	}
	if encoder != nil {
		id.Model = nil
	}
	if !c.Method.FrameOrder() {
		id.OrderWeight = 0
		id.SharedOrder = false
	}
	b, err := json.Marshal(id)
	if err != nil {
		return "", fmt.Errorf("pretrain: config: %w", err)
	}
	return string(b), nil
}

// contrastiveWeight returns NT-Xent's weight in epoch (from 1), given the
// epochs before it: 0 in the frame-order warm-up, ContrastiveWeight after
// it.
func (c Config) contrastiveWeight(epoch int, before []EpochStats) float64 {
	if epoch > c.OrderWarmupEpochs {
		return c.ContrastiveWeight
	}
	if c.OrderWarmupAccuracy > 0 {
		for _, h := range before {
			if h.OrderAccuracy >= c.OrderWarmupAccuracy {
				return c.ContrastiveWeight
			}
		}
	}
	return 0
}
