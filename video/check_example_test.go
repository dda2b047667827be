package video_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vidssl/vidssl/video"
)

// Check every file of a manifest before training: here one of two files is
// cut short. Stopping lists every unreadable file with its manifest row;
// skipping returns the readable records and the same report.
func ExampleCheckFiles() {
	dir, err := os.MkdirTemp("", "checkfiles")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	v, _ := video.New(4, 16, 16, 1)
	var buf strings.Builder
	if err := video.WriteAVI(&buf, v, nil); err != nil {
		fmt.Println(err)
		return
	}
	avi := buf.String()
	os.WriteFile(filepath.Join(dir, "a.avi"), []byte(avi), 0o644)
	os.WriteFile(filepath.Join(dir, "b.avi"), []byte(avi[:len(avi)/2]), 0o644)
	csv := "path,patient_id,study_id,label,split\na.avi,P1,S1,0,train\nb.avi,P2,S2,1,train\n"
	os.WriteFile(filepath.Join(dir, "m.csv"), []byte(csv), 0o644)
	m, err := video.ReadManifest(filepath.Join(dir, "m.csv"), video.OurColumns)
	if err != nil {
		fmt.Println(err)
		return
	}

	_, _, err = video.CheckFiles(context.Background(), m, video.FileCheckOptions{})
	fmt.Println(strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), ""))

	ok, rep, err := video.CheckFiles(context.Background(), m, video.FileCheckOptions{SkipUnreadable: true})
	fmt.Println(len(ok.Records), "readable of", rep.Checked, err)
	// Output:
	// video: check files: 1 of 2 unreadable
	// 	m.csv row 3: video: read b.avi: truncated file: RIFF header at offset 0 says 1832 bytes, file has 912
	// 1 readable of 2 <nil>
}
