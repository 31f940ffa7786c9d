package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/latch-dev/latch"
)

// openAudit opens the audit trail of --audit-log: a file (appended to,
// created 0600), stderr, or off. Each security event is one JSON line.
func openAudit(cfg *Config, stderr io.Writer) (func(context.Context, latch.Event), func() error, error) {
	switch cfg.AuditLog {
	case "off":
		return nil, func() error { return nil }, nil
	case "stderr":
		return latch.AuditLogger(slog.New(slog.NewJSONHandler(stderr, nil))), func() error { return nil }, nil
	}
	f, err := os.OpenFile(cfg.AuditLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("--audit-log: %w", err)
	}
	return latch.AuditLogger(slog.New(slog.NewJSONHandler(f, nil))), f.Close, nil
}
