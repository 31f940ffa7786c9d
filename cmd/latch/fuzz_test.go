package main

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzValidateDB: --db validation accepts only the schemes this build
// opens, and its errors never echo a secret. The fuzzer picks the text
// around a secret carrying two markers; whenever the value could carry a
// password (an '@', or the word password, as in a libpq keyword DSN), no
// error may show either marker.
func FuzzValidateDB(f *testing.F) {
	for _, s := range [][2]string{
		{"postgres://u:", "@127.0.0.1:5432/db"}, {"postgresql://u:", "@h/db?sslmode=disable"}, {"postgres://u:", "@h/%zz"},
		{"mysql://u:", "@h/db"}, {"host=h user=u password=", " dbname=db"}, {"u:", "@h/db"}, {"sqlite:/tmp/", ".db"},
		{"postgres://u:", "@[::1/db"}, {"//u:", "@h"}, {"", "@h"}, {"memory", ":"},
	} {
		f.Add(s[0], "pw", s[1])
	}
	f.Fuzz(func(t *testing.T, before, middle, after string) {
		const m1, m2 = "Qx7SECRETk", "Zv3PASSj"
		for _, s := range []string{before, middle, after} {
			if strings.Contains(s, m1[:4]) || strings.Contains(s, m2[:4]) {
				return
			}
		}
		db := before + m1 + middle + m2 + after
		err := validateDB(db)
		if err == nil {
			switch {
			case strings.HasPrefix(db, "sqlite:") && len(db) > len("sqlite:"):
			case strings.HasPrefix(db, "postgres://"), strings.HasPrefix(db, "postgresql://"):
				if _, perr := url.Parse(db); perr != nil {
					t.Fatalf("validateDB(%q) accepted a URL net/url refuses: %v", db, perr)
				}
			default:
				t.Fatalf("validateDB(%q) accepted an unknown scheme", db)
			}
			return
		}
		msg := err.Error()
		carries := strings.Contains(db, "@") || strings.Contains(strings.ToLower(db), "password")
		if carries && (strings.Contains(msg, m1[:4]) || strings.Contains(msg, m2[:4])) {
			t.Fatalf("validateDB(%q) error shows the secret: %s", db, msg)
		}
	})
}
