package pretrain

import (
	"encoding/json"
	"strings"
	"testing"
)

// oldState is a checkpoint's run state as pretrain wrote it before Config
// embedded job.Settings (SmallConfig(MISimCLRFO) with Seed 7, Workers 3 and
// CacheBytes 5 MiB).
const oldState = `{"config":{"Method":"mi-simclr-fo","Model":{"InChannels":3,"Width":8,"Blocks":[1,1,1,1],"NumClasses":0,"Stem":0,"Block":0,"Convs":[0,0,0,0]},"ClipLength":4,"BatchPairs":32,"Epochs":30,"LR":0.01,"Tau":0.1,"ContrastiveWeight":1,"OrderWeight":1,"SharedOrder":false,"OrderWarmupEpochs":0,"MaskSameGroup":true,"GroupBy":0,"Splits":null,"CheckpointEvery":5,"Seed":7,"Workers":3,"CacheBytes":5242880},"position":{"Epoch":0,"Step":0},"items":0,"data":"x","history":[],"partial":{"steps":0,"loss":0,"ntxent":0,"order":0,"order_hits":0,"order_samples":0,"seconds":0}}`

// TestSettingsJSON: a run state written before job.Settings reads into the
// same config and identity, and is written back to the letter.
func TestSettingsJSON(t *testing.T) {
	st, err := readState("old.safetensors", map[string]string{formatKey: format, stateKey: oldState})
	if err != nil {
		t.Fatal(err)
	}
	want := SmallConfig(MISimCLRFO)
	want.Seed, want.Workers, want.CacheBytes = 7, 3, 5<<20
	got, err := st.Config.identity(st.Encoder)
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := want.identity(nil); got != id {
		t.Errorf("identity %s, want %s", got, id)
	}
	if st.Config.Seed != 7 || st.Config.Workers != 3 || st.Config.CacheBytes != 5<<20 {
		t.Errorf("settings %+v", st.Config.Settings)
	}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != oldState {
		t.Errorf("written back as\n%s\nwant\n%s", b, oldState)
	}
	if strings.Contains(string(b), "Settings") {
		t.Error("the embedded struct has a JSON key")
	}
}
