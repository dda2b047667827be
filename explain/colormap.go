package explain

import (
	"fmt"
	"image/color"
	"math"
)

// Stop is one control point of a Colormap: the colour (R, G, B, each in
// [0, 1]) at position Pos in [0, 1].
type Stop struct {
	Pos     float64
	R, G, B float64
}

// Colormap maps a value in [0, 1] to a colour by linear interpolation
// between its stops, channel by channel. The zero Colormap is not usable;
// use Jet, Inferno, Viridis or NewColormap.
type Colormap struct {
	name  string
	stops []Stop
}

// NewColormap returns a colour map through the given stops. There must be at
// least two, with strictly increasing positions from exactly 0 to exactly 1
// and channels in [0, 1]. The stops are copied.
func NewColormap(name string, stops []Stop) (Colormap, error) {
	if len(stops) < 2 {
		return Colormap{}, fmt.Errorf("explain: colour map %q: %d stops, need at least 2", name, len(stops))
	}
	if stops[0].Pos != 0 || stops[len(stops)-1].Pos != 1 {
		return Colormap{}, fmt.Errorf("explain: colour map %q: stops run from %v to %v, must run from 0 to 1", name, stops[0].Pos, stops[len(stops)-1].Pos)
	}
	for i, s := range stops {
		if i > 0 && !(s.Pos > stops[i-1].Pos) {
			return Colormap{}, fmt.Errorf("explain: colour map %q: stop %d at %v does not follow %v", name, i, s.Pos, stops[i-1].Pos)
		}
		for _, c := range [3]float64{s.R, s.G, s.B} {
			if !(c >= 0 && c <= 1) {
				return Colormap{}, fmt.Errorf("explain: colour map %q: stop %d has channel %v outside [0, 1]", name, i, c)
			}
		}
	}
	return Colormap{name: name, stops: append([]Stop(nil), stops...)}, nil
}

// Name returns the colour map's name.
func (c Colormap) Name() string { return c.name }

// At returns the colour at v. Values below 0 (and NaN) take the colour at 0,
// values above 1 the colour at 1. The zero Colormap gives opaque black.
func (c Colormap) At(v float64) color.RGBA {
	r, g, b := c.rgb(v)
	return color.RGBA{R: to8(r), G: to8(g), B: to8(b), A: 255}
}

// rgb returns the interpolated channels at v, in [0, 1].
func (c Colormap) rgb(v float64) (r, g, b float64) {
	s := c.stops
	if len(s) == 0 {
		return 0, 0, 0
	}
	if !(v > 0) {
		return s[0].R, s[0].G, s[0].B
	}
	if v >= 1 {
		l := s[len(s)-1]
		return l.R, l.G, l.B
	}
	// Binary search for the segment [s[i-1].Pos, s[i].Pos] holding v.
	lo, hi := 1, len(s)-1
	for lo < hi {
		mid := (lo + hi) / 2
		if s[mid].Pos < v {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	a, z := s[lo-1], s[lo]
	f := (v - a.Pos) / (z.Pos - a.Pos)
	return a.R + f*(z.R-a.R), a.G + f*(z.G-a.G), a.B + f*(z.B-a.B)
}

// to8 rounds a channel in [0, 1] to 8 bits.
func to8(x float64) uint8 {
	return uint8(math.Round(min(max(x, 0), 1) * 255))
}

// Jet is MATLAB's and matplotlib's "jet": dark blue, blue, cyan, yellow,
// red, dark red. It is the colour map of most Grad-CAM figures, the paper's
// included, though it is not perceptually uniform. Its stops are the union
// of the breakpoints of matplotlib's piecewise-linear definition, so it is
// exact, not an approximation.
var Jet = Colormap{name: "jet", stops: []Stop{
	{0, 0, 0, 0.5},
	{0.11, 0, 0, 1},
	{0.125, 0, 0, 1},
	{0.34, 0, 0.86, 1},
	{0.35, 0, 0.9, 30.0 / 31},
	{0.375, 2.5 / 31, 1, 27.5 / 31},
	{0.64, 29.0 / 31, 1, 1.0 / 31},
	{0.65, 30.0 / 31, 26.0 / 27, 0},
	{0.66, 1, 25.0 / 27, 0},
	{0.89, 1, 2.0 / 27, 0},
	{0.91, 10.0 / 11, 0, 0},
	{1, 0.5, 0, 0},
}}

// Inferno is matplotlib's perceptually uniform "inferno" (black, purple,
// orange, pale yellow), which stays readable in greyscale. Its stops are
// every fifth entry of matplotlib's 256-entry table, so it is within 1/255
// of matplotlib's everywhere.
var Inferno = Colormap{name: "inferno", stops: infernoStops}

// Viridis is matplotlib's perceptually uniform "viridis" (purple, blue,
// green, yellow). Its stops are every fifth entry of matplotlib's 256-entry
// table, so it is within 1/255 of matplotlib's everywhere.
var Viridis = Colormap{name: "viridis", stops: viridisStops}

var infernoStops = []Stop{
	{0.0 / 255, 0.001462, 0.000466, 0.013866},
	{5.0 / 255, 0.007676, 0.006136, 0.046836},
	{10.0 / 255, 0.019373, 0.015133, 0.088767},
	{15.0 / 255, 0.037668, 0.025921, 0.132232},
	{20.0 / 255, 0.061340, 0.036590, 0.177642},
	{25.0 / 255, 0.087411, 0.044556, 0.224813},
	{30.0 / 255, 0.116656, 0.047574, 0.272321},
	{35.0 / 255, 0.149073, 0.045468, 0.317085},
	{40.0 / 255, 0.183429, 0.040329, 0.354971},
	{45.0 / 255, 0.217949, 0.036615, 0.383522},
	{50.0 / 255, 0.251620, 0.037705, 0.403378},
	{55.0 / 255, 0.284321, 0.043933, 0.416608},
	{60.0 / 255, 0.316282, 0.053490, 0.425116},
	{65.0 / 255, 0.347771, 0.064616, 0.430217},
	{70.0 / 255, 0.379001, 0.076253, 0.432719},
	{75.0 / 255, 0.410113, 0.087896, 0.433098},
	{80.0 / 255, 0.441207, 0.099338, 0.431594},
	{85.0 / 255, 0.472328, 0.110547, 0.428334},
	{90.0 / 255, 0.503493, 0.121575, 0.423356},
	{95.0 / 255, 0.534683, 0.132534, 0.416667},
	{100.0 / 255, 0.565854, 0.143567, 0.408258},
	{105.0 / 255, 0.596940, 0.154848, 0.398125},
	{110.0 / 255, 0.627847, 0.166575, 0.386276},
	{115.0 / 255, 0.658463, 0.178962, 0.372748},
	{120.0 / 255, 0.688653, 0.192239, 0.357603},
	{125.0 / 255, 0.718264, 0.206636, 0.340931},
	{130.0 / 255, 0.747127, 0.222378, 0.322856},
	{135.0 / 255, 0.775059, 0.239667, 0.303526},
	{140.0 / 255, 0.801871, 0.258674, 0.283099},
	{145.0 / 255, 0.827372, 0.279517, 0.261750},
	{150.0 / 255, 0.851384, 0.302260, 0.239636},
	{155.0 / 255, 0.873741, 0.326906, 0.216886},
	{160.0 / 255, 0.894305, 0.353399, 0.193584},
	{165.0 / 255, 0.912966, 0.381636, 0.169755},
	{170.0 / 255, 0.929644, 0.411479, 0.145367},
	{175.0 / 255, 0.944285, 0.442772, 0.120354},
	{180.0 / 255, 0.956852, 0.475356, 0.094695},
	{185.0 / 255, 0.967322, 0.509078, 0.068659},
	{190.0 / 255, 0.975677, 0.543798, 0.043618},
	{195.0 / 255, 0.981895, 0.579392, 0.026250},
	{200.0 / 255, 0.985952, 0.615750, 0.025592},
	{205.0 / 255, 0.987819, 0.652773, 0.045581},
	{210.0 / 255, 0.987464, 0.690366, 0.079990},
	{215.0 / 255, 0.984865, 0.728427, 0.120785},
	{220.0 / 255, 0.980032, 0.766837, 0.166353},
	{225.0 / 255, 0.973088, 0.805409, 0.216877},
	{230.0 / 255, 0.964394, 0.843848, 0.273391},
	{235.0 / 255, 0.954997, 0.881569, 0.337475},
	{240.0 / 255, 0.947594, 0.917399, 0.410665},
	{245.0 / 255, 0.947937, 0.949318, 0.491426},
	{250.0 / 255, 0.961812, 0.975924, 0.571925},
	{255.0 / 255, 0.988362, 0.998364, 0.644924},
}
var viridisStops = []Stop{
	{0.0 / 255, 0.267004, 0.004874, 0.329415},
	{5.0 / 255, 0.273809, 0.031497, 0.358853},
	{10.0 / 255, 0.278791, 0.062145, 0.386592},
	{15.0 / 255, 0.281924, 0.089666, 0.412415},
	{20.0 / 255, 0.283197, 0.115680, 0.436115},
	{25.0 / 255, 0.282623, 0.140926, 0.457517},
	{30.0 / 255, 0.280255, 0.165693, 0.476498},
	{35.0 / 255, 0.276194, 0.190074, 0.493001},
	{40.0 / 255, 0.270595, 0.214069, 0.507052},
	{45.0 / 255, 0.263663, 0.237631, 0.518762},
	{50.0 / 255, 0.255645, 0.260703, 0.528312},
	{55.0 / 255, 0.246811, 0.283237, 0.535941},
	{60.0 / 255, 0.237441, 0.305202, 0.541921},
	{65.0 / 255, 0.227802, 0.326594, 0.546532},
	{70.0 / 255, 0.218130, 0.347432, 0.550038},
	{75.0 / 255, 0.208623, 0.367752, 0.552675},
	{80.0 / 255, 0.199430, 0.387607, 0.554642},
	{85.0 / 255, 0.190631, 0.407061, 0.556089},
	{90.0 / 255, 0.182256, 0.426184, 0.557120},
	{95.0 / 255, 0.174274, 0.445044, 0.557792},
	{100.0 / 255, 0.166617, 0.463708, 0.558119},
	{105.0 / 255, 0.159194, 0.482237, 0.558073},
	{110.0 / 255, 0.151918, 0.500685, 0.557587},
	{115.0 / 255, 0.144759, 0.519093, 0.556572},
	{120.0 / 255, 0.137770, 0.537492, 0.554906},
	{125.0 / 255, 0.131172, 0.555899, 0.552459},
	{130.0 / 255, 0.125394, 0.574318, 0.549086},
	{135.0 / 255, 0.121148, 0.592739, 0.544641},
	{140.0 / 255, 0.119423, 0.611141, 0.538982},
	{145.0 / 255, 0.121380, 0.629492, 0.531973},
	{150.0 / 255, 0.128087, 0.647749, 0.523491},
	{155.0 / 255, 0.140210, 0.665859, 0.513427},
	{160.0 / 255, 0.157851, 0.683765, 0.501686},
	{165.0 / 255, 0.180653, 0.701402, 0.488189},
	{170.0 / 255, 0.208030, 0.718701, 0.472873},
	{175.0 / 255, 0.239374, 0.735588, 0.455688},
	{180.0 / 255, 0.274149, 0.751988, 0.436601},
	{185.0 / 255, 0.311925, 0.767822, 0.415586},
	{190.0 / 255, 0.352360, 0.783011, 0.392636},
	{195.0 / 255, 0.395174, 0.797475, 0.367757},
	{200.0 / 255, 0.440137, 0.811138, 0.340967},
	{205.0 / 255, 0.487026, 0.823929, 0.312321},
	{210.0 / 255, 0.535621, 0.835785, 0.281908},
	{215.0 / 255, 0.585678, 0.846661, 0.249897},
	{220.0 / 255, 0.636902, 0.856542, 0.216620},
	{225.0 / 255, 0.688944, 0.865448, 0.182725},
	{230.0 / 255, 0.741388, 0.873449, 0.149561},
	{235.0 / 255, 0.793760, 0.880678, 0.120005},
	{240.0 / 255, 0.845561, 0.887322, 0.099702},
	{245.0 / 255, 0.896320, 0.893616, 0.096335},
	{250.0 / 255, 0.945636, 0.899815, 0.112838},
	{255.0 / 255, 0.993248, 0.906157, 0.143936},
}
