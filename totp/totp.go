// Package totp computes RFC 6238 one-time codes and otpauth:// URLs with
// github.com/pquerna/otp, and draws the QR code that carries such a URL as
// SVG with github.com/boombuler/barcode (which pquerna/otp uses too), so
// that the page showing it needs no image service and no data: URL.
package totp

import (
	"encoding/base32"
	"fmt"
	"strings"
	"time"

	"github.com/boombuler/barcode/qr"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/latch-dev/latch"
)

var _ latch.TOTPCodes = Codes{}

// Codes implements latch.TOTPCodes: SHA-1, 6 digits, 30-second steps, the
// parameters every authenticator app assumes.
type Codes struct{}

var opts = totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// encoding is how the apps type secrets: base32 without padding.
var encoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// Code implements latch.TOTPCodes.
func (Codes) Code(secret []byte, t time.Time) (string, error) {
	code, err := totp.GenerateCodeCustom(encoding.EncodeToString(secret), t, opts)
	if err != nil {
		return "", fmt.Errorf("totp: %w", err)
	}
	return code, nil
}

// KeyURL implements latch.TOTPCodes.
func (Codes) KeyURL(issuer, account string, secret []byte) (string, string, error) {
	k, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: account, Secret: secret,
		Period: opts.Period, Digits: opts.Digits, Algorithm: opts.Algorithm})
	if err != nil {
		return "", "", fmt.Errorf("totp: %w", err)
	}
	return k.URL(), k.Secret(), nil
}

// QRCodeSVG draws text as a QR code (error correction M) in SVG: one path
// of unit squares on a white square with the four-module quiet zone the
// standard asks for, scaled by whoever shows it. The markup holds nothing
// from text but the modules, so it is safe to put in a page as is.
func QRCodeSVG(text string) (string, error) {
	code, err := qr.Encode(text, qr.M, qr.Auto)
	if err != nil {
		return "", fmt.Errorf("totp: QR code: %w", err)
	}
	n := code.Bounds().Dx()
	const quiet = 4
	size := n + 2*quiet
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" shape-rendering="crispEdges" role="img" aria-label="QR code of the authenticator setup link">`, size, size)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, size, size)
	for y := range n {
		for x := range n {
			if r, _, _, _ := code.At(x, y).RGBA(); r < 0x8000 {
				fmt.Fprintf(&b, "M%d %dh1v1h-1z", x+quiet, y+quiet)
			}
		}
	}
	b.WriteString(`"/></svg>`)
	return b.String(), nil
}
