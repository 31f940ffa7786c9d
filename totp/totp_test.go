package totp_test

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/boombuler/barcode/qr"

	"github.com/latch-dev/latch/totp"
)

// RFC 6238 Appendix B, SHA-1 rows, cut to six digits as apps show them.
func TestCode_RFC6238Vectors(t *testing.T) {
	secret := []byte("12345678901234567890")
	for _, c := range []struct {
		unix int64
		want string
	}{
		{59, "287082"}, {1111111109, "081804"}, {1111111111, "050471"},
		{1234567890, "005924"}, {2000000000, "279037"}, {20000000000, "353130"},
	} {
		got, err := totp.Codes{}.Code(secret, time.Unix(c.unix, 0))
		if err != nil || got != c.want {
			t.Errorf("Code at %d = %q, %v; want %q", c.unix, got, err, c.want)
		}
	}
}

func TestKeyURL(t *testing.T) {
	u, secret, err := totp.Codes{}.KeyURL("auth.example.com", "ada@example.com", []byte("12345678901234567890"))
	if err != nil {
		t.Fatal(err)
	}
	if secret != "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" {
		t.Errorf("secret = %q", secret)
	}
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	q := p.Query()
	if p.Scheme != "otpauth" || p.Host != "totp" || q.Get("secret") != secret || q.Get("issuer") != "auth.example.com" ||
		q.Get("digits") != "6" || q.Get("period") != "30" || q.Get("algorithm") != "SHA1" ||
		!strings.Contains(p.Path, "ada@example.com") {
		t.Errorf("otpauth URL = %s", u)
	}
}

// The SVG draws exactly the modules of the QR code of its text, offset by
// the quiet zone.
func TestQRCodeSVG_drawsTheCode(t *testing.T) {
	text := "otpauth://totp/x:ada@example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=x"
	svg, err := totp.QRCodeSVG(text)
	if err != nil {
		t.Fatal(err)
	}
	want, err := qr.Encode(text, qr.M, qr.Auto)
	if err != nil {
		t.Fatal(err)
	}
	drawn := map[string]bool{}
	for _, m := range regexp.MustCompile(`M(\d+) (\d+)h1v1h-1z`).FindAllStringSubmatch(svg, -1) {
		x, _ := strconv.Atoi(m[1])
		y, _ := strconv.Atoi(m[2])
		drawn[fmt.Sprint(x-4, y-4)] = true
	}
	n, dark := want.Bounds().Dx(), 0
	for y := range n {
		for x := range n {
			r, _, _, _ := want.At(x, y).RGBA()
			if isDark := r < 0x8000; isDark != drawn[fmt.Sprint(x, y)] {
				t.Fatalf("module (%d,%d): drawn %v, dark %v", x, y, drawn[fmt.Sprint(x, y)], isDark)
			} else if isDark {
				dark++
			}
		}
	}
	if dark != len(drawn) || dark == 0 {
		t.Fatalf("%d modules drawn, %d dark", len(drawn), dark)
	}
	if !strings.Contains(svg, fmt.Sprintf(`viewBox="0 0 %d %d"`, n+8, n+8)) {
		t.Errorf("viewBox does not include the quiet zone: %.120s", svg)
	}
}
