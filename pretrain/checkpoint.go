package pretrain

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vidssl/vidssl/nn"
)

// Files that Run writes in its directory.
const (
	// HistoryName is the per-epoch history CSV (see EpochStats).
	HistoryName = "history.csv"
	// stateKey holds the run's state as JSON in a checkpoint's metadata.
	stateKey = "vidssl.pretrain"
	// formatKey and format identify a pretraining checkpoint.
	formatKey = "format"
	format    = "vidssl.pretrain/1"
)

// Position is a point in a run: Epoch epochs complete and Step steps of epoch
// Epoch+1 done.
type Position struct {
	Epoch, Step int
}

// Less reports whether p comes before q.
func (p Position) Less(q Position) bool {
	return p.Epoch < q.Epoch || (p.Epoch == q.Epoch && p.Step < q.Step)
}

// EpochName returns the file name of the checkpoint written after epoch e:
// "epoch-0020.safetensors".
func EpochName(e int) string { return fmt.Sprintf("epoch-%04d.safetensors", e) }

// interruptedName is the name of the checkpoint written when a run is
// cancelled at p.
func interruptedName(p Position) string {
	return fmt.Sprintf("interrupted-epoch-%04d-step-%06d.safetensors", p.Epoch, p.Step)
}

// parseName returns the position a checkpoint file name stands for.
func parseName(name string) (Position, bool) {
	base, ok := strings.CutSuffix(name, ".safetensors")
	if !ok {
		return Position{}, false
	}
	if rest, ok := strings.CutPrefix(base, "epoch-"); ok {
		e, err := strconv.Atoi(rest)
		if err != nil || e < 1 {
			return Position{}, false
		}
		return Position{Epoch: e}, true
	}
	if rest, ok := strings.CutPrefix(base, "interrupted-epoch-"); ok {
		es, ss, ok := strings.Cut(rest, "-step-")
		if !ok {
			return Position{}, false
		}
		e, err1 := strconv.Atoi(es)
		s, err2 := strconv.Atoi(ss)
		if err1 != nil || err2 != nil || e < 0 || s < 0 {
			return Position{}, false
		}
		return Position{Epoch: e, Step: s}, true
	}
	return Position{}, false
}

// LatestCheckpoint returns the checkpoint in dir that is furthest along, by
// its file name (epoch checkpoints and the checkpoint of an interrupted
// run), and its position; "" when dir holds none or does not exist.
func LatestCheckpoint(dir string) (string, Position, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return "", Position{}, nil
	}
	if err != nil {
		return "", Position{}, fmt.Errorf("pretrain: %w", err)
	}
	best, bestPos := "", Position{Epoch: -1}
	for _, e := range entries {
		p, ok := parseName(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		if bestPos.Less(p) {
			best, bestPos = filepath.Join(dir, e.Name()), p
		}
	}
	if best == "" {
		return "", Position{}, nil
	}
	return best, bestPos, nil
}

// partial holds the sums over the steps done so far in an epoch.
type partial struct {
	Steps        int     `json:"steps"`
	Loss         float64 `json:"loss"`
	NTXent       float64 `json:"ntxent"`
	Order        float64 `json:"order"`
	OrderHits    int     `json:"order_hits"`
	OrderSamples int     `json:"order_samples"`
	Seconds      float64 `json:"seconds"`
}

// runState is a checkpoint's metadata: what resuming needs besides tensors.
type runState struct {
	Config Config `json:"config"`
	// Encoder identifies an encoder of Config.NewEncoder: its Params'
	// names and shapes (encoderIdentity); nil when Config.Model made it.
	Encoder  []string     `json:"encoder,omitempty"`
	Position Position     `json:"position"`
	Items    int          `json:"items"`
	Data     string       `json:"data"`
	History  []EpochStats `json:"history"`
	Partial  partial      `json:"partial"`
}

func readState(path string, meta map[string]string) (*runState, error) {
	if meta[formatKey] != format {
		return nil, fmt.Errorf("pretrain: %s: not a pretraining checkpoint (format %q, want %q)", path, meta[formatKey], format)
	}
	var st runState
	dec := json.NewDecoder(bytes.NewReader([]byte(meta[stateKey])))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return nil, fmt.Errorf("pretrain: %s: run state: %w", path, err)
	}
	if err := st.Config.validate(st.Encoder != nil); err != nil {
		return nil, fmt.Errorf("pretrain: %s: %w", path, err)
	}
	if st.Position.Epoch < 0 || st.Position.Step < 0 || len(st.History) != st.Position.Epoch || st.Partial.Steps != st.Position.Step {
		return nil, fmt.Errorf("pretrain: %s: inconsistent run state: position %+v, %d history rows, %d partial steps", path, st.Position, len(st.History), st.Partial.Steps)
	}
	return &st, nil
}

// saveCheckpoint writes the model, the optimiser's state and st atomically
// to path.
func saveCheckpoint(path string, m *Model, opt nn.Optimizer, st *runState) error {
	tensors, err := m.State()
	if err != nil {
		return err
	}
	for k, v := range nn.WithPrefix(OptimizerPrefix, opt.State()) {
		tensors[k] = v
	}
	js, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("pretrain: checkpoint %s: %w", path, err)
	}
	meta := map[string]string{formatKey: format, stateKey: string(js), "method": st.Config.Method.String(),
		"epoch": strconv.Itoa(st.Position.Epoch), "step": strconv.Itoa(st.Position.Step)}
	return nn.SaveCheckpoint(path, tensors, meta)
}

// loadCheckpoint restores m and opt from path and returns the run state,
// once check accepts the state (before m or opt changes).
func loadCheckpoint(path string, m *Model, opt nn.Optimizer, check func(*runState) error) (*runState, error) {
	ck, err := nn.LoadCheckpoint(path)
	if err != nil {
		return nil, fmt.Errorf("pretrain: resume: %w", err)
	}
	st, err := readState(path, ck.Metadata)
	if err != nil {
		return nil, err
	}
	if err := check(st); err != nil {
		return nil, err
	}
	optState, model := nn.SplitPrefix(OptimizerPrefix, ck.Tensors)
	if err := m.setState(model); err != nil {
		return nil, fmt.Errorf("pretrain: resume from %s: %w", path, err)
	}
	if err := opt.SetState(optState); err != nil {
		return nil, fmt.Errorf("pretrain: resume from %s: %w", path, err)
	}
	return st, nil
}
