package latchbench

import (
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

var (
	colSession = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	colJWT     = color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}
	colRefresh = color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}
)

// Plot draws the comparison into file (.svg or .png): whoami throughput,
// logins and refreshes per second, and whoami's p99 latency closed-loop
// and open-loop, per design.
func Plot(rep *Report, file string) error {
	format := strings.TrimPrefix(strings.ToLower(filepath.Ext(file)), ".")
	if format != "svg" && format != "png" {
		return fmt.Errorf("--plot %s: want a .svg or .png file", file)
	}
	if len(rep.Designs) < 3 {
		return fmt.Errorf("plot: the report has no design tables")
	}
	ds, dj, dr := rep.Designs[0], rep.Designs[1], rep.Designs[2]
	w := vg.Points(14)

	whoami := plot.New()
	whoami.Title.Text = "whoami, closed-loop"
	whoami.Y.Label.Text = "requests/s"
	if err := bars(whoami, w, []string{"session", "JWT"}, []float64{ds.Whoami.PerSec, dj.Whoami.PerSec},
		[]color.Color{colSession, colJWT}); err != nil {
		return err
	}

	rates := plot.New()
	rates.Title.Text = "logins and refreshes"
	rates.Y.Label.Text = "per second"
	refresh := 0.0
	if dr.Refreshes != nil {
		refresh = dr.Refreshes.PerSec
	}
	if err := bars(rates, w, []string{"session login", "token login", "refresh"},
		[]float64{loginRate(ds), loginRate(dj), refresh}, []color.Color{colSession, colJWT, colRefresh}); err != nil {
		return err
	}

	lat := plot.New()
	lat.Title.Text = "whoami p99 latency"
	lat.Y.Label.Text = "ms"
	names := []string{"closed"}
	for _, o := range ds.Open {
		names = append(names, fmt.Sprintf("open %.0f %%", o.Fraction*100))
	}
	p99 := func(d Design) []float64 {
		v := []float64{float64(d.Whoami.P99)}
		for _, o := range d.Open {
			v = append(v, float64(o.P99))
		}
		return v
	}
	for i, d := range []struct {
		name string
		v    []float64
		c    color.Color
	}{{"session", p99(ds), colSession}, {"JWT", p99(dj), colJWT}} {
		b, err := plotter.NewBarChart(plotter.Values(d.v), w)
		if err != nil {
			return err
		}
		b.Color, b.LineStyle.Width, b.Offset = d.c, 0, vg.Length(2*i-1)*w/2
		lat.Add(b)
		lat.Legend.Add(d.name, b)
	}
	lat.Legend.Top, lat.Legend.Left = true, true
	lat.NominalX(names...)

	title := fmt.Sprintf("latch bench: %s, %d instance(s), alg %s", rep.Started.Format("2006-01-02"), rep.Instances, rep.Alg)
	whoami.Title.Text += "\n" + title

	img, err := draw.NewFormattedCanvas(27*vg.Centimeter, 9*vg.Centimeter, format)
	if err != nil {
		return err
	}
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: 3, PadX: vg.Millimeter * 4, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2,
		PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	plots := [][]*plot.Plot{{whoami, rates, lat}}
	canvases := plot.Align(plots, tiles, dc)
	for i, p := range plots[0] {
		p.Draw(canvases[0][i])
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := img.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func loginRate(d Design) float64 {
	if d.Logins == nil {
		return 0
	}
	return d.Logins.PerSec
}

// bars adds one bar per value, each its own colour, named on the X axis.
func bars(p *plot.Plot, w vg.Length, names []string, vals []float64, cols []color.Color) error {
	for i, v := range vals {
		vs := make(plotter.Values, len(vals))
		vs[i] = v
		b, err := plotter.NewBarChart(vs, w*2)
		if err != nil {
			return err
		}
		b.Color, b.LineStyle.Width = cols[i], 0
		p.Add(b)
	}
	p.NominalX(names...)
	// The values written above the bars: logins/s are too small beside
	// refreshes/s to read off the axis.
	xys := make(plotter.XYs, len(vals))
	labels := make([]string, len(vals))
	for i, v := range vals {
		xys[i] = plotter.XY{X: float64(i), Y: v}
		labels[i] = fmt.Sprintf("%.0f", v)
	}
	l, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
	if err != nil {
		return err
	}
	for i := range l.TextStyle {
		l.TextStyle[i].XAlign = draw.XCenter
		l.TextStyle[i].YAlign = draw.YBottom
	}
	p.Add(l)
	return nil
}
