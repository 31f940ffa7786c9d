package latchbench_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latch-dev/latch/bench/latchbench"
)

// The series' colours as the SVG writes them.
const session, jwt, refresh = "#1f77b4", "#ff7f0e", "#2ca02c"

// report is the run pasted in BENCHMARKS.md (the numbers the chart shows).
func report() *latchbench.Report {
	open := func(p50, p90 float64) []latchbench.Load {
		return []latchbench.Load{{Mode: "open", Fraction: 0.5, P99: latchbench.Millis(p50)}, {Mode: "open", Fraction: 0.9, P99: latchbench.Millis(p90)}}
	}
	return &latchbench.Report{
		Started: time.Date(2026, 12, 3, 13, 28, 59, 0, time.UTC), Instances: 1, Alg: "EdDSA",
		Designs: []latchbench.Design{
			{Name: latchbench.DesignSession, Whoami: latchbench.Load{PerSec: 15169, P99: 8}, Open: open(6.08, 1893.81),
				Logins: &latchbench.Load{PerSec: 26}},
			{Name: latchbench.DesignJWT, Whoami: latchbench.Load{PerSec: 15623, P99: 9.24}, Open: open(20.10, 2404.61),
				Logins: &latchbench.Load{PerSec: 22}},
			{Name: latchbench.DesignRefresh, Whoami: latchbench.Load{PerSec: 15623, P99: 9.24}, Open: open(20.10, 2404.61),
				Logins: &latchbench.Load{PerSec: 22}, Refreshes: &latchbench.Load{PerSec: 2023}},
		},
	}
}

// svgRect is a <rect> of the SVG.
type svgRect struct {
	X, Y, W, H int
	Fill       string
}

// parseSVG reads the SVG as XML (failing the test if it is not) and
// returns its rectangles and its lines of text.
func parseSVG(t *testing.T, b []byte) (rects []svgRect, texts []string) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	var in *string
	for {
		tok, err := d.Token()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("the SVG is not XML: %v\n%s", err, b)
			}
			return rects, texts
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			switch tok.Name.Local {
			case "rect":
				var r svgRect
				for _, a := range tok.Attr {
					n, _ := strconv.Atoi(a.Value)
					switch a.Name.Local {
					case "x":
						r.X = n
					case "y":
						r.Y = n
					case "width":
						r.W = n
					case "height":
						r.H = n
					case "fill":
						r.Fill = a.Value
					}
				}
				rects = append(rects, r)
			case "text":
				texts = append(texts, "")
				in = &texts[len(texts)-1]
			}
		case xml.CharData:
			if in != nil {
				*in += string(tok)
			}
		case xml.EndElement:
			in = nil
		}
	}
}

// bars are the rectangles in a series' colour, in drawing order: whoami
// (session, JWT), logins and refreshes (session, token, refresh), p99
// (session, JWT per load), then the legend's swatches.
func bars(rects []svgRect) []svgRect {
	var out []svgRect
	for _, r := range rects {
		if r.Fill == session || r.Fill == jwt || r.Fill == refresh {
			out = append(out, r)
		}
	}
	return out
}

func TestPlot_SVG(t *testing.T) {
	noRefresh := report()
	noRefresh.Designs[2].Refreshes, noRefresh.Designs[0].Logins = nil, nil
	closedOnly := report()
	for i := range closedOnly.Designs {
		closedOnly.Designs[i].Open = nil
	}
	odd := report()
	odd.Alg = "<none> & \x00"
	zero := report()
	for i := range zero.Designs {
		zero.Designs[i].Whoami, zero.Designs[i].Open, zero.Designs[i].Logins, zero.Designs[i].Refreshes = latchbench.Load{}, nil, nil, nil
	}
	slow := report()
	slow.Designs[0].Whoami.PerSec, slow.Designs[0].Logins.PerSec = 0.4, 26.75
	tests := []struct {
		name  string
		rep   *latchbench.Report
		texts []string
		fills []string // the bars' colours, in order
	}{
		{"the pasted run", report(),
			[]string{"latch bench: 2026-12-03, 1 instance(s), alg EdDSA", "whoami, closed-loop", "logins and refreshes", "whoami p99 latency",
				"requests/s", "per second", "ms", "session", "JWT", "session login", "token login", "refresh", "closed", "open 50 %", "open 90 %",
				"15169", "15623", "26", "22", "2023", "15000", "2000"},
			[]string{session, jwt, session, jwt, refresh, session, jwt, session, jwt, session, jwt, session, jwt}},
		{"no refreshes, no session logins", noRefresh, []string{"refresh", "0", "22"},
			[]string{session, jwt, session, jwt, refresh, session, jwt, session, jwt, session, jwt, session, jwt}},
		{"closed loop only", closedOnly, []string{"closed"},
			[]string{session, jwt, session, jwt, refresh, session, jwt, session, jwt}},
		{"markup and control characters in the algorithm", odd, []string{"latch bench: 2026-12-03, 1 instance(s), alg <none> & \uFFFD"}, nil},
		{"values below 100 to three digits", slow, []string{"0.4", "26.8", "15623"}, nil},
		{"nothing measured", zero, []string{"0", "0.0", "0.5", "1.0"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "bench.svg")
			if err := latchbench.Plot(tt.rep, file); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(b, []byte("NaN")) || bytes.Contains(b, []byte("Inf")) {
				t.Errorf("the SVG has a NaN or Inf:\n%s", b)
			}
			rects, texts := parseSVG(t, b)
			for _, want := range tt.texts {
				if !slices.Contains(texts, want) {
					t.Errorf("no text %q in %q", want, texts)
				}
			}
			if tt.fills != nil {
				var fills []string
				for _, r := range bars(rects) {
					fills = append(fills, r.Fill)
				}
				if strings.Join(fills, " ") != strings.Join(tt.fills, " ") {
					t.Errorf("bars %v, want %v", fills, tt.fills)
				}
			}
			for _, r := range rects {
				if r.X < 0 || r.Y < 0 || r.W < 0 || r.H < 0 || r.X+r.W > 960 || r.Y+r.H > 340 {
					t.Errorf("rectangle %+v outside the 960×340 canvas", r)
				}
			}
		})
	}

	// The bars' heights are in proportion to their values, on one scale per panel.
	file := filepath.Join(t.TempDir(), "bench.svg")
	if err := latchbench.Plot(report(), file); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(file)
	rects, _ := parseSVG(t, b)
	bs := bars(rects)
	for _, p := range []struct {
		name   string
		a, b   int
		va, vb float64
	}{
		{"whoami session/JWT", 0, 1, 15169, 15623},
		{"refreshes/token logins", 4, 3, 2023, 22},
		{"p99 open 90 %, JWT/session", 10, 9, 2404.61, 1893.81},
	} {
		ra, rb := bs[p.a], bs[p.b]
		if got := float64(ra.H) * p.vb / p.va; math.Abs(got-float64(rb.H)) > 1 {
			t.Errorf("%s: heights %d and %d for %v and %v", p.name, ra.H, rb.H, p.va, p.vb)
		}
		if ra.Y+ra.H != rb.Y+rb.H {
			t.Errorf("%s: bars end at %d and %d, not on one axis", p.name, ra.Y+ra.H, rb.Y+rb.H)
		}
	}
	// Each panel's tallest bar takes most of its value axis (the rest is
	// room for the value written above it).
	var axes []svgRect
	for _, r := range rects {
		if r.Fill == "#000000" && r.W == 1 && r.H > 100 {
			axes = append(axes, r)
		}
	}
	if len(axes) != 3 {
		t.Fatalf("%d value axes, want 3: %+v", len(axes), axes)
	}
	for i, tallest := range []svgRect{bs[1], bs[4], bs[10]} {
		if tallest.H < axes[i].H*85/100 || tallest.H > axes[i].H {
			t.Errorf("panel %d: the tallest bar is %d high on an axis of %d", i, tallest.H, axes[i].H)
		}
	}
}

func TestPlot_PNG(t *testing.T) {
	withoutOpen := report()
	for i := range withoutOpen.Designs {
		withoutOpen.Designs[i].Open = nil
	}
	tests := []struct {
		name string
		rep  *latchbench.Report
	}{
		{"the pasted run", report()},
		{"closed loop only", withoutOpen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			svgFile, pngFile := filepath.Join(dir, "bench.svg"), filepath.Join(dir, "bench.PNG")
			for _, f := range []string{svgFile, pngFile} {
				if err := latchbench.Plot(tt.rep, f); err != nil {
					t.Fatal(err)
				}
			}
			b, err := os.ReadFile(pngFile)
			if err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("not a PNG: %v", err)
			}
			if got := img.Bounds(); got != image.Rect(0, 0, 960, 340) {
				t.Fatalf("size %v, want 960×340", got)
			}
			white := color.RGBA{0xff, 0xff, 0xff, 0xff}
			if got := rgba(img, 2, 2); got != white {
				t.Errorf("background %v, want white", got)
			}

			// Every bar the SVG draws is in the PNG, in its colour, where the SVG has it.
			s, _ := os.ReadFile(svgFile)
			rects, _ := parseSVG(t, s)
			drawn := 0
			for _, r := range bars(rects) {
				if r.W < 3 || r.H < 3 {
					continue // a bar too low to have an inside
				}
				drawn++
				want := hex(r.Fill)
				for _, p := range []image.Point{{r.X + 1, r.Y + 1}, {r.X + r.W/2, r.Y + r.H/2}, {r.X + r.W - 2, r.Y + r.H - 2}} {
					if got := rgba(img, p.X, p.Y); got != want {
						t.Errorf("bar %+v: pixel %v is %v, want %v", r, p, got, want)
					}
				}
			}
			if drawn < 6 {
				t.Errorf("%d bars checked, want at least 6", drawn)
			}

			// The text is drawn: dark pixels in the header's band and
			// left of the first panel's axis (its tick labels and unit).
			for _, band := range []image.Rectangle{image.Rect(300, 5, 660, 25), image.Rect(0, 60, 55, 320)} {
				dark := 0
				for y := band.Min.Y; y < band.Max.Y; y++ {
					for x := band.Min.X; x < band.Max.X; x++ {
						if c := rgba(img, x, y); c.R < 0x80 && c.G < 0x80 && c.B < 0x80 {
							dark++
						}
					}
				}
				if dark < 50 {
					t.Errorf("%d dark pixels in %v, want text there", dark, band)
				}
			}
		})
	}
}

func TestPlot_errors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, file string
		rep        *latchbench.Report
		want       string
	}{
		{"another format", filepath.Join(dir, "bench.pdf"), report(), "want a .svg or .png file"},
		{"no extension", filepath.Join(dir, "bench"), report(), "want a .svg or .png file"},
		{"no designs", filepath.Join(dir, "bench.svg"), &latchbench.Report{}, "no design tables"},
		{"no such directory", filepath.Join(dir, "missing", "bench.png"), report(), "no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := latchbench.Plot(tt.rep, tt.file)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Plot(%s) = %v, want an error with %q", tt.file, err, tt.want)
			}
		})
	}
}

func rgba(img image.Image, x, y int) color.RGBA {
	r, g, b, a := img.At(x, y).RGBA()
	return color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), uint8(a >> 8)}
}

// hex is a "#rrggbb" colour.
func hex(s string) color.RGBA {
	v, _ := strconv.ParseUint(strings.TrimPrefix(s, "#"), 16, 32)
	return color.RGBA{uint8(v >> 16), uint8(v >> 8), uint8(v), 0xff}
}
