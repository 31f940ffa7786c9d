package amrcol_test

import (
	"slices"
	"testing"

	"github.com/latch-dev/latch/internal/amrcol"
)

func TestRoundTrip(t *testing.T) {
	for _, c := range []struct {
		amr []string
		src any
	}{
		{nil, ""},
		{[]string{"pwd"}, "pwd"},
		{[]string{"pwd", "otp", "mfa"}, []byte("pwd otp mfa")},
	} {
		if got := amrcol.Text(c.amr); got != string(toBytes(c.src)) {
			t.Errorf("Text(%v) = %q", c.amr, got)
		}
		got := []string{"stale"}
		if err := (amrcol.Dest{AMR: &got}).Scan(c.src); err != nil || !slices.Equal(got, c.amr) {
			t.Errorf("Scan(%v) = %v, %v; want %v", c.src, got, err, c.amr)
		}
	}
	var got []string
	if err := (amrcol.Dest{AMR: &got}).Scan(int64(3)); err == nil {
		t.Error("Scan of an integer: no error")
	}
}

func toBytes(v any) []byte {
	if s, ok := v.(string); ok {
		return []byte(s)
	}
	return v.([]byte)
}
