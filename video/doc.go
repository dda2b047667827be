// Package video holds echocardiogram videos in memory and everything between a
// file on disk and a training batch: readers (AVI with MJPEG or uncompressed
// frames, DICOM cine loops, NumPy arrays), an MJPEG AVI writer, preprocessing
// (ultrasound sector masking, resizing, intensity scaling), clip sampling,
// temporally consistent augmentation, manifests and a concurrent loader.
//
// DICOM: ReadDICOM decodes native (little and big endian, deflated), RLE,
// JPEG Baseline, Extended (12-bit) and Lossless pixel data, 8 and 16-bit grey
// (through the modality rescale and VOI window), colour and palette colour;
// ScanDICOM turns a folder of DICOM files into a manifest of cine loops
// (see cmd/dicomscan).
//
// Decoded video is uint8 T x H x W x C (the Video type); conversion to float32
// NCDHW happens once, when a batch is built.
package video
