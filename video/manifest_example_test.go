package video_test

import (
	"fmt"
	"strings"

	"github.com/vidssl/vidssl/video"
)

// Reading a manifest checks it across rows: here one video of study S1 sits
// in the test split while the rest of S1 trains, which is an error naming
// the study and its rows. A patient whose different studies fall in
// different splits is only a warning, unless CheckOptions says otherwise.
func ExampleManifest_Check() {
	csv := "path,patient_id,study_id,label,split\n" +
		"a.avi,P1,S1,1,train\n" +
		"b.avi,P1,S1,1,test\n" +
		"c.avi,P2,S2,0,train\n" +
		"d.avi,P2,S3,0,val\n"
	_, err := video.ParseManifest(strings.NewReader(csv), "m.csv", video.OurColumns)
	fmt.Println(err)

	fixed := strings.Replace(csv, "b.avi,P1,S1,1,test", "b.avi,P1,S1,1,train", 1)
	m, err := video.ParseManifest(strings.NewReader(fixed), "m.csv", video.OurColumns)
	fmt.Println(err)
	for _, w := range m.Warnings {
		fmt.Println("warning:", w)
	}
	_, err = m.Check(video.CheckOptions{PatientSplitsAreErrors: true})
	fmt.Println(err)
	// Output:
	// video: manifest: 1 problem
	// 	m.csv row 2 (split): study "S1" is in more than one split: train (row 2), test (row 3); a study's videos must all be in one split, or test data trains the model
	// <nil>
	// warning: m.csv row 4 (patient_id): patient "P2" has studies in more than one split: train (row 4), val (row 5) (first rows of each study)
	// video: manifest: 1 problem
	// 	m.csv row 4: patient "P2" has studies in more than one split: train (row 4), val (row 5) (first rows of each study)
}
