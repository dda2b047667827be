package video

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// Info is what a video file says about itself before its frames are decoded.
type Info struct {
	// T, H, W and C are the frame count, height, width and channel count.
	T, H, W, C int
	// FPS is the frame rate; 0 when unknown.
	FPS float64
}

// ProbeFile checks the file at path as far as its header goes and returns
// its sizes. For an AVI that is the whole RIFF structure, the stream format,
// every frame chunk's place and size and every MJPEG frame's JPEG header, but
// no pixels: a truncated file, an unsupported codec or a frame that its
// chunk cannot hold is an error naming the file, in a small fraction of the
// time of ReadFile. Other formats (DICOM, NumPy) are decoded in full, as
// ReadFile does.
func ProbeFile(path string) (Info, error) {
	var v *Video
	var err error
	if isAVI(path) {
		v, err = probeAVIFile(path)
	} else {
		v, err = ReadFile(path)
	}
	if err != nil {
		return Info{}, err
	}
	return Info{T: v.T, H: v.H, W: v.W, C: v.C, FPS: v.FPS}, nil
}

// isAVI reports whether ReadFile would read path as an AVI.
func isAVI(path string) bool {
	if strings.EqualFold(filepath.Ext(path), ".avi") {
		return true
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var h [12]byte
	n, _ := f.ReadAt(h[:], 0)
	return n == 12 && string(h[:4]) == "RIFF" && string(h[8:12]) == "AVI "
}

func probeAVIFile(path string) (*Video, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, readErr(path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, readErr(path, err)
	}
	p := &aviParser{r: f, size: st.Size(), probe: true}
	v, err := p.read()
	if err != nil {
		return nil, readErr(path, err)
	}
	return v, nil
}

// FileCheckOptions control CheckFiles.
type FileCheckOptions struct {
	// Decode reads every frame of every file (with Read) instead of
	// checking headers only (ProbeFile). It finds corrupt frames that a
	// header check cannot, and takes as long as an epoch of decoding.
	Decode bool
	// Read decodes a file when Decode is set; nil means ReadFile. Pass the
	// same function training uses (pretrain.Config.Decode, for example).
	Read func(path string) (*Video, error)
	// SkipUnreadable returns the readable records and reports the others
	// in FileReport.Unreadable; otherwise any unreadable file makes
	// CheckFiles fail with an error that lists them all.
	SkipUnreadable bool
	// Workers is the number of files checked at once; 0 means GOMAXPROCS.
	Workers int
	// Progress, when not nil, is called after each file with the number
	// checked so far and the total, from CheckFiles' goroutines, one call
	// at a time.
	Progress func(done, total int)
}

// Unreadable is a record whose file could not be read.
type Unreadable struct {
	Record Record
	Err    error
}

// String returns "FILE row N: ERR".
func (u Unreadable) String() string {
	return Problem{File: u.Record.File, Row: u.Record.Row, Msg: u.Err.Error()}.String()
}

// FileReport is what CheckFiles found.
type FileReport struct {
	// Checked is the number of records checked.
	Checked int
	// Unreadable lists the records whose file could not be read, in
	// manifest order.
	Unreadable []Unreadable
}

// Error lists every unreadable file, one a line (at most the first 50).
func (r *FileReport) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "video: check files: %d of %d unreadable", len(r.Unreadable), r.Checked)
	for i, u := range r.Unreadable {
		if i == maxListedProblems {
			fmt.Fprintf(&b, "\n\t... and %d more", len(r.Unreadable)-i)
			break
		}
		b.WriteString("\n\t")
		b.WriteString(u.String())
	}
	return b.String()
}

// CheckFiles checks, before any training, that every record's file can be
// read: its header (ProbeFile), or every frame with opt.Decode. Files are
// checked concurrently and every unreadable one is reported, not only the
// first. It returns the manifest of readable records (m itself when all
// are) and the report. When a file is unreadable and opt.SkipUnreadable is
// false, the error is the *FileReport listing them all (and the manifest is
// nil); with SkipUnreadable it is nil and the report holds them. A
// cancelled ctx stops the check with ctx's error.
func CheckFiles(ctx context.Context, m *Manifest, opt FileCheckOptions) (*Manifest, *FileReport, error) {
	if m == nil {
		return nil, nil, fmt.Errorf("video: check files: nil manifest")
	}
	read := func(path string) error {
		if !opt.Decode {
			_, err := ProbeFile(path)
			return err
		}
		decode := opt.Read
		if decode == nil {
			decode = ReadFile
		}
		v, err := decode(path)
		if err == nil {
			err = v.Validate()
		}
		return err
	}
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	n := len(m.Records)
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for range min(workers, max(n, 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				errs[i] = read(m.Records[i].Path)
				if opt.Progress != nil {
					mu.Lock()
					done++
					opt.Progress(done, n)
					mu.Unlock()
				}
			}
		}()
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	rep := &FileReport{Checked: n}
	ok := &Manifest{Warnings: m.Warnings}
	for i, r := range m.Records {
		if errs[i] != nil {
			rep.Unreadable = append(rep.Unreadable, Unreadable{Record: r, Err: errs[i]})
			continue
		}
		ok.Records = append(ok.Records, r)
	}
	switch {
	case len(rep.Unreadable) == 0:
		return m, rep, nil
	case opt.SkipUnreadable:
		return ok, rep, nil
	}
	return nil, rep, rep
}
