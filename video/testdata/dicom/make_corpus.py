#!/usr/bin/python3
"""Makes the DICOM test corpus that video/dicom_corpus_test.go reads.

Run from this directory with Debian's /usr/bin/python3 after
  apt-get install dcmtk libgdcm-tools python3-pydicom python3-pil python3-numpy
The outputs are committed, so `go test` needs none of these.

Every DICOM file here is written by dcmtk (dcmcjpeg, dcmcrle, dcmconv), GDCM
(gdcmconv) or pydicom from small source images (4 frames of 24x32 pixels,
1 frame for the JPEG colour matrix), never by vidssl. Each file's reference
decoding is computed by decoders that are not vidssl's:

  - JPEG Baseline frames: Pillow (libjpeg-turbo) on the raw JPEG stream of
    each frame, which applies libjpeg's colour-space rule; cross-checked here
    against dcmtk's `dcmdjpeg +cg` (IJG libjpeg 6b, "convert to RGB if the
    library guesses YCbCr"), whatever the Photometric Interpretation says;
  - lossless native or RLE pixels: pydicom's pixel_array (numpy and RLE
    handlers), cross-checked against `gdcmconv --raw` (and `dcmdrle`);
  - 16-bit grey, MONOCHROME1 and palette colour to 8 bits: dcmtk's
    `dcmj2pnm` (+Wi 1: the file's first VOI window; +Wm: min-max window).

corpus.csv lists each file with its reference (an 8-bit T x H x W x C .npy,
or for large ones a compressed .npz),
how closely vidssl must match it (exact, or mean absolute difference at most
3 for lossy JPEG), the frame rate it must report, or the error it must give.
"""
import csv
import io
import os
import struct
import subprocess
import tempfile
import zlib

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.encaps import encapsulate, encapsulate_extended, generate_pixel_data_frame
from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit

T, H, W = 4, 24, 32
OUT = os.path.dirname(os.path.abspath(__file__))
rows = []
refs = {}


def rgb_source(t_frames=T):
    """A colour test card: gradients, saturated colours and a near-white box
    (where a YCbCr/RGB mix-up shows as magenta or green)."""
    y, x = np.mgrid[0:H, 0:W]
    out = []
    for t in range(t_frames):
        r = np.clip(x * 8 + t * 6, 0, 255)
        g = np.clip(y * 10 + t * 4, 0, 255)
        b = np.clip(240 - (x + y) * 4, 0, 255)
        img = np.stack([r, g, b], -1).astype(np.uint8)
        img[2:10, 4:16] = [250, 248, 245]
        img[14:22, 20:30] = [200, 40, 60]
        out.append(blur(img))
    return np.stack(out)


def blur(img):
    """A 3x3 box blur, so that chroma subsampling (which decoders upsample
    differently) costs little and the comparisons test colour spaces."""
    p = np.pad(img.astype(np.int32), ((1, 1), (1, 1), (0, 0)), mode="edge")
    s = sum(p[dy:dy + H, dx:dx + W] for dy in range(3) for dx in range(3))
    return ((s + 4) // 9).astype(np.uint8)


def ycc_to_rgb(a):
    y, cb, cr = (a[..., k].astype(float) for k in range(3))
    rgb = np.stack([y + 1.402 * (cr - 128), y - 0.344136 * (cb - 128) - 0.714136 * (cr - 128), y + 1.772 * (cb - 128)], -1)
    return np.clip(np.round(rgb), 0, 255)


def rgb_to_ycc(a):
    r, g, b = (a[..., k].astype(float) for k in range(3))
    y = 0.299 * r + 0.587 * g + 0.114 * b
    ycc = np.stack([y, 128 + (b - y) / 1.772, 128 + (r - y) / 1.402], -1)
    return np.clip(np.round(ycc), 0, 255)


def wrong_colour_mad(ref):
    """How far each wrong reading of a stream's samples (YCbCr taken for
    RGB, or RGB for YCbCr) lands from the reference: the test must tell."""
    return min(np.abs(rgb_to_ycc(ref) - ref).mean(), np.abs(ycc_to_rgb(ref) - ref).mean())


def grey_source():
    return rgb_source()[..., 1].copy()


def grey12_source():
    y, x = np.mgrid[0:H, 0:W]
    return np.stack([(x * 120 + y * 7 + t * 50) % 4096 for t in range(T)]).astype(np.uint16)


def dataset(name, pixels, pi, bits=8, stored=None, extra=None, ts=ExplicitVRLittleEndian):
    """A pydicom data set of native pixels (T x H x W [x 3])."""
    meta = FileMetaDataset()
    meta.TransferSyntaxUID = ts
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.3.1"  # US multi-frame
    meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.10.1" + str(zlib.crc32(name.encode()))
    ds = FileDataset(name, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "US"
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.10.99"
    ds.PatientID = "P1"
    ds.Rows, ds.Columns = pixels.shape[1], pixels.shape[2]
    ds.SamplesPerPixel = 3 if pixels.ndim == 4 else 1
    ds.PhotometricInterpretation = pi
    if ds.SamplesPerPixel == 3:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated = bits
    ds.BitsStored = stored or bits
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 0
    ds.NumberOfFrames = pixels.shape[0]
    ds.FrameTime = "40"
    for k, v in (extra or {}).items():
        setattr(ds, k, v)
    ds.PixelData = pixels.tobytes()
    ds.is_little_endian, ds.is_implicit_VR = True, False
    return ds


def save(ds, name):
    ds.save_as(os.path.join(OUT, name), write_like_original=False)


def run(*cmd):
    subprocess.run(cmd, check=True, cwd=OUT)


def ref(name, arr):
    """Saves an 8-bit T x H x W x C reference decoding."""
    arr = np.asarray(arr)
    if arr.ndim == 3:
        arr = arr[..., None]
    assert arr.dtype == np.uint8, arr.dtype
    key = (arr.shape, arr.tobytes())
    if key in refs:  # the same decoding as an earlier file
        return refs[key]
    if arr.size > 16384:  # large ones compressed, as .npz
        name = name[:-4] + ".npz"
        np.savez_compressed(os.path.join(OUT, name), np.ascontiguousarray(arr))
    else:
        np.save(os.path.join(OUT, name), np.ascontiguousarray(arr))
    refs[key] = name
    return name


def add(file, reference="", match="exact", fps="25", error=""):
    rows.append({"file": file, "ref": reference, "match": match, "fps": fps, "error": error})


def pixels(name):
    ds = pydicom.dcmread(os.path.join(OUT, name))
    a = ds.pixel_array
    if int(ds.get("NumberOfFrames", 1) or 1) == 1:
        a = a[None]
    return a


def gdcm_raw(name):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "raw.dcm")
        run("gdcmconv", "--raw", name, out)
        return pixels(out)


def dcmtk_pnm(name, *args):
    """dcmj2pnm's 8-bit rendering of every frame."""
    with tempfile.TemporaryDirectory() as d:
        run("dcmj2pnm", "+Fa", "+op", *args, name, os.path.join(d, "f"))
        files = sorted(os.listdir(d), key=lambda f: int(f.split(".")[1]))
        return np.stack([np.array(Image.open(os.path.join(d, f))) for f in files])


# ---------------------------------------------------------------------------
# 1. JPEG Baseline colour: every combination of JFIF marker, Adobe APP14
#    transform flag and component ids, over streams whose samples are really
#    YCbCr (dcmcjpeg's default) or really RGB (dcmcjpeg +cr), each wrapped
#    with every colour Photometric Interpretation.

def segments(jpeg):
    """Splits a JPEG stream into (marker, payload) up to SOS and the rest."""
    assert jpeg[:2] == b"\xff\xd8"
    segs, i = [], 2
    while True:
        m = jpeg[i + 1]
        n = struct.unpack(">H", jpeg[i + 2:i + 4])[0]
        segs.append((m, jpeg[i + 4:i + 2 + n]))
        i += 2 + n
        if m == 0xDA:
            return segs, jpeg[i:]


def remark(jpeg, jfif, adobe, ids):
    """Rewrites a 3-component stream's JFIF/Adobe markers and component ids."""
    segs, rest = segments(jpeg)
    out = [b"\xff\xd8"]

    def seg(m, p):
        out.append(bytes([0xFF, m]) + struct.pack(">H", len(p) + 2) + p)

    if jfif:
        seg(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
    if adobe is not None:
        seg(0xEE, b"Adobe\x00\x64\x00\x00\x00\x00" + bytes([adobe]))
    old = None
    for m, p in segs:
        if m == 0xE0 and p[:5] == b"JFIF\x00" or m == 0xEE and p[:5] == b"Adobe":
            continue
        if m == 0xC0:
            assert p[5] == 3
            old = [p[6 + 3 * k] for k in range(3)]
            p = bytearray(p)
            for k in range(3):
                p[6 + 3 * k] = ids[k]
            p = bytes(p)
        if m == 0xDA:
            p = bytearray(p)
            for k in range(p[0]):
                p[1 + 2 * k] = ids[old.index(p[1 + 2 * k])]
            p = bytes(p)
        seg(m, p)
    return b"".join(out) + rest


def jpeg_frames(name):
    ds = pydicom.dcmread(os.path.join(OUT, name))
    return list(generate_pixel_data_frame(ds.PixelData, int(ds.get("NumberOfFrames", 1) or 1)))


def encapsulated(name, frames, pi, spp, ts=JPEGBaseline8Bit, extra=None, ext=False, offsets=True, fragments=1):
    shape = (len(frames), H, W, 3) if spp == 3 else (len(frames), H, W)
    ds = dataset(name, np.zeros(shape, np.uint8), pi, extra=extra, ts=ts)
    if spp == 3:
        ds.PlanarConfiguration = 0
    if ext:
        ds.PixelData, ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths = encapsulate_extended(frames)
    else:
        ds.PixelData = encapsulate(frames, fragments_per_frame=fragments, has_bot=offsets)
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.is_little_endian, ds.is_implicit_VR = True, False
    save(ds, name)


def pillow_rgb(frames):
    return np.stack([np.array(Image.open(io.BytesIO(f)).convert("RGB")) for f in frames])


def dcmdjpeg_rgb(name, conv="+cg"):
    """dcmtk's decoding: +cg converts to RGB when libjpeg guesses YCbCr, +cp
    (its default) when the Photometric Interpretation is YBR."""
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "raw.dcm")
        run("dcmdjpeg", conv, name, out)
        ds = pydicom.dcmread(out)
        a = ds.pixel_array
        return a[None] if a.ndim == 3 else a


def colour_matrix():
    src = dataset("src", rgb_source(1), "RGB")
    save(src, "tmp_rgb1.dcm")
    run("dcmcjpeg", "+un", "+eb", "+q", "95", "tmp_rgb1.dcm", "tmp_ybr1.dcm")      # YCbCr 4:2:2, JFIF, ids 1 2 3
    run("dcmcjpeg", "+un", "+eb", "+q", "95", "+cr", "tmp_rgb1.dcm", "tmp_rgbj1.dcm")  # RGB, Adobe 0, ids R G B
    bases = {"ycc": jpeg_frames("tmp_ybr1.dcm")[0], "rgb": jpeg_frames("tmp_rgbj1.dcm")[0]}
    for f in ("tmp_rgb1.dcm", "tmp_ybr1.dcm", "tmp_rgbj1.dcm"):
        os.remove(os.path.join(OUT, f))
    idsets = {"123": b"\x01\x02\x03", "RGB": b"RGB", "012": b"\x00\x01\x02"}
    disagree, least_wrong = 0, 255
    for bname, base in bases.items():
        for jfif in (False, True):
            for adobe in (None, 0, 1, 2):
                for iname, ids in idsets.items():
                    stream = remark(base, jfif, adobe, ids)
                    tag = f"{bname}_{'jfif' if jfif else 'nojfif'}_{'noadobe' if adobe is None else f'adobe{adobe}'}_ids{iname}"
                    want = pillow_rgb([stream])
                    least_wrong = min(least_wrong, wrong_colour_mad(want))
                    r = ref(f"jpegcolour_{tag}.ref.npy", want)
                    for pi in ("RGB", "YBR_FULL", "YBR_FULL_422"):
                        name = f"jpegcolour_{tag}_{pi}.dcm"
                        encapsulated(name, [stream], pi, 3)
                        other = dcmdjpeg_rgb(name)
                        mad = np.abs(other.astype(int) - want.astype(int)).mean()
                        if mad > 3:
                            disagree += 1
                            print(f"{name}: dcmdjpeg +cg differs from Pillow by {mad:.1f}")
                        if not jfif and adobe is None and iname == "012" and pi == "RGB":
                            # The stream says nothing of its colour space
                            # (libjpeg assumes YCbCr): the Photometric
                            # Interpretation decides, as dcmtk's default (+cp)
                            # does. See SC_jpeg_no_color_transform.dcm below.
                            hint = dcmdjpeg_rgb(name, "+cp")
                            assert wrong_colour_mad(hint) > 15 and np.abs(hint.astype(int) - want.astype(int)).mean() > 15
                            add(name, ref(f"jpegcolour_{tag}_RGB.ref.npy", hint), "mad3")
                            continue
                        add(name, r, "mad3")
    print(f"colour matrix: {disagree} files where dcmdjpeg and Pillow disagree; "
          f"a wrong colour space would differ by at least {least_wrong:.1f} on average")
    assert disagree == 0 and least_wrong > 15

    # Grey JPEG streams under MONOCHROME1/2, with and without an Adobe marker.
    gsrc = dataset("src", grey_source()[:1], "MONOCHROME2")
    save(gsrc, "tmp_g1.dcm")
    run("dcmcjpeg", "+un", "+eb", "+q", "95", "tmp_g1.dcm", "tmp_gj1.dcm")
    g = jpeg_frames("tmp_gj1.dcm")[0]
    os.remove(os.path.join(OUT, "tmp_g1.dcm"))
    os.remove(os.path.join(OUT, "tmp_gj1.dcm"))
    segs, rest = segments(g)
    plain = b"\xff\xd8" + b"".join(bytes([0xFF, m]) + struct.pack(">H", len(p) + 2) + p for m, p in segs if m != 0xE0) + rest
    adobe = b"\xff\xd8\xff\xee\x00\x0eAdobe\x00\x64\x00\x00\x00\x00\x00" + plain[2:]
    for sname, s in (("jfif", g), ("noadobe", plain), ("adobe0", adobe)):
        want = np.array(Image.open(io.BytesIO(s)).convert("L"))[None]
        for pi in ("MONOCHROME2", "MONOCHROME1"):
            name = f"jpegcolour_grey_{sname}_{pi}.dcm"
            encapsulated(name, [s], pi, 1)
            add(name, ref(name[:-4] + ".ref.npy", 255 - want if pi == "MONOCHROME1" else want), "mad3")
    # A colour stream in a monochrome data set is an error.
    encapsulated("jpegcolour_rgb_in_MONOCHROME2.dcm", [bases["rgb"]], "MONOCHROME2", 1)
    add("jpegcolour_rgb_in_MONOCHROME2.dcm", error="colour JPEG in a monochrome data set")


# ---------------------------------------------------------------------------
# 2. Encodings.

def encodings():
    rgb, grey = rgb_source(), grey_source()
    save(dataset("rgb.dcm", rgb, "RGB"), "native_rgb.dcm")
    add("native_rgb.dcm", ref("native_rgb.ref.npy", rgb))
    save(dataset("grey.dcm", grey, "MONOCHROME2"), "native_grey.dcm")
    add("native_grey.dcm", ref("native_grey.ref.npy", grey))

    # RLE Lossless by dcmtk and by GDCM.
    for src, kind in (("native_rgb.dcm", "rgb"), ("native_grey.dcm", "grey")):
        run("dcmcrle", src, f"rle_{kind}_dcmtk.dcm")
        run("gdcmconv", "--rle", src, f"rle_{kind}_gdcm.dcm")
        for tool in ("dcmtk", "gdcm"):
            name = f"rle_{kind}_{tool}.dcm"
            a = pixels(name)
            assert (a == gdcm_raw(name)).all()
            add(name, ref(f"rle_{kind}.ref.npy", a))

    # Deflated and big endian, by dcmtk.
    for src, kind in (("native_rgb.dcm", "rgb"), ("native_grey.dcm", "grey")):
        run("dcmconv", "+td", src, f"deflate_{kind}.dcm")
        add(f"deflate_{kind}.dcm", ref(f"deflate_{kind}.ref.npy", pixels(f"deflate_{kind}.dcm")))
        run("dcmconv", "+tb", src, f"bigendian_{kind}.dcm")
        add(f"bigendian_{kind}.dcm", ref(f"bigendian_{kind}.ref.npy", pixels(f"bigendian_{kind}.dcm")))

    # 16-bit grey: 12 bits stored, Rescale Slope/Intercept, a VOI window.
    g12 = grey12_source()
    win = {"RescaleSlope": "2", "RescaleIntercept": "-1000", "WindowCenter": "2500", "WindowWidth": "5000"}
    for pi in ("MONOCHROME2", "MONOCHROME1"):
        name = f"grey16_window_{pi}.dcm"
        save(dataset(name, g12, pi, bits=16, stored=12, extra=win), name)
        add(name, ref(name[:-4] + ".ref.npy", dcmtk_pnm(name, "+Wi", "1")), "max1")
    name = "grey16_minmax.dcm"
    save(dataset(name, g12, "MONOCHROME2", bits=16, stored=12), name)
    add(name, ref(name[:-4] + ".ref.npy", dcmtk_pnm(name, "+Wm")), "max1")
    for src, kind in (("grey16_window_MONOCHROME2.dcm", "rle"), ("grey16_window_MONOCHROME2.dcm", "bigendian")):
        name = f"grey16_window_{kind}.dcm"
        run(*(["dcmcrle"] if kind == "rle" else ["dcmconv", "+tb"]), src, name)
        add(name, ref(name[:-4] + ".ref.npy", dcmtk_pnm(name, "+Wi", "1")), "max1")

    # Palette colour, 8-bit indices, LUTs of 8 and 16-bit entries.
    idx = (grey // 2).astype(np.uint8)  # indices 0..127
    k = np.arange(256)
    lut = np.stack([k * 2 % 256, 255 - k, (k * 7) % 256], -1)
    for bits in (8, 16):
        name = f"palette_{bits}.dcm"
        ds = dataset(name, idx, "PALETTE COLOR")
        scale = 257 if bits == 16 else 1
        for c, col in enumerate(("Red", "Green", "Blue")):
            setattr(ds, f"{col}PaletteColorLookupTableDescriptor", [256, 0, bits])
            vals = (lut[:, c] * scale).astype("<u2" if bits == 16 else "u1")
            data = vals.tobytes()
            setattr(ds, f"{col}PaletteColorLookupTableData", data)
            ds[f"{col}PaletteColorLookupTableData"].VR = "OW"
        save(ds, name)
        want = dcmtk_pnm(name)
        assert (want == lut[idx]).all()
        add(name, ref(name[:-4] + ".ref.npy", want))

    # Palette colour with 16-bit indices from 1000 (the first mapped value).
    name = "palette_16bit_index.dcm"
    ds = dataset(name, (idx.astype(np.uint16) + 1000), "PALETTE COLOR", bits=16)
    for c, col in enumerate(("Red", "Green", "Blue")):
        setattr(ds, f"{col}PaletteColorLookupTableDescriptor", [256, 1000, 16])
        setattr(ds, f"{col}PaletteColorLookupTableData", (lut[:, c] * 257).astype("<u2").tobytes())
        ds[f"{col}PaletteColorLookupTableData"].VR = "OW"
    save(ds, name)
    add(name, ref(name[:-4] + ".ref.npy", dcmtk_pnm(name)))

    # Signed 16-bit grey with a window.
    name = "grey16_signed.dcm"
    signed = (g12.astype(np.int32) - 2048).astype(np.int16)
    ds = dataset(name, signed, "MONOCHROME2", bits=16, stored=16,
                 extra={"PixelRepresentation": 1, "WindowCenter": "0", "WindowWidth": "3000"})
    save(ds, name)
    add(name, ref(name[:-4] + ".ref.npy", dcmtk_pnm(name, "+Wi", "1")), "max1")

    # Refused for now: the error must name the transfer syntax.
    run("dcmcjpls", "native_grey.dcm", "jpegls.dcm")
    add("jpegls.dcm", error="1.2.840.10008.1.2.4.80")
    run("gdcmconv", "--j2k", "native_grey.dcm", "jpeg2000.dcm")
    add("jpeg2000.dcm", error="1.2.840.10008.1.2.4.90")
    # JPEG Extended (.4.51): 12 bits (process 4) and 8 bits (process 2).
    run("dcmcjpeg", "+un", "+ee", "grey16_window_MONOCHROME2.dcm", "jpeg_extended12.dcm")
    add("jpeg_extended12.dcm", ref("jpeg_extended12.ref.npy", dcmtk_pnm("jpeg_extended12.dcm", "+Wi", "1")), "mad3")
    # GDCM's decoding of its 12-bit samples, for a comparison before windowing.
    run("gdcmconv", "--raw", "jpeg_extended12.dcm", "jpeg_extended12_gdcm_raw.dcm")
    add("jpeg_extended12_gdcm_raw.dcm", ref("jpeg_extended12_gdcm_raw.ref.npy", dcmtk_pnm("jpeg_extended12_gdcm_raw.dcm", "+Wi", "1")), "max1")
    run("dcmcjpeg", "+un", "+ee", "native_rgb.dcm", "jpeg_extended8_rgb.dcm")
    add("jpeg_extended8_rgb.dcm", ref("jpeg_extended8_rgb.ref.npy", pillow_rgb(jpeg_frames("jpeg_extended8_rgb.dcm"))), "mad3")

    # JPEG Lossless, process 14: selection value 1 (.4.70) by dcmtk and
    # GDCM, and every other predictor (.4.57) by dcmtk; 8-bit grey and RGB,
    # and 12 bits stored in 16. GDCM's decoding must give the source back.
    lossless = [("native_grey.dcm", "grey", grey), ("native_rgb.dcm", "rgb", rgb),
                ("grey16_window_MONOCHROME2.dcm", "grey16", None)]
    for src, kind, want in lossless:
        for sv in range(1, 8):
            name = f"jpeg_lossless_sv{sv}_{kind}.dcm"
            run("dcmcjpeg", *(["+e1"] if sv == 1 else ["+el", "+sv", str(sv)]), src, name)
            assert (gdcm_raw(name) == pixels(src)).all(), name
            if want is None:
                add(name, ref("grey16_window_MONOCHROME2.ref.npy", dcmtk_pnm(name, "+Wi", "1")), "max1")
            else:
                add(name, ref(f"native_{kind}.ref.npy", want))
        if kind == "rgb":
            name = "jpeg_lossless_sv1_rgb_gdcm.dcm"
            run("gdcmconv", "--jpeg", src, name)  # lossless, selection value 1, by default
            assert (gdcm_raw(name) == pixels(src)).all(), name
            add(name, ref("native_rgb.ref.npy", want))


# ---------------------------------------------------------------------------
# 3. Multi-frame structure and frame rates.

def structure():
    run("dcmcjpeg", "+un", "+eb", "+q", "95", "native_rgb.dcm", "tmp_jpeg.dcm")
    frames = jpeg_frames("tmp_jpeg.dcm")
    want = pillow_rgb(frames)
    r = ref("frames.ref.npy", want)
    # dcmtk: fragments of at most 1 KB (its least), with and without a Basic
    # Offset Table, from a noisy 48x64 source whose frames take 2-3 KB.
    noisy = np.repeat(np.repeat(rgb_source(), 2, 1), 2, 2).astype(int)
    noisy += np.random.default_rng(1).integers(-40, 40, noisy.shape)
    save(dataset("noisy", np.clip(noisy, 0, 255).astype(np.uint8), "RGB"), "tmp_noisy.dcm")
    run("dcmcjpeg", "+un", "+eb", "+q", "90", "+fs", "1", "tmp_noisy.dcm", "frames_split_bot.dcm")
    run("dcmcjpeg", "+un", "+eb", "+q", "90", "+fs", "1", "-ot", "tmp_noisy.dcm", "frames_split_nobot.dcm")
    os.remove(os.path.join(OUT, "tmp_noisy.dcm"))
    split = jpeg_frames("frames_split_bot.dcm")
    ds = pydicom.dcmread(os.path.join(OUT, "frames_split_nobot.dcm"))
    nfrag = len(pydicom.encaps.decode_data_sequence(ds.PixelData)) - 1
    assert nfrag >= 9, nfrag  # frames really are split
    rs = ref("frames_split.ref.npy", pillow_rgb(split))
    add("frames_split_bot.dcm", rs, "mad3")
    add("frames_split_nobot.dcm", rs, "mad3")
    # pydicom: Extended Offset Table; three fragments per frame with a BOT.
    encapsulated("frames_eot.dcm", frames, "YBR_FULL_422", 3, ext=True)
    add("frames_eot.dcm", r, "mad3")
    encapsulated("frames_3frags.dcm", frames, "YBR_FULL_422", 3, fragments=3)
    add("frames_3frags.dcm", r, "mad3")
    # Chroma subsampling 4:2:0 (Pillow's default) and 4:1:1 (dcmcjpeg +n1).
    p420 = []
    for img in rgb_source():
        b = io.BytesIO()
        Image.fromarray(img).save(b, "JPEG", quality=95, subsampling=2)
        p420.append(b.getvalue())
    encapsulated("frames_420_pillow.dcm", p420, "YBR_FULL_422", 3)
    add("frames_420_pillow.dcm", ref("frames_420_pillow.ref.npy", pillow_rgb(p420)), "mad3")
    run("dcmcjpeg", "+un", "+eb", "+q", "95", "+n1", "native_rgb.dcm", "frames_411.dcm")
    add("frames_411.dcm", ref("frames_411.ref.npy", pillow_rgb(jpeg_frames("frames_411.dcm"))), "mad3")

    # Odd-length fragments (each frame split after byte 301), which the
    # standard forbids but some writers make.
    os.remove(os.path.join(OUT, "tmp_jpeg.dcm"))
    items = b"\xfe\xff\x00\xe0\x00\x00\x00\x00" + b"".join(
        b"\xfe\xff\x00\xe0" + struct.pack("<I", len(p)) + p for f in frames for p in (f[:301], f[301:]))
    items += b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
    encapsulated("frames_odd.dcm", frames, "YBR_FULL_422", 3)
    data = open(os.path.join(OUT, "frames_odd.dcm"), "rb").read()
    start = data.index(b"\xe0\x7f\x10\x00OB\x00\x00\xff\xff\xff\xff") + 12
    open(os.path.join(OUT, "frames_odd.dcm"), "wb").write(data[:start] + items)
    add("frames_odd.dcm", r, "mad3")

    # Frame rates, each attribute alone (native grey pixels).
    grey = grey_source()
    gr = ref("fps.ref.npy", grey)
    for name, extra, fps in (
        ("fps_frametime.dcm", {"FrameTime": "33.3333"}, "30.00003"),
        ("fps_vector.dcm", {"FrameTimeVector": ["0", "20", "20", "20"]}, "50"),
        ("fps_cinerate.dcm", {"CineRate": "24"}, "24"),
        ("fps_recommended.dcm", {"RecommendedDisplayFrameRate": "15"}, "15"),
        ("fps_none.dcm", {}, "0"),
    ):
        ds = dataset(name, grey, "MONOCHROME2", extra=extra)
        if "FrameTime" not in extra:
            del ds.FrameTime
        save(ds, name)
        add(name, gr, "exact", fps)

    # A view, as the View Code Sequence tags it (for the folder scanner).
    ds = dataset("view_plax.dcm", grey, "MONOCHROME2")
    item = pydicom.Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = "G-0398", "SRT", "parasternal long axis"
    ds.ViewCodeSequence = [item]
    save(ds, "view_plax.dcm")
    add("view_plax.dcm", gr)


def structured_report():
    """A Basic Text SR document (no pixel data), for the folder scanner."""
    meta = FileMetaDataset()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"
    meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.10.2"
    ds = FileDataset("sr", {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality = "SR"
    ds.StudyInstanceUID, ds.PatientID = "1.2.826.0.1.3680043.10.99", "P1"
    ds.ValueType, ds.ContinuityOfContent = "CONTAINER", "SEPARATE"
    ds.is_little_endian, ds.is_implicit_VR = True, False
    save(ds, "report_sr.dcm")
    add("report_sr.dcm", error="no pixel data")


def pydicom_files():
    """Files from pydicom's test suite (pydicom/data/test_files, see its
    README.txt for provenance and licences), written by other toolkits:

      - SC_jpeg_no_color_transform.dcm: an Aperio slide tile in RGB, no JFIF
        or Adobe marker, component ids 0 1 2, Photometric Interpretation RGB.
        libjpeg (and so Pillow) assumes YCbCr and turns it magenta; dcmtk,
        following the PI, decodes it right: the reference is dcmdjpeg's.
      - SC_jpeg_no_color_transform_2.dcm: the same with an Adobe marker
        (transform 0).
      - SC_rgb_jpeg_lossy_gdcm.dcm: GDCM's lossy JPEG of SC_rgb_rle.dcm's
        picture, YCbCr with ids 1 2 3 and no JFIF marker under PI RGB. dcmtk,
        following the PI, leaves it unconverted; Pillow converts it, and is
        within 3 of the lossless picture: the reference is Pillow's.
      - JPEG-lossy.dcm: 12-bit JPEG Extended whose scan header says Se = 0
        (libjpeg ignores it); reference dcmj2pnm's min-max window.
    """
    import shutil
    src = os.path.join(os.path.dirname(pydicom.__file__), "data", "test_files")
    for f in ("SC_jpeg_no_color_transform.dcm", "SC_jpeg_no_color_transform_2.dcm",
              "SC_rgb_jpeg_lossy_gdcm.dcm", "SC_rgb_rle.dcm", "JPEG-lossy.dcm"):
        shutil.copy(os.path.join(src, f), os.path.join(OUT, "pydicom_" + f))
    for f in ("SC_jpeg_no_color_transform", "SC_jpeg_no_color_transform_2"):
        name = f"pydicom_{f}.dcm"
        want = dcmdjpeg_rgb(name, "+cp")
        assert want.reshape(-1, 3).mean(0).min() > 230, "a near-white slide"
        add(name, ref(name[:-4] + ".ref.npy", want), "mad3", fps="0")
    truth = pixels("pydicom_SC_rgb_rle.dcm")
    add("pydicom_SC_rgb_rle.dcm", ref("pydicom_SC_rgb_rle.ref.npy", truth), fps="0")
    name = "pydicom_SC_rgb_jpeg_lossy_gdcm.dcm"
    want = pillow_rgb(jpeg_frames(name))
    assert np.abs(want.astype(int) - truth.astype(int)).mean() < 3
    add(name, ref(name[:-4] + ".ref.npy", want), "mad3", fps="0")
    add("pydicom_JPEG-lossy.dcm", ref("pydicom_JPEG-lossy.ref.npy", dcmtk_pnm("pydicom_JPEG-lossy.dcm", "+Wm")), "mad3", fps="0")


if __name__ == "__main__":
    structured_report()
    pydicom_files()
    colour_matrix()
    encodings()
    structure()
    with open(os.path.join(OUT, "corpus.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, ["file", "ref", "match", "fps", "error"])
        w.writeheader()
        w.writerows(rows)
    print(len(rows), "files")
