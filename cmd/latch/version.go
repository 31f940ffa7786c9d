package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// buildInfo is what `latch version` reports.
type buildInfo struct {
	Version  string `json:"version"`
	Commit   string `json:"commit"`
	Modified bool   `json:"modified"` // built from a work tree with uncommitted changes
	Time     string `json:"commit_time,omitempty"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

// readBuildInfo takes the version from -ldflags "-X main.version=..." and
// the commit from what the Go toolchain stamps into binaries built in a
// git work tree (vcs.revision).
func readBuildInfo() buildInfo {
	b := buildInfo{Version: version, Commit: "unknown", Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if info, ok := debug.ReadBuildInfo(); ok {
		if b.Version == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			b.Version = info.Main.Version // go install module@version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Commit = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			case "vcs.time":
				b.Time = s.Value
			}
		}
	}
	return b
}

func versionCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:     "version",
		Short:   "print the version, the commit and the Go version",
		Example: "  latch version\n  latch version --json",
		Args:    args(),
	}
	asJSON := jsonFlag(c)
	c.RunE = runE(func(*cobra.Command, []string) error {
		b := readBuildInfo()
		return emit(a.stdout, *asJSON, b, func(w io.Writer) error {
			commit := b.Commit
			if b.Modified {
				commit += " (modified)"
			}
			_, err := fmt.Fprintf(w, "latch %s\ncommit %s\n%s %s\n", b.Version, commit, b.Go, b.Platform)
			return err
		})
	})
	return c
}
