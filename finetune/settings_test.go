package finetune

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestSettingsJSON: embedding job.Settings leaves a config's JSON (which
// the example's stage fingerprints hash) as it was: Seed, Workers and
// CacheBytes between Kinetics and HistoryPath, no key for the embedded
// struct and none for the functions or the engine.
func TestSettingsJSON(t *testing.T) {
	c := SmallConfig()
	c.Seed, c.Workers = 7, 3
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	const want = `"Kinetics":false,"Seed":7,"Workers":3,"CacheBytes":536870912,"HistoryPath":""}`
	if !strings.HasSuffix(string(b), want) || strings.Contains(string(b), "Settings") {
		t.Errorf("JSON %s, want it to end in %s", b, want)
	}
	var back Config
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&back); err != nil || back.Seed != 7 || back.Workers != 3 || back.CacheBytes != 512<<20 {
		t.Errorf("read back: %+v, %v", back.Settings, err)
	}
}
