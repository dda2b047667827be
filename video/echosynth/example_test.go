package echosynth_test

import (
	"context"
	"fmt"
	"os"

	"github.com/vidssl/vidssl/video"
	"github.com/vidssl/vidssl/video/echosynth"
)

func ExampleGenerate() {
	cfg := echosynth.DefaultConfig()
	v, info, err := echosynth.Generate(cfg, 0, 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s: %d frames of %dx%d at %g fps\n", info.Name, v.T, v.H, v.W, v.FPS)
	fmt.Printf("patient %s, %d videos, severity %v, label %d\n",
		info.Study.PatientID, info.Study.Videos, info.Study.Severity, info.Study.Label)
	// Output:
	// S00000_1: 32 frames of 112x112 at 30 fps
	// patient P0578789, 4 videos, severity none, label 0
}

func ExampleWriteDataset() {
	dir, err := os.MkdirTemp("", "echosynth")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	cfg := echosynth.DefaultConfig()
	cfg.Studies = 20
	cfg.Height, cfg.Width, cfg.Frames = 32, 32, 8 // a tiny data set
	manifest, err := echosynth.WriteDataset(context.Background(), dir, cfg, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := video.ReadManifest(manifest, video.OurColumns)
	if err != nil {
		fmt.Println(err)
		return
	}
	count := map[string]int{}
	for _, r := range m.Records {
		count[r.Split]++
	}
	fmt.Println(len(m.Records), "videos:", count["train"], "train,", count["val"], "val,", count["test"], "test")
	// Output:
	// 72 videos: 51 train, 11 val, 10 test
}

func ExampleStudies() {
	cfg := echosynth.DefaultConfig()
	studies, err := echosynth.Studies(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	severe := map[string]int{}
	for _, st := range studies {
		severe[st.Split] += st.Label
	}
	st := studies[7]
	fmt.Println(st.ID, st.PatientID, st.Severity, st.Videos, "videos", st.Split)
	fmt.Println("severe studies per split:", severe["train"], severe["val"], severe["test"])
	// Output:
	// S00007 P1629116 none 3 videos train
	// severe studies per split: 36 5 7
}
