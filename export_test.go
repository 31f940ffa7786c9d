package latch

import (
	"context"
	"io"
)

// RandOf is the Service's source of secrets, for the test of its default.
func RandOf(s *Service) io.Reader { return s.rand }

// Janitor runs the janitor once, as its one-minute ticker does.
func Janitor(ctx context.Context, s *Service) error { return s.janitor(ctx) }
