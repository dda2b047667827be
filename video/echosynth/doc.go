// Package echosynth makes synthetic parasternal long-axis (PLAX)
// echocardiogram cine loops of patients with and without aortic stenosis:
// the default data set of vidssl's aortic-stenosis example, made on the fly
// so that the whole pipeline runs without private data.
//
// # Data set
//
// A data set (Config) is a number of studies, one per patient, each with
// 2-5 videos. The videos of a study share the patient's heart (Anatomy) and
// the exam's acquisition settings (Config.Nuisance), and differ a little in
// how each clip was recorded (Config.VideoJitter; see Acquisition). Each patient has a stenosis
// grade, none, mild, moderate or severe (Config.Mix; 22% severe by
// default, as in the paper's data); the label is 1 for severe. Studies lists
// the studies with a stratified study-level train/val/test split, Generate
// makes one video in memory, and WriteDataset writes a whole data set as
// Motion JPEG AVI files with a manifest CSV (path, patient_id, study_id,
// label, split, severity) that video.ReadManifest reads with
// video.OurColumns.
//
// Everything is a pure function of Config.Seed and the study and video
// indices: each study and each video draws from its own random stream
// (math/rand/v2 PCG seeded by hashing the seed with the indices), so one
// video can be made without the others, in any order, in parallel, with the
// same bytes every time.
//
// # The picture
//
// A frame is an ultrasound sector: a fan with its apex at the top centre,
// Nuisance.SectorDeg either side of straight down, reaching 83% of the frame
// height, which stands for Nuisance.DepthCM of tissue. Outside the sector the
// frame is black except for burned-in text (patient id, study date, time,
// "PLAX", depth, frame rate) in the top corners, depth marks beside the
// right edge of the fan and a scrolling ECG trace along the bottom, all at
// least two pixels from the sector, so that sector masking has something to
// remove.
//
// Inside the sector the heart is drawn in heart coordinates (u, v) in cm:
// the origin is the centre of the aortic annulus, u runs along the LV long
// axis towards the aorta (to the right), v from front to back (down). The
// long axis rises towards the aorta by Anatomy.TiltDeg plus the video's
// Nuisance.TiltDeg. From the probe down the picture shows:
//
//   - the chest wall, bright and layered (Anatomy.ChestWall thick);
//   - the RV free wall and the dark RV cavity (Anatomy.RVD deep), which
//     runs on as the RV outflow tract in front of the aortic root;
//   - the interventricular septum (Anatomy.IVSd thick), which thins into
//     the anterior wall of the aortic root at the annulus;
//   - the dark LV cavity, Anatomy.LVIDd across at end-diastole, tapering to
//     an apex Anatomy.LVLength from the annulus (usually past the left edge
//     of the sector), with a faint papillary muscle;
//   - the posterior wall (Anatomy.PWd thick) and behind it the bright
//     pericardium (Anatomy.Pericardium) and the round descending aorta;
//   - on the right, the aortic root (Anatomy.RootDiameter at the annulus,
//     bulging at the sinuses of Valsalva, with bright walls of reflectivity
//     Anatomy.AorticWall), and below it the left atrium (Anatomy.LAScale);
//   - the mitral valve between the LV and the left atrium: the anterior
//     leaflet hangs from the posterior aortic wall, the posterior leaflet
//     from the posterior annulus;
//   - the aortic valve: two cusps hinged on the annulus, each drawn as a
//     slightly bowed thick line Anatomy.LeafletThickness thick with
//     reflectivity Anatomy.LeafletReflectivity.
//
// # The beat
//
// A beat lasts 60/HR seconds (HR is Anatomy.HeartRateBPM plus the video's
// Nuisance.HeartRateDeltaBPM) and starts at the QRS (end-diastole); frame 0
// is at a random phase (VideoInfo.StartPhase). Systole (ejection) lasts
// about 0.16 + 0.17 RR seconds, stretched by Anatomy.SystoleStretch. During
// systole the LV contracts: the septum and the posterior wall move towards
// each other until the diameter has shrunk by Anatomy.FS (the posterior wall
// moves more), both walls thicken, the apex moves a little towards the base
// and the whole heart swings a few millimetres towards the probe; the aortic
// cusps swing open from 30 degrees to the annulus plane (closed: the tips
// meet in the middle of the root) to Anatomy.OpeningDeg (about 80, against
// the walls, for a normal valve) and close again at end-systole; the mitral
// valve is shut. In diastole the LV relaxes, the mitral valve opens wide in
// early diastole (E wave), half-closes, and opens again with the atrial kick
// (A wave) before the next QRS; the aortic valve is shut. VideoInfo.Frames
// records the phase, contraction and valve openings of every frame, and
// where the valve is in the frame. The ECG trace shows the same beats.
//
// # Stenosis
//
// Each patient has a continuous Anatomy.SeverityScore s in [0, 1] inside
// the interval of its grade (none 0-0.18, mild 0.22-0.45, moderate
// 0.45-0.68, severe 0.68-1). The grade, and the label, are haemodynamic: what
// Doppler measures across the valve. As s grows the cusps open less
// (OpeningDeg about 82-30s degrees, leaving a narrow orifice in severe
// stenosis), the walls thicken slightly, the root and atrium dilate slightly
// and systole lasts slightly longer.
//
// How diseased the cusps look follows a second score, the patient's
// Anatomy.AppearanceScore sa: s plus a normal deviation of half a grade
// (AppearanceSD), clipped to [0, 1]. As sa grows the cusps get thicker
// (about 0.1 cm to 0.3 cm) with nodular tips, brighter relative to the
// aortic wall (from about half as bright to brighter), and calcified nodules
// appear at the hinges and tips (Anatomy.Calcification, from sa = 0.35).
// Morphology and haemodynamics part ways in real patients: women reach
// severe stenosis with about two-thirds of men's calcium load (Agatston
// thresholds of about 1,300 against 2,000 AU), bicuspid and rheumatic valves
// thicken and calcify differently from degenerative tricuspid ones, and a
// low-flow state makes a valve that looks moderate severe by its area. So a
// bright, thick valve is likely but not certainly severe, as in a reading
// room, and the opening, which the label follows more closely, has to be
// seen in the few systolic frames where the cusps are apart.
//
// Every feature has patient-to-patient scatter, so neighbouring grades
// overlap and moderate versus severe is hard. The
// cues are local to the valve, a few pixels in a 112x112 frame: the mean
// brightness of a frame says almost nothing about the grade, because the
// acquisition gain (Nuisance.GainDB) moves it much more.
//
// # Acquisition
//
// The acquisition settings (Nuisance) are drawn at two levels, because that
// is how an echo exam is recorded. A transthoracic exam is one sitting of
// one patient with one sonographer on one machine. Before the first clip
// the sonographer picks the machine's adult cardiac preset, which fixes the
// dynamic range, sector width, noise floor and most of the time-gain
// compensation, and sets depth and overall gain for this patient's body
// habitus and acoustic window (standard PLAX views are recorded at 14-17 cm
// of depth). The parasternal long-axis clips of one exam, usually two to
// five loops of a few beats each, are then recorded minutes apart from the
// same parasternal window, often without lifting the probe: between clips
// the sonographer nudges the gain by a click or two, may step the depth by
// half a centimetre, and re-angles the probe by a few degrees to open the
// valve or the outflow tract; the heart rate drifts by a few beats per
// minute. Another exam, even of a similar patient, is another preset,
// machine, sonographer and window. So each study draws its settings from
// Config.Nuisance's wide ranges (the spread between exams) and each of its
// videos adds a small departure from Config.VideoJitter: gain ±1.5 dB, TGC
// ±1 dB, depth ±0.5 cm, sector ±1 degree, tilt ±3 degrees, probe position
// ±0.25 cm, heart rate ±3 bpm, noise ±0.001, and the same dynamic range.
// The start phase, speckle, clock and overlay brightness are new in every
// video. These ranges were fixed from this reasoning, before any
// self-supervised result on the new data was seen; earlier versions drew
// every video's settings independently from the whole range, as if each
// clip of an exam came from another machine and sonographer, which made
// two videos of one study as different in acquisition as two studies.
// Zoomed, off-axis and colour-Doppler clips, which a real exam also holds,
// are not simulated.
//
// # Ultrasound
//
// Each structure has a reflectivity (echo amplitude relative to the
// pericardium): blood 0.004, soft tissue 0.035, myocardium about 0.13,
// aortic wall about 0.3, pericardium about 0.85. Edges are anti-aliased over
// one pixel. The amplitude is multiplied by complex Gaussian speckle, so its
// magnitude is Rayleigh distributed (fully developed speckle): the speckle
// field lives on a polar grid (rows along the beam, columns across it, so
// grains are wider than deep and widen with depth) and is spatially
// correlated by a small blur. Speckle is the interference of scatterers
// fixed in the tissue, so it moves with the tissue (which is what
// speckle-tracking echocardiography measures): each pixel looks the field
// up where its tissue lies at end-diastole, following the whole heart's
// swing, the septum's and posterior wall's motion and thickening and the
// apex's shortening, while the chest wall stays still; the lookup is
// bilinear, scaled to keep the speckle's variance. Out-of-plane motion and
// deformation decorrelate it slowly: it blends into an independent pattern
// over 0.4 s, whatever the frame rate. (Earlier versions fixed the speckle
// to the scanner and renewed it every 6 frames, so that tissue motion
// showed only at the edges of structures.) Complex electronic noise of amplitude
// Nuisance.NoiseLevel is added (it shows in the blood pools). The intensity
// is log-compressed: grey level = 255 (dB + gain + TGC + DR - 5) / DR, with
// dB the intensity in decibels, gain Nuisance.GainDB, TGC a residual
// depth-gain slope (Nuisance.TGCDB top to bottom) plus a darkening towards
// the edges of the fan, and DR Nuisance.DynamicRangeDB.
package echosynth
