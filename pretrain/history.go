package pretrain

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/vidssl/vidssl/internal/atomicfile"
)

// EpochStats summarises one epoch of a run: the means over its steps.
type EpochStats struct {
	// Epoch counts from 1.
	Epoch int `json:"epoch"`
	// Steps is the number of steps (batches) of the epoch.
	Steps int `json:"steps"`
	// Loss is the mean total loss.
	Loss float64 `json:"loss"`
	// NTXent is the mean contrastive loss (unweighted).
	NTXent float64 `json:"ntxent"`
	// Order is the mean frame-order cross-entropy (the mean of the two
	// views', unweighted); 0 without frame order.
	Order float64 `json:"order"`
	// OrderAccuracy is the fraction of training views whose order the head
	// predicted (in training mode, before each step's update); 0 without
	// frame order.
	OrderAccuracy float64 `json:"order_accuracy"`
	// Seconds is the epoch's wall-clock time (summed over the parts of an
	// interrupted epoch).
	Seconds float64 `json:"seconds"`
	// Probed is set when Config.Monitor evaluated the encoder after this
	// epoch; LinearAUROC and KNNAUROC are then the study-level AUROCs of
	// the frozen encoder's linear and k-NN probes (see Monitor).
	Probed      bool    `json:"probed,omitempty"`
	LinearAUROC float64 `json:"linear_auroc,omitempty"`
	KNNAUROC    float64 `json:"knn_auroc,omitempty"`
	// HeldOutOrderAccuracy is, for a model with an order head, the
	// monitor's frame-order accuracy on one shuffled clip of every video of
	// Monitor.Test (Probe.FrameOrder; chance 1/ClipLength!); 0 otherwise.
	HeldOutOrderAccuracy float64 `json:"held_out_order_accuracy,omitempty"`
}

// historyHeader is the header of history.csv.
// linear_auroc, knn_auroc and held_out_order_accuracy are empty in epochs
// the monitor skipped; ReadHistory also reads histories written before
// they existed.
var historyHeader = []string{"epoch", "steps", "loss", "ntxent", "order", "order_accuracy", "seconds", "linear_auroc", "knn_auroc", "held_out_order_accuracy"}

// historyColumns are the numbers of columns of the histories ReadHistory
// reads: before the monitor, with its AUROCs, and with its frame order.
var historyColumns = []int{7, 9, 10}

// writeHistory writes the history CSV atomically: a temporary file in dir,
// renamed over HistoryName.
func writeHistory(dir string, hist []EpochStats) error {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write(historyHeader)
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	for _, h := range hist {
		lin, knn, order := "", "", ""
		if h.Probed {
			lin, knn, order = f(h.LinearAUROC), f(h.KNNAUROC), f(h.HeldOutOrderAccuracy)
		}
		w.Write([]string{strconv.Itoa(h.Epoch), strconv.Itoa(h.Steps), f(h.Loss), f(h.NTXent), f(h.Order), f(h.OrderAccuracy), strconv.FormatFloat(h.Seconds, 'f', 3, 64), lin, knn, order})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return fmt.Errorf("pretrain: history: %w", err)
	}
	path := filepath.Join(dir, HistoryName)
	if err := atomicfile.WriteBytes(path, 0o644, b.Bytes()); err != nil {
		return fmt.Errorf("pretrain: history %s: %w", path, err)
	}
	return nil
}

// ReadHistory reads a history CSV written by Run.
func ReadHistory(path string) ([]EpochStats, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("pretrain: read history: %w", err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("pretrain: read history %s: %w", path, err)
	}
	if len(rows) == 0 || !slices.Contains(historyColumns, len(rows[0])) || rows[0][0] != historyHeader[0] {
		return nil, fmt.Errorf("pretrain: read history %s: want the header %v", path, historyHeader)
	}
	out := make([]EpochStats, 0, len(rows)-1)
	for i, r := range rows[1:] {
		var h EpochStats
		var errs [10]error
		h.Epoch, errs[0] = strconv.Atoi(r[0])
		h.Steps, errs[1] = strconv.Atoi(r[1])
		h.Loss, errs[2] = strconv.ParseFloat(r[2], 64)
		h.NTXent, errs[3] = strconv.ParseFloat(r[3], 64)
		h.Order, errs[4] = strconv.ParseFloat(r[4], 64)
		h.OrderAccuracy, errs[5] = strconv.ParseFloat(r[5], 64)
		h.Seconds, errs[6] = strconv.ParseFloat(r[6], 64)
		if len(r) >= 9 && r[7] != "" {
			h.Probed = true
			h.LinearAUROC, errs[7] = strconv.ParseFloat(r[7], 64)
			h.KNNAUROC, errs[8] = strconv.ParseFloat(r[8], 64)
			if len(r) >= 10 {
				h.HeldOutOrderAccuracy, errs[9] = strconv.ParseFloat(r[9], 64)
			}
		}
		for k, e := range errs {
			if e != nil {
				return nil, fmt.Errorf("pretrain: read history %s: row %d, column %s: %w", path, i+2, historyHeader[k], e)
			}
		}
		out = append(out, h)
	}
	return out, nil
}
