package main

import (
	"fmt"
	"strings"
	"time"
)

// line is one series of a panel.
type line struct {
	key, label, color string
	dashed            bool
}

// panel is one chart of the plot; shared: one axis for every line (else
// each line is scaled to its own maximum, given in the legend).
type panel struct {
	title  string
	shared bool
	lines  []line
}

// plot draws the samples in three panels — memory, goroutines and open
// files, live state — over the time of the load, with the last half (the
// window of the trends) shaded and the fitted RSS line over it.
func plot(samples []sample, duration time.Duration) []byte {
	const w, ph, left, right, top, gap = 900.0, 170.0, 60.0, 210.0, 40.0, 40.0
	panels := []panel{
		{"memory (MiB)", true, []line{{"rss", "RSS", "#1f77b4", false}, {"heap", "Go heap in use", "#17becf", true},
			{"goal", "GC heap goal", "#08306b", true}}},
		{"goroutines, open files", true, []line{{"gor", "goroutines", "#d62728", false}, {"fds", "open files", "#7f7f7f", false}}},
		{"live state (each line to its own maximum)", false, []line{
			{"held", "credentials held", "#000000", false}, {"active", "live sessions+families", "#2ca02c", false},
			{"rows", "session rows", "#2ca02c", true}, {"spent", "spent refresh rows", "#9467bd", false},
			{"revset", "revocation set", "#ff7f0e", false}, {"revrows", "revocation rows", "#8c564b", true}}},
	}
	h := top + float64(len(panels))*(ph+gap)
	plotW := w - left - right
	maxT := max(duration.Seconds(), 1)
	for _, s := range samples {
		maxT = max(maxT, s.at.Seconds())
	}
	x := func(d time.Duration) float64 { return left + d.Seconds()/maxT*plotW }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="12">`+"\n", w, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/><text x="%.0f" y="20" font-size="14">latch soak, %v (shaded: the last half, over which the slopes are fitted)</text>`+"\n", left, duration)
	for i, p := range panels {
		y0 := top + float64(i)*(ph+gap) // the panel's top
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.0f" fill="#f0f0f0"/>`+"\n", x(duration/2), y0, x(duration)-x(duration/2), ph)
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-weight="bold">%s</text>`+"\n", left, y0-6, p.title)
		top := map[string]float64{}
		shared := 1.0
		for _, l := range p.lines {
			m := 1.0
			for _, s := range samples {
				m = max(m, s.v[l.key])
			}
			top[l.key] = m * 1.1
			shared = max(shared, m*1.1)
		}
		if p.shared {
			for k := range top {
				top[k] = shared
			}
			fmt.Fprintf(&b, `<text x="5" y="%.0f">%.0f</text>`+"\n", y0+10, shared)
		}
		fmt.Fprintf(&b, `<text x="5" y="%.0f">0</text>`+"\n", y0+ph)
		y := func(key string, v float64) float64 { return y0 + ph - v/top[key]*ph }
		for j, l := range p.lines {
			dash := ""
			if l.dashed {
				dash = ` stroke-dasharray="5,3"`
			}
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5"%s points="`, l.color, dash)
			for _, s := range samples {
				fmt.Fprintf(&b, "%.1f,%.1f ", x(s.at), y(l.key, s.v[l.key]))
			}
			b.WriteString("\"/>\n")
			label := l.label
			if !p.shared {
				label = fmt.Sprintf("%s (max %.0f)", l.label, top[l.key]/1.1)
			}
			ly := y0 + 12 + float64(j)*16
			fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="%s" stroke-width="2"%s/><text x="%.0f" y="%.0f">%s</text>`+"\n",
				w-right+10, ly-4, w-right+30, ly-4, l.color, dash, w-right+35, ly, label)
		}
		if i == 0 { // the fitted RSS line over the last half
			var rss metric
			for _, m := range series() {
				if m.key == "rss" {
					rss = m
				}
			}
			t := fit(samples, rss, duration/2)
			at := func(d time.Duration) float64 { return t.mean + t.perMin*(d.Minutes()-t.center) }
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black" stroke-width="1"/>`+"\n",
				x(t.from), y("rss", at(t.from)), x(t.to), y("rss", at(t.to)))
			fmt.Fprintf(&b, `<text x="%.0f" y="%.0f">RSS fit (black): %+.2f MiB/min</text>`+"\n", w-right+10, y0+12+float64(len(p.lines))*16, t.perMin)
		}
		fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="black"/>`+"\n", left, y0+ph, left+plotW, y0+ph)
		for m := 0.0; m <= maxT/60; m++ {
			fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle" font-size="10">%.0f</text>`+"\n", left+m*60/maxT*plotW, y0+ph+12, m)
		}
	}
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f">minutes</text>`+"\n", left+plotW/2, h-8)
	b.WriteString("</svg>\n")
	return []byte(b.String())
}
