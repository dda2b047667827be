package finetune

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"os"
	"strconv"

	"github.com/vidssl/vidssl/internal/atomicfile"
)

// historyHeader is the header of a history CSV.
var historyHeader = []string{"lr", "epoch", "steps", "train_loss", "val_loss", "seconds", "best"}

// WriteHistory writes epochs as a CSV file with the columns lr, epoch,
// steps, train_loss, val_loss, seconds and best (1 on the epochs that
// lowered their run's validation loss, else 0), atomically: a temporary
// file in path's directory renamed over path.
func WriteHistory(path string, epochs []EpochStats) (err error) {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write(historyHeader)
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	for _, e := range epochs {
		best := "0"
		if e.Best {
			best = "1"
		}
		w.Write([]string{f(e.LR), strconv.Itoa(e.Epoch), strconv.Itoa(e.Steps), f(e.TrainLoss), f(e.ValLoss), strconv.FormatFloat(e.Seconds, 'f', 3, 64), best})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return fmt.Errorf("finetune: write history %s: %w", path, err)
	}
	if err := atomicfile.WriteBytes(path, 0o644, b.Bytes()); err != nil {
		return fmt.Errorf("finetune: write history %s: %w", path, err)
	}
	return nil
}

// ReadHistory reads a history CSV written by WriteHistory.
func ReadHistory(path string) ([]EpochStats, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("finetune: read history: %w", err)
	}
	defer f.Close()
	cr := csv.NewReader(f)
	cr.FieldsPerRecord = len(historyHeader)
	rows, err := cr.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("finetune: read history %s: %w", path, err)
	}
	if len(rows) == 0 || rows[0][0] != historyHeader[0] || rows[0][len(historyHeader)-1] != historyHeader[len(historyHeader)-1] {
		return nil, fmt.Errorf("finetune: read history %s: want the header %v", path, historyHeader)
	}
	out := make([]EpochStats, 0, len(rows)-1)
	for i, r := range rows[1:] {
		var e EpochStats
		var errs [7]error
		e.LR, errs[0] = strconv.ParseFloat(r[0], 64)
		e.Epoch, errs[1] = strconv.Atoi(r[1])
		e.Steps, errs[2] = strconv.Atoi(r[2])
		e.TrainLoss, errs[3] = strconv.ParseFloat(r[3], 64)
		e.ValLoss, errs[4] = strconv.ParseFloat(r[4], 64)
		e.Seconds, errs[5] = strconv.ParseFloat(r[5], 64)
		switch r[6] {
		case "1":
			e.Best = true
		case "0":
		default:
			errs[6] = fmt.Errorf("%q, want 0 or 1", r[6])
		}
		for k, err := range errs {
			if err != nil {
				return nil, fmt.Errorf("finetune: read history %s: row %d, column %s: %w", path, i+2, historyHeader[k], err)
			}
		}
		out = append(out, e)
	}
	return out, nil
}
