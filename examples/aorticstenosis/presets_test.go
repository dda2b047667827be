package main

import (
	"slices"
	"testing"

	"github.com/vidssl/vidssl/video/echosynth"
)

// TestPresets checks that every preset's settings are valid.
func TestPresets(t *testing.T) {
	for _, name := range []string{"quick", "demo", "gpu", "paper", "tiny"} {
		p, err := presetByName(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Data.Validate(); err != nil {
			t.Errorf("%s: data: %v", name, err)
		}
		if err := p.Finetune.Validate(); err != nil {
			t.Errorf("%s: fine-tuning: %v", name, err)
		}
		for m, c := range p.PretrainConfigs {
			if err := c.Validate(); err != nil {
				t.Errorf("%s: %s: %v", name, m, err)
			}
		}
		if p.Probe.ClipLength < 1 || p.Probe.Clips < 1 || p.Probe.MonitorEvery < 0 {
			t.Errorf("%s: probe settings %+v", name, p.Probe)
		}
	}
	if _, err := presetByName("huge"); err == nil {
		t.Error("an unknown preset was accepted")
	}
}

// TestDemoAnswersTheQuestion checks the sizes the benchmark needs: at least
// 1,000 pretraining (training) studies, at least 10 labelled studies at the
// lowest fraction, and at least 300 test studies.
func TestDemoAnswersTheQuestion(t *testing.T) {
	p, err := presetByName("demo")
	if err != nil {
		t.Fatal(err)
	}
	studies, err := echosynth.Studies(p.Data)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, s := range studies {
		count[s.Split]++
	}
	lowest := slices.Min(p.Fractions)
	if count["train"] < 1000 || int(lowest*float64(count["train"])) < 10 || count["test"] < 300 {
		t.Errorf("demo: %d training studies (%.0f labelled at %g%%), %d test studies; want >= 1000, >= 10, >= 300",
			count["train"], lowest*float64(count["train"]), 100*lowest, count["test"])
	}
}
