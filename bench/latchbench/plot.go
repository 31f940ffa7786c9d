package latchbench

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The series' colours (matplotlib's first three) and the canvas's.
var (
	colSession = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	colJWT     = color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}
	colRefresh = color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}
	colPaper   = color.RGBA{R: 0xff, G: 0xff, B: 0xff, A: 0xff}
	colInk     = color.RGBA{A: 0xff}
)

// The figure's size in pixels (the SVG's user units).
const figureW, figureH = 960, 340

// Plot draws the comparison into file (.svg or .png): whoami throughput,
// logins and refreshes per second, and whoami's p99 latency closed-loop
// and open-loop, per design.
//
// The chart is laid out once as rectangles and lines of text and written
// by hand (figure.go) rather than with a plotting library: gonum/plot
// parsed its fonts at package initialisation, 222 KB that every `latch
// serve` kept live and its garbage collector marked (docs/decisions.md).
func Plot(rep *Report, file string) error {
	format := strings.TrimPrefix(strings.ToLower(filepath.Ext(file)), ".")
	if format != "svg" && format != "png" {
		return fmt.Errorf("--plot %s: want a .svg or .png file", file)
	}
	if len(rep.Designs) < 3 {
		return fmt.Errorf("plot: the report has no design tables")
	}
	fig := comparison(rep)
	var b bytes.Buffer
	if format == "svg" {
		fig.writeSVG(&b)
	} else if err := fig.writePNG(&b); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	return os.WriteFile(file, b.Bytes(), 0o644)
}

// comparison lays out the three panels of the chart.
func comparison(rep *Report) *figure {
	ds, dj, dr := rep.Designs[0], rep.Designs[1], rep.Designs[2]
	refresh := 0.0
	if dr.Refreshes != nil {
		refresh = dr.Refreshes.PerSec
	}
	latency := []group{{name: "closed", bars: []bar{{float64(ds.Whoami.P99), colSession}, {float64(dj.Whoami.P99), colJWT}}}}
	for i, o := range ds.Open {
		jwt := 0.0
		if i < len(dj.Open) {
			jwt = float64(dj.Open[i].P99)
		}
		latency = append(latency, group{name: fmt.Sprintf("open %.0f %%", o.Fraction*100),
			bars: []bar{{float64(o.P99), colSession}, {jwt, colJWT}}})
	}
	panels := []panel{{
		title: "whoami, closed-loop", unit: "requests/s", values: true,
		groups: []group{
			{name: "session", bars: []bar{{ds.Whoami.PerSec, colSession}}},
			{name: "JWT", bars: []bar{{dj.Whoami.PerSec, colJWT}}},
		},
	}, {
		// The values are written above the bars: logins/s are too small
		// beside refreshes/s to read off the axis.
		title: "logins and refreshes", unit: "per second", values: true,
		groups: []group{
			{name: "session login", bars: []bar{{loginRate(ds), colSession}}},
			{name: "token login", bars: []bar{{loginRate(dj), colJWT}}},
			{name: "refresh", bars: []bar{{refresh, colRefresh}}},
		},
	}, {
		title: "whoami p99 latency", unit: "ms", groups: latency,
		legend: []entry{{"session", colSession}, {"JWT", colJWT}},
	}}

	f := &figure{w: figureW, h: figureH}
	f.box(0, 0, figureW, figureH, colPaper)
	f.write(figureW/2, 20, 13, middle, fmt.Sprintf("latch bench: %s, %d instance(s), alg %s",
		rep.Started.Format("2006-01-02"), rep.Instances, rep.Alg))
	w := figureW / len(panels)
	for i, p := range panels {
		p.draw(f, i*w, w)
	}
	return f
}

func loginRate(d Design) float64 {
	if d.Logins == nil {
		return 0
	}
	return d.Logins.PerSec
}

// panel is one bar chart: groups of bars along X, one value axis.
type panel struct {
	title, unit string
	groups      []group
	values      bool // write each bar's value above it
	legend      []entry
}

// entry is a line of a legend: a colour and what it stands for.
type entry struct {
	name string
	c    color.RGBA
}

// group is the bars of one X category, side by side.
type group struct {
	name string
	bars []bar
}

type bar struct {
	v float64
	c color.RGBA
}

// draw lays p out in the column of f from x0, w wide.
func (p panel) draw(f *figure, x0, w int) {
	top := 0.0
	for _, g := range p.groups {
		for _, b := range g.bars {
			top = max(top, value(b.v))
		}
	}
	if top == 0 {
		top = 1
	}
	top *= 1.1 // room for the values above the bars
	step := tickStep(top / 4)
	prec := max(0, -int(math.Floor(math.Log10(step))))
	var ticks []string
	for i := 0; float64(i)*step <= top; i++ {
		ticks = append(ticks, strconv.FormatFloat(float64(i)*step, 'f', prec, 64))
	}
	longest := 0
	for _, t := range ticks {
		longest = max(longest, len(t))
	}

	// The plot area, and the axes on its left and bottom edges.
	left, right := x0+28+7*longest, x0+w-14
	y0, y1 := 62, f.h-34
	scale := float64(y1-y0) / top
	f.write((left+right)/2, 46, 12, middle, p.title)
	f.box(left-1, y0, 1, y1-y0+1, colInk)
	f.box(left-1, y1, right-left+1, 1, colInk)
	for i, t := range ticks {
		y := y1 - int(math.Round(float64(i)*step*scale))
		f.box(left-6, y, 5, 1, colInk)
		f.write(left-9, y+4, 10, end, t)
	}
	f.writeUp(x0+16, (y0+y1)/2, 11, p.unit)

	gw := float64(right-left) / float64(len(p.groups))
	for gi, g := range p.groups {
		cx := float64(left) + gw*(float64(gi)+0.5)
		bw := min(28, int(gw*0.6)/max(len(g.bars), 1))
		x := int(math.Round(cx)) - bw*len(g.bars)/2
		for _, b := range g.bars {
			h := int(math.Round(value(b.v) * scale))
			f.box(x, y1-h, bw, h, b.c)
			if p.values {
				f.write(x+bw/2, y1-h-4, 10, middle, label(value(b.v)))
			}
			x += bw
		}
		f.write(int(math.Round(cx)), y1+16, 11, middle, g.name)
	}

	// The legend, in the plot's top left corner.
	for i, e := range p.legend {
		y := y0 + 6 + 16*i
		f.box(left+8, y, 10, 10, e.c)
		f.write(left+23, y+9, 11, start, e.name)
	}
}

// value is v as a bar's height: a missing or negative one is no bar.
func value(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return 0
	}
	return v
}

// label is a bar's value as written above it: whole from 100 up, else to
// three significant digits (a login rate of 0.4/s is not "0").
func label(v float64) string {
	if v >= 100 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// tickStep is the round step (1, 2 or 5 times a power of ten) nearest
// above raw.
func tickStep(raw float64) float64 {
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5} {
		if m*mag >= raw {
			return m * mag
		}
	}
	return 10 * mag
}
