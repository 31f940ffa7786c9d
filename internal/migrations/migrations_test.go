package migrations_test

import (
	"testing"
	"testing/fstest"

	"github.com/latch-dev/latch/internal/migrations"
)

func TestLoad(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	for _, c := range []struct {
		name    string
		fs      fstest.MapFS
		want    []int
		wantErr bool
	}{
		{"in order", fstest.MapFS{"m/0002_b.sql": file("B"), "m/0001_a.sql": file("A")}, []int{1, 2}, false},
		{"none", fstest.MapFS{}, nil, false},
		{"gap", fstest.MapFS{"m/0001_a.sql": file("A"), "m/0003_c.sql": file("C")}, nil, true},
		{"not from 1", fstest.MapFS{"m/0002_b.sql": file("B")}, nil, true},
		{"no number", fstest.MapFS{"m/init.sql": file("X")}, nil, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			ms, err := migrations.Load(c.fs, "m/*.sql")
			if (err != nil) != c.wantErr {
				t.Fatalf("Load: %v, want error %v", err, c.wantErr)
			}
			if len(ms) != len(c.want) {
				t.Fatalf("%d migrations, want %d", len(ms), len(c.want))
			}
			for i, m := range ms {
				if m.Version != c.want[i] || m.SQL == "" {
					t.Errorf("migration %d = %+v, want version %d with its SQL", i, m, c.want[i])
				}
			}
		})
	}
}
