package echosynth

import "math"

// This file is the model of the heart: the timing of one beat (cycle) and
// the picture of the heart at one instant (frameGeom.reflect), in heart
// coordinates (u, v) in cm: the origin is the centre of the aortic annulus,
// u runs along the long axis towards the aorta (right in the image), v runs
// from front to back (down in the image, away from the probe).

// Tissue reflectivities shared by every patient (echo amplitude relative to
// the pericardium).
const (
	reflBlood   = 0.004
	reflTissue  = 0.035
	reflLAWall  = 0.11
	reflMitral  = 0.2
	reflDescAoW = 0.18
)

func clamp01(x float64) float64 {
	if x < 0 {
		return 0
	}
	if x > 1 {
		return 1
	}
	return x
}

// smoothstep rises from 0 at e0 to 1 at e1 (e1 may be below e0).
func smoothstep(e0, e1, x float64) float64 {
	t := clamp01((x - e0) / (e1 - e0))
	return t * t * (3 - 2*t)
}

// bump is a Gaussian of height 1 at c with width w.
func bump(x, c, w float64) float64 {
	d := (x - c) / w
	return math.Exp(-d * d)
}

// cycle is the timing of one beat. Time tc runs from 0 (the QRS complex,
// end-diastole) to rr (the next QRS).
type cycle struct {
	rr   float64 // beat length, s
	tsys float64 // end of ejection (aortic valve closure), s
	k    float64 // time scale of the short events, 1 at rest
}

func newCycle(bpm, stretch float64) cycle {
	rr := 60 / bpm
	c := cycle{rr: rr, k: min(1, rr/0.75)}
	// Systole shortens less than diastole as the rate rises.
	c.tsys = min((0.16+0.17*rr)*(1+stretch), 0.5*rr)
	return c
}

// contraction is the LV contraction at tc: 0 at end-diastole, 1 at
// end-systole, slightly negative at the atrial kick.
func (c cycle) contraction(tc float64) float64 {
	t0 := 0.03 * c.k
	ivrt := 0.06 * c.k
	var v float64
	switch {
	case tc < t0:
		v = 0
	case tc < c.tsys:
		v = 0.5 - 0.5*math.Cos(math.Pi*(tc-t0)/(c.tsys-t0))
	case tc < c.tsys+ivrt:
		v = 1
	default:
		v = 0.5 + 0.5*math.Cos(math.Pi*min(1, (tc-c.tsys-ivrt)/(0.16*c.k)))
	}
	return v - 0.07*bump(tc, c.rr-0.07*c.k, 0.05*c.k)
}

// aortic is the aortic valve opening at tc, 0 (closed) to 1 (fully open for
// this patient): open during ejection only.
func (c cycle) aortic(tc float64) float64 {
	to := 0.05 * c.k
	if tc <= to || tc >= c.tsys {
		return 0
	}
	return smoothstep(to, to+0.035*c.k, tc) * (1 - smoothstep(c.tsys-0.045*c.k, c.tsys, tc)) *
		(1 - 0.12*(tc-to)/(c.tsys-to))
}

// mitral is the mitral valve opening at tc: the early (E) wave after
// isovolumic relaxation, diastasis, and the atrial (A) wave before the QRS.
func (c cycle) mitral(tc float64) float64 {
	tmo := c.tsys + 0.06*c.k
	if tc <= tmo {
		return 0
	}
	e := smoothstep(tmo, tmo+0.04*c.k, tc) * (0.4 + 0.6*bump(tc, tmo+0.05*c.k, 0.07*c.k))
	a := 0.8 * bump(tc, c.rr-0.08*c.k, 0.04*c.k)
	return max(e, a) * (1 - smoothstep(c.rr-0.03*c.k, c.rr, tc))
}

// ecg is the ECG voltage (R wave = 1) at time tc within the beat.
func (c cycle) ecg(tc float64) float64 {
	v := 0.0
	for _, t := range [3]float64{tc - c.rr, tc, tc + c.rr} {
		v += 0.12*bump(t, -0.16*c.k, 0.025*c.k) - 0.1*bump(t, -0.02, 0.008) + bump(t, 0, 0.01) -
			0.25*bump(t, 0.025, 0.01) + 0.28*bump(t, c.tsys-0.07*c.k, 0.05*c.k)
	}
	return v
}

// capsule is a thick segment from a to b with radius r at a and rb at b.
type capsule struct {
	au, av, bu, bv, ra, rb float64
}

// dist returns the signed distance from (u, v) to the capsule surface.
func (c *capsule) dist(u, v float64) float64 {
	pu, pv := u-c.au, v-c.av
	du, dv := c.bu-c.au, c.bv-c.av
	h := 0.0
	if l2 := du*du + dv*dv; l2 > 0 {
		h = clamp01((pu*du + pv*dv) / l2)
	}
	eu, ev := pu-du*h, pv-dv*h
	return math.Sqrt(eu*eu+ev*ev) - (c.ra + (c.rb-c.ra)*h)
}

// leaflet returns a curved leaflet from hinge (hu, hv), length l, direction
// angle ang (radians, in the u-v plane), bowed sideways by bow (a fraction of
// l, positive to the left of the direction), as two capsules.
func leaflet(hu, hv, l, ang, bow, r0, r1 float64) [2]capsule {
	du, dv := math.Cos(ang), math.Sin(ang)
	mu := hu + 0.5*l*du - bow*l*dv
	mv := hv + 0.5*l*dv + bow*l*du
	tu, tv := hu+l*du, hv+l*dv
	rm := 0.5 * (r0 + r1)
	return [2]capsule{{hu, hv, mu, mv, r0, rm}, {mu, mv, tu, tv, rm, r1}}
}

// frameGeom is the heart at one instant.
type frameGeom struct {
	invAA float64 // 1 / anti-aliasing width (one pixel, cm)

	rho, wA            float64 // annulus radius, aortic wall thickness
	vS0, sepShift      float64 // septal endocardium at the base, its systolic motion
	vP0, pwShift       float64 // posterior endocardium at the base, its systolic motion
	ivs, pw            float64 // wall thicknesses now
	uC, aL, aO         float64 // start of the apical taper, cavity and wall half-lengths
	rvTop, rvWall      float64
	uLA, vLA, aLA, bLA float64
	periT              float64
	sinus, asc         float64 // sinus bulge (fraction), ascending aorta radius
	dAoU, dAoV, dAoR   float64

	myo, aoWall, peri, av, calc float64

	avCaps  [4]capsule
	calcCap [4]capsule
	mvCaps  [4]capsule
	papU    float64
	papV    float64
}

func newFrameGeom(a *Anatomy, c, o, m, cmPerPx float64) *frameGeom {
	g := &frameGeom{invAA: 1 / cmPerPx}
	g.rho = a.RootDiameter / 2
	g.wA = 0.25
	g.vS0 = -g.rho
	g.sepShift = 0.35 * a.FS * a.LVIDd * c
	g.vP0 = -g.rho + a.LVIDd
	g.pwShift = 0.65 * a.FS * a.LVIDd * c
	g.ivs = a.IVSd * (1 + 0.4*c)
	g.pw = a.PWd * (1 + 0.5*c)
	g.uC = -0.55 * a.LVLength
	g.aL = (a.LVLength + g.uC) * (1 - 0.08*c)
	g.aO = g.aL + 0.5*(a.IVSd+a.PWd)
	g.rvWall = 0.35
	g.rvTop = -g.rho - g.wA - a.RVD
	// Left atrium behind the root: from the aortic wall down to the level
	// of the posterior wall, bigger at end-systole.
	laScale := a.LAScale * (1 + 0.06*c)
	g.aLA = 1.9 * laScale
	g.bLA = max(0.9, 0.5*(g.vP0+0.6*a.PWd-g.rho-g.wA)) * laScale
	g.uLA = 0.05 + g.aLA
	g.vLA = g.rho + g.wA + g.bLA
	g.periT = 0.3
	g.sinus = 0.18
	g.asc = g.rho * (1 + 0.12*a.SeverityScore)
	g.dAoU = 0.6
	g.dAoR = 0.75
	lb, _ := g.laOuter(g.dAoU)
	g.dAoV = lb + 0.4 + g.periT + g.dAoR
	g.myo, g.aoWall, g.peri = a.Myocardium, a.AorticWall, a.Pericardium
	g.av = a.LeafletReflectivity
	g.calc = a.AorticWall * (1 + a.Calcification)

	// Aortic cusps: hinged on the annulus, 30 degrees from the annulus
	// plane when closed (tips meet in the middle), up to OpeningDeg in
	// systole. The bow points upstream when closed and to the wall when open.
	l := 1.12 * g.rho
	beta := (30 + (a.OpeningDeg-30)*o) * math.Pi / 180
	bow := 0.1 * (2*o - 1)
	r0 := a.LeafletThickness / 2
	r1 := r0 * (1 + 0.8*a.AppearanceScore) // nodular tips
	ant := leaflet(0, -g.rho, l, math.Pi/2-beta, -bow, r0, r1)
	post := leaflet(0, g.rho, l, -(math.Pi/2 - beta), bow, r0, r1)
	g.avCaps = [4]capsule{ant[0], ant[1], post[0], post[1]}
	if a.Calcification > 0 {
		rc := 0.06 + 0.12*a.Calcification/(1+a.Calcification)
		g.calcCap = [4]capsule{
			{0, -g.rho, 0, -g.rho, rc, rc},
			{0, g.rho, 0, g.rho, rc, rc},
			{ant[1].bu, ant[1].bv, ant[1].bu, ant[1].bv, rc * 0.8, rc * 0.8},
			{post[1].bu, post[1].bv, post[1].bu, post[1].bv, rc * 0.8, rc * 0.8},
		}
	}

	// Mitral leaflets: the anterior one hangs from the posterior aortic
	// wall, the posterior one from the posterior annulus; they meet when
	// closed and swing towards the apex when open.
	vPa := g.vP0 - g.pwShift*0.4
	span := vPa - g.rho - g.wA
	aml := leaflet(-0.1, g.rho+g.wA/2, 0.8*span,
		lerpAngle(math.Atan2(1, -0.25), math.Atan2(-0.45, -1), m), 0.08, 0.07, 0.06)
	pml := leaflet(0.3, vPa, 0.45*span,
		lerpAngle(math.Atan2(-1, -0.25), math.Atan2(0.5, -1), m), -0.05, 0.07, 0.06)
	g.mvCaps = [4]capsule{aml[0], aml[1], pml[0], pml[1]}
	g.papU = -0.45 * a.LVLength
	g.papV = g.vP(g.papU) - 0.45
	return g
}

// lerpAngle turns from angle a towards b the short way round.
func lerpAngle(a, b, t float64) float64 {
	d := math.Remainder(b-a, 2*math.Pi)
	return a + d*t
}

// vS and vP are the septal and posterior endocardium at u (before the
// apical taper): the walls near the base move less.
func (g *frameGeom) vS(u float64) float64 { return g.vS0 + g.sepShift*smoothstep(0, -2, u) }
func (g *frameGeom) vP(u float64) float64 {
	return g.vP0 - g.pwShift*(0.4+0.6*smoothstep(0, -2, u))
}

// taper is the elliptical narrowing of the LV towards the apex.
func taper(u, uC, a float64) float64 {
	if u >= uC {
		return 1
	}
	d := (u - uC) / a
	return math.Sqrt(max(0, 1-d*d))
}

func (g *frameGeom) cover(d float64) float64 { return clamp01(0.5 - d*g.invAA) }

func band(v, lo, hi float64) float64 { return max(lo-v, v-hi) }

// superEllipse returns an approximate signed distance to the superellipse
// (x/a)^4 + (y/b)^4 = 1, a rounded box.
func superEllipse(x, y, a, b float64) float64 {
	x, y = x/a, y/b
	x, y = x*x, y*y
	q := math.Sqrt(math.Sqrt(x*x + y*y))
	return (q - 1) * min(a, b)
}

// laOuter is the depth of the back of the left atrium's wall at u, and
// whether u is within the atrium.
func (g *frameGeom) laOuter(u float64) (float64, bool) {
	a, b := g.aLA+0.25, g.bLA+0.25
	x := (u - g.uLA) / a
	x *= x
	if x >= 1 {
		return 0, false
	}
	return g.vLA + b*math.Sqrt(math.Sqrt(1-x*x)), true
}

// reflect returns the echo reflectivity at heart coordinates (u, v), world
// depth y (cm below the probe) and chest wall thickness chest.
func (g *frameGeom) reflect(u, v, y, chest float64) float64 {
	val := reflTissue

	// Right ventricle: free wall and cavity in front of the septum and root.
	val += (g.myo - val) * g.cover(band(v, g.rvTop-g.rvWall, g.rvTop))
	val += (reflBlood - val) * g.cover(band(v, g.rvTop, -g.rho))

	// Left ventricle: myocardium, then the cavity inside it.
	vs, vp := g.vS(u), g.vP(u)
	mid, h0 := 0.5*(vs+vp), 0.5*(vp-vs)
	eo := taper(u, g.uC, g.aO)
	e := taper(u, g.uC, g.aL)
	uEnd := 0.0
	if v > mid {
		uEnd = 0.5
	}
	if eo > 0 {
		// The septum thins into the anterior aortic wall near the annulus.
		ivs := g.wA + (g.ivs-g.wA)*smoothstep(0, -1.5, u)
		d := max(band(v, mid-(h0+ivs)*eo, mid+(h0+g.pw)*eo), u-uEnd)
		val += (g.myo - val) * g.cover(d)
	}
	if e > 0 {
		d := max(math.Abs(v-mid)-h0*e, u-0.25)
		val += (reflBlood - val) * g.cover(d)
		// Papillary muscle on the posterior wall.
		if du, dv := u-g.papU, v-g.papV; du > -1 && du < 1 && dv > -0.5 && dv < 0.5 {
			val += (0.45*g.myo - val) * g.cover(superEllipse(du, dv, 0.7, 0.25))
		}
	}

	// Left atrium and the mitral inflow joining it to the LV.
	if du, dv := u-g.uLA, v-g.vLA; math.Abs(du) < g.aLA+0.5 && math.Abs(dv) < g.bLA+0.5 {
		val += (reflLAWall - val) * g.cover(superEllipse(du, dv, g.aLA+0.25, g.bLA+0.25))
		val += (reflBlood - val) * g.cover(superEllipse(du, dv, g.aLA, g.bLA))
	}
	val += (reflBlood - val) * g.cover(max(band(v, g.rho+g.wA, min(g.vP0-g.pwShift*0.4, g.vLA+g.bLA-0.3)), band(u, -0.5, 0.6)))

	// Aortic root: sinuses of Valsalva, then the ascending aorta.
	if u > -0.5 {
		r := g.rho*(1+g.sinus*bump(u, 0.85*g.rho, 0.6*g.rho)) + (g.asc-g.rho)*smoothstep(1.5*g.rho, 3*g.rho, u)
		av := math.Abs(v)
		val += (g.aoWall - val) * g.cover(max(av-r-g.wA, -0.15-u))
		val += (reflBlood - val) * g.cover(max(av-r, -0.6-u))
	}

	// Pericardium behind the posterior wall and the atrium, the descending
	// aorta behind it.
	b := math.Inf(-1)
	if u < 0.5 && eo > 0 {
		b = mid + (h0+g.pw)*eo
	}
	if lb, ok := g.laOuter(u); ok {
		b = max(b, lb)
	} else if u > g.uLA {
		b = g.vLA + g.bLA + 0.25
	}
	if !math.IsInf(b, -1) {
		val += (g.peri - val) * g.cover(band(v, b+0.05, b+0.05+g.periT))
		if u > -1 && u < 2.5 {
			dv := v - g.dAoV
			du := u - g.dAoU
			dd := math.Sqrt(du*du+dv*dv) - g.dAoR
			val += (reflDescAoW - val) * g.cover(dd-0.15)
			val += (reflBlood - val) * g.cover(dd)
		}
	}

	// Valves.
	if u > -3.5 && u < 1 && v > g.rho-0.3 && v < g.vP0+0.5 {
		d := g.mvCaps[0].dist(u, v)
		for i := 1; i < 4; i++ {
			d = min(d, g.mvCaps[i].dist(u, v))
		}
		val += (reflMitral - val) * g.cover(d)
	}
	if u > -0.5 && u < 2.5*g.rho && math.Abs(v) < g.rho+0.5 {
		d := g.avCaps[0].dist(u, v)
		for i := 1; i < 4; i++ {
			d = min(d, g.avCaps[i].dist(u, v))
		}
		val += (g.av - val) * g.cover(d)
		if g.calcCap[0].ra > 0 {
			d := g.calcCap[0].dist(u, v)
			for i := 1; i < 4; i++ {
				d = min(d, g.calcCap[i].dist(u, v))
			}
			val += (g.calc - val) * g.cover(d)
		}
	}

	// Chest wall: layered, bright, in front of everything.
	if y < chest+0.5 {
		layers := 0.13 + 0.12*(0.5+0.5*math.Sin(y*14))
		if y < 0.35 {
			layers = 0.3
		}
		val += (layers - val) * g.cover(y-chest)
	}
	return val
}

// tissueAt maps the point (u, v) of the heart g back to where the tissue
// there lies in the heart g0 at end-diastole, in heart coordinates. Speckle
// is made by scatterers fixed in the tissue, so it moves with this map. In
// the left ventricle the septum and the posterior wall move towards each
// other and thicken, and the apex shortens: depth v is mapped piecewise
// linearly between the septum's and the posterior wall's current and
// end-diastolic surfaces, fading out towards the base (u from 0 to 1 cm)
// and half a centimetre in front of the right ventricle and 1.5 cm behind
// the posterior wall. The root, the atrium and everything else move only
// with the whole heart (the caller's heart coordinates already follow it).
func (g *frameGeom) tissueAt(u, v float64, g0 *frameGeom) (float64, float64) {
	if u < g.uC {
		u = g.uC + (u-g.uC)*g0.aL/g.aL
	}
	w := smoothstep(1, 0, u)
	if w == 0 {
		return u, v
	}
	// Knots now and at end-diastole: front of the right ventricle (fixed),
	// septum front and back, posterior wall front and back, and a fixed
	// point behind the heart.
	front := g.rvTop - g.rvWall - 0.5
	back := g0.vP(u) + g0.pw + 1.5
	now := [6]float64{front, g.vS(u) - g.ivs, g.vS(u), g.vP(u), g.vP(u) + g.pw, back}
	rest := [6]float64{front, g0.vS(u) - g0.ivs, g0.vS(u), g0.vP(u), g0.vP(u) + g0.pw, back}
	if v <= now[0] || v >= now[5] {
		return u, v
	}
	k := 0
	for v > now[k+1] {
		k++
	}
	t := (v - now[k]) / (now[k+1] - now[k])
	V := rest[k] + t*(rest[k+1]-rest[k])
	return u, v + w*(V-v)
}
