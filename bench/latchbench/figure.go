package latchbench

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	fx "golang.org/x/image/math/fixed"
)

// figure is a drawing of filled rectangles and lines of text on a w×h
// canvas, in pixels with y downwards. Plot lays the chart out once as a
// figure and writes it as SVG or as PNG, so both show the same thing.
type figure struct {
	w, h  int
	boxes []box
	texts []text
}

// box is a filled rectangle: a bar, an axis, a tick, a legend's swatch.
type box struct {
	x, y, w, h int
	fill       color.RGBA
}

// text is one line in ink, size pixels high, with its baseline through
// (x, y) and x at its start, middle or end; an upright one reads from the
// bottom up, its baseline vertical through x.
type text struct {
	x, y, size int
	anchor     anchor
	upright    bool
	s          string
}

type anchor int

const (
	start anchor = iota
	middle
	end
)

func (f *figure) box(x, y, w, h int, fill color.RGBA) {
	f.boxes = append(f.boxes, box{x: x, y: y, w: w, h: h, fill: fill})
}

func (f *figure) write(x, y, size int, a anchor, s string) {
	f.texts = append(f.texts, text{x: x, y: y, size: size, anchor: a, s: s})
}

// writeUp writes s centred on (x, y), reading upwards (an axis's label).
func (f *figure) writeUp(x, y, size int, s string) {
	f.texts = append(f.texts, text{x: x, y: y, size: size, anchor: middle, upright: true, s: s})
}

// writeSVG writes f as an SVG document; the viewer's sans-serif font sets
// the text.
func (f *figure) writeSVG(b *bytes.Buffer) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %[1]d %[2]d" font-family="sans-serif">`+"\n", f.w, f.h)
	for _, r := range f.boxes {
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="#%02x%02x%02x"/>`+"\n", r.x, r.y, r.w, r.h, r.fill.R, r.fill.G, r.fill.B)
	}
	for _, t := range f.texts {
		if t.upright {
			fmt.Fprintf(b, `<text transform="translate(%d %d) rotate(-90)"`, t.x, t.y)
		} else {
			fmt.Fprintf(b, `<text x="%d" y="%d"`, t.x, t.y)
		}
		fmt.Fprintf(b, ` font-size="%d"%s>`, t.size, [...]string{"", ` text-anchor="middle"`, ` text-anchor="end"`}[t.anchor])
		escapeXML(b, t.s)
		b.WriteString("</text>\n")
	}
	b.WriteString("</svg>\n")
}

// escapeXML writes s as XML character data: markup escaped, and the
// control characters XML 1.0 does not allow replaced (an algorithm's name
// comes from the server measured).
func escapeXML(b *bytes.Buffer, s string) {
	for _, r := range s {
		switch {
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r < 0x20 && r != '\t', r == 0xFFFE, r == 0xFFFF:
			b.WriteRune('\uFFFD')
		default:
			b.WriteRune(r)
		}
	}
}

// writePNG draws f and writes it as a PNG image, its text in the Go font
// (parsed here, on each call, not when the program starts).
func (f *figure) writePNG(w io.Writer) error {
	img := image.NewRGBA(image.Rect(0, 0, f.w, f.h))
	for _, r := range f.boxes {
		draw.Draw(img, image.Rect(r.x, r.y, r.x+r.w, r.y+r.h), image.NewUniform(r.fill), image.Point{}, draw.Over)
	}
	ttf, err := opentype.Parse(goregular.TTF)
	if err != nil {
		return err
	}
	faces := map[int]font.Face{}
	for _, t := range f.texts {
		face, ok := faces[t.size]
		if !ok {
			if face, err = opentype.NewFace(ttf, &opentype.FaceOptions{Size: float64(t.size), DPI: 72, Hinting: font.HintingFull}); err != nil {
				return err
			}
			faces[t.size] = face
		}
		drawText(img, face, t)
	}
	return png.Encode(w, img)
}

// drawText draws t onto dst in ink.
func drawText(dst draw.Image, face font.Face, t text) {
	wide := font.MeasureString(face, t.s).Ceil()
	ax := [...]int{0, wide / 2, wide}[t.anchor]
	ink := image.NewUniform(colInk)
	if !t.upright {
		d := font.Drawer{Dst: dst, Src: ink, Face: face, Dot: fx.P(t.x-ax, t.y)}
		d.DrawString(t.s)
		return
	}
	// Set horizontally into a mask, then turned a quarter anticlockwise:
	// the mask's (u, v) lands on (x + v - ascent, y + ax - u).
	m := face.Metrics()
	asc, desc := m.Ascent.Ceil(), m.Descent.Ceil()
	flat := image.NewAlpha(image.Rect(0, 0, wide, asc+desc))
	d := font.Drawer{Dst: flat, Src: image.Opaque, Face: face, Dot: fx.P(0, asc)}
	d.DrawString(t.s)
	up := image.NewAlpha(image.Rect(t.x-asc, t.y+ax-wide, t.x+desc, t.y+ax))
	for u := range wide {
		for v := range asc + desc {
			up.SetAlpha(t.x+v-asc, t.y+ax-1-u, flat.AlphaAt(u, v))
		}
	}
	draw.DrawMask(dst, up.Rect, ink, image.Point{}, up, up.Rect.Min, draw.Over)
}
