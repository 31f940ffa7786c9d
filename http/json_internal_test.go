package http

import (
	"encoding/json"
	"math/rand/v2"
	nethttp "net/http"
	"testing"
	"time"
)

// appendJSONString must produce JSON that decodes to what encoding/json's
// own encoding decodes to, for any input (invalid UTF-8 included).
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "a@example.com", `quote " and \ backslash`, "tab\tnew\nline\x00\x1f\x7f",
		"ünïcødé ☃ 会话", "\xff\xfe invalid", "\u2028\u2029", "<script>&amp;</script>", "ok\xc3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := appendJSONString(nil, s)
		var fromOurs, fromStd string
		if err := json.Unmarshal(got, &fromOurs); err != nil {
			t.Fatalf("appendJSONString(%q) = %s: not a JSON string: %v", s, got, err)
		}
		std, _ := json.Marshal(s)
		_ = json.Unmarshal(std, &fromStd)
		if fromOurs != fromStd {
			t.Fatalf("appendJSONString(%q) decodes to %q, encoding/json's to %q", s, fromOurs, fromStd)
		}
	})
}

func TestAppendJSONString(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", `""`},
		{"a@example.com", `"a@example.com"`},
		{`a"b\c`, `"a\"b\\c"`},
		{"\x00\n\x1f", `"\u0000\u000a\u001f"`},
		{"ünï ☃ \ufffd", "\"ünï ☃ \ufffd\""},
		{"x\xffy", "\"x\ufffdy\""},
		{"\u2028\u2029end", `"\u2028\u2029end"`},
		{"tail\xc3", "\"tail\ufffd\""},
		{"a-long-plain-run@example.com\x7f\"then\\more", "\"a-long-plain-run@example.com\x7f\\\"then\\\\more\""},
	} {
		if got := string(appendJSONString([]byte("pre:"), tt.in)); got != "pre:"+tt.want {
			t.Errorf("appendJSONString(%q) = %s, want pre:%s", tt.in, got, tt.want)
		}
	}
}

// appendTimestamp writes what time's RFC 3339 formatter writes, for the
// edge cases and for instants drawn across years 0-9999.
func TestAppendTimestamp(t *testing.T) {
	times := []time.Time{
		time.Date(2026, 11, 22, 18, 30, 5, 0, time.UTC),
		time.Date(2026, 11, 22, 18, 30, 5, 999_999_999, time.UTC),
		time.Date(2026, 11, 22, 20, 30, 5, 1, time.FixedZone("x", 2*3600)),
		time.Date(2027, 1, 1, 0, 30, 0, 0, time.FixedZone("y", 3600)), // the previous year in UTC
		time.Date(2024, 2, 29, 23, 59, 59, 0, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 500_000_000, time.UTC),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	r := rand.New(rand.NewPCG(8, 8))
	year0, year10000 := time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC).Unix(), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	for range 10_000 {
		times = append(times, time.Unix(year0+r.Int64N(year10000-year0), r.Int64N(1e9)))
	}
	for _, tm := range times {
		want := tm.UTC().Truncate(time.Second).Format(time.RFC3339)
		if got := string(appendTimestamp([]byte("pre:"), tm)); got != "pre:"+want {
			t.Errorf("appendTimestamp(%v) = %s, want pre:%s", tm, got, want)
		}
	}
}

// cookie must find what net/http's r.Cookie finds, and refuse what it refuses.
func TestCookie_MatchesNetHTTP(t *testing.T) {
	const name = "__Host-latch_session"
	for _, header := range []string{
		"", name + "=abc", "a=1; " + name + "=abc; b=2", name + `="quoted"`, name + "=", "x" + name + "=no",
		name + "=ünïcødé", name + "=has space", name + `=back\slash`, name + "=a,b", "  " + name + "=trimmed  ",
		name + "=first; " + name + "=second", "junk; ;;" + name + "=v", name + "=%00%0d%0a", name + "=' OR '1'='1",
	} {
		req, _ := nethttp.NewRequest("GET", "/", nil)
		if header != "" {
			req.Header.Set("Cookie", header)
		}
		want := ""
		if c, err := req.Cookie(name); err == nil {
			want = c.Value
		}
		if got := cookie(req, name); got != want {
			t.Errorf("Cookie: %q: cookie() = %q, net/http says %q", header, got, want)
		}
	}
}
