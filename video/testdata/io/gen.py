#!/usr/bin/python3
"""Makes the small video files that video/*_test.go read.

Run from this directory with Debian's /usr/bin/python3 after
  apt-get install ffmpeg python3-opencv python3-pydicom python3-pil python3-numpy
The files are committed, so `go test` needs none of these.

Every file holds the same pattern (see pattern() and patternValue in
video/avi_test.go): T=4 frames of 24x32 pixels,
  value(t, y, x, k) = 3x + 2y + 10t + 40k   (k = colour channel; 0 for grey)
which is smooth enough for JPEG and never wraps.
"""
import io
import subprocess

import cv2
import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (ExplicitVRLittleEndian, ImplicitVRLittleEndian,
                         JPEGBaseline8Bit, JPEG2000Lossless, generate_uid)

T, H, W = 4, 24, 32


def pattern(c, w=W):
    t, y, x, k = np.meshgrid(np.arange(T), np.arange(H), np.arange(w), np.arange(c), indexing="ij")
    return (3 * x + 2 * y + 10 * t + 40 * k).astype(np.uint8)


def ffmpeg(out, pix_in, frames, w, args):
    cmd = ["ffmpeg", "-y", "-v", "error", "-f", "rawvideo", "-pix_fmt", pix_in,
           "-s", f"{w}x{H}", "-r", "25", "-i", "-"] + args + [out]
    subprocess.run(cmd, input=frames.tobytes(), check=True)


# AVI files written by ffmpeg.
rgb = pattern(3)
grey = pattern(1)
ffmpeg("ffmpeg_mjpeg.avi", "rgb24", rgb, W, ["-c:v", "mjpeg", "-q:v", "2", "-pix_fmt", "yuvj444p"])
ffmpeg("ffmpeg_bgr24.avi", "rgb24", pattern(3, 30), 30, ["-c:v", "rawvideo", "-pix_fmt", "bgr24"])
ffmpeg("ffmpeg_pal8.avi", "gray", grey, W, ["-c:v", "rawvideo", "-pix_fmt", "pal8"])
ffmpeg("ffmpeg_gray.avi", "gray", grey, W, ["-c:v", "rawvideo", "-pix_fmt", "gray"])
ffmpeg("ffmpeg_h264.avi", "rgb24", rgb, W, ["-c:v", "libx264", "-pix_fmt", "yuv420p"])

# An MJPEG AVI from OpenCV's own AVI writer.
vw = cv2.VideoWriter("opencv_mjpg.avi", cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*"MJPG"), 15, (W, H), True)
for f in rgb:
    vw.write(np.ascontiguousarray(f[..., ::-1]))
vw.release()


# DICOM cine loops written by pydicom.
def dicom(name, ts, pi, spp, pixels, frames=T, **attrs):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.3.1"  # US Multi-frame
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ts
    ds = FileDataset(name, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "US"
    ds.PatientID = "TEST"
    ds.SamplesPerPixel = spp
    ds.PhotometricInterpretation = pi
    if spp == 3:
        ds.PlanarConfiguration = attrs.pop("PlanarConfiguration", 0)
    ds.NumberOfFrames = frames
    ds.Rows, ds.Columns = H, W
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    for k, v in attrs.items():
        setattr(ds, k, v)
    ds.PixelData = pixels
    ds.is_little_endian = True
    ds.is_implicit_VR = ts == ImplicitVRLittleEndian
    if ts in (JPEGBaseline8Bit, JPEG2000Lossless):
        ds["PixelData"].VR = "OB"
        ds["PixelData"].is_undefined_length = True
    ds.save_as(name, write_like_original=False)


dicom("mono2_explicit.dcm", ExplicitVRLittleEndian, "MONOCHROME2", 1, grey.tobytes(), FrameTime=40)
planar = np.ascontiguousarray(rgb.transpose(0, 3, 1, 2))  # T, C, H, W
dicom("rgb_planar1_implicit.dcm", ImplicitVRLittleEndian, "RGB", 3, planar.tobytes(),
      PlanarConfiguration=1, CineRate=30)

# YBR_FULL_422: Y0 Y1 Cb Cr per pixel pair, chroma averaged over the pair.
f = rgb.astype(np.float64)
Y = 0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2]
Cb = 128 - 0.168736 * f[..., 0] - 0.331264 * f[..., 1] + 0.5 * f[..., 2]
Cr = 128 + 0.5 * f[..., 0] - 0.418688 * f[..., 1] - 0.081312 * f[..., 2]
q = lambda a: np.clip(np.round(a), 0, 255).astype(np.uint8)
ybr = np.stack([q(Y[..., 0::2]), q(Y[..., 1::2]),
                q((Cb[..., 0::2] + Cb[..., 1::2]) / 2), q((Cr[..., 0::2] + Cr[..., 1::2]) / 2)], axis=-1)
dicom("ybr422_explicit.dcm", ExplicitVRLittleEndian, "YBR_FULL_422", 3, ybr.tobytes(),
      RecommendedDisplayFrameRate=20)


def jpeg(a, mode):
    b = io.BytesIO()
    Image.fromarray(a.squeeze(-1) if mode == "L" else a, mode).save(b, "JPEG", quality=95)
    return b.getvalue()


dicom("jpeg_rgb.dcm", JPEGBaseline8Bit, "YBR_FULL_422", 3, encapsulate([jpeg(f, "RGB") for f in rgb]),
      FrameTime=50)
dicom("jpeg_mono2.dcm", JPEGBaseline8Bit, "MONOCHROME2", 1, encapsulate([jpeg(f, "L") for f in grey]))
dicom("jpeg2000.dcm", JPEG2000Lossless, "MONOCHROME2", 1, encapsulate([b"\xff\x4f\xff\x51\0\0"] * T))

# NumPy arrays.
np.save("u8_thw.npy", grey[..., 0])
np.save("f32_thwc_unit.npy", rgb.astype(np.float32) / 255)
np.save("f32_thw_255.npy", grey[..., 0].astype(np.float32))
np.save("fortran.npy", np.asfortranarray(grey[..., 0]))
np.save("f32_bigendian.npy", grey[..., 0].astype(">f4"))
np.savez_compressed("arr0.npz", grey[..., 0])
np.savez("named.npz", labels=np.arange(3), video=rgb)
np.savez("ambiguous.npz", a=grey, b=grey)

# ffmpeg's own decoding of the palette file (its palette is not grey).
out = subprocess.run(["ffmpeg", "-v", "error", "-i", "ffmpeg_pal8.avi", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                     capture_output=True, check=True).stdout
np.save("ffmpeg_pal8.ref.npy", np.frombuffer(out, np.uint8).reshape(T, H, W, 3))
