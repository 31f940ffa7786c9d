package latch

import (
	"context"
	"io"
)

// RandOf is the Service's source of secrets, for the test of its default.
func RandOf(s *Service) io.Reader { return s.rand }

// Janitor runs the janitor once, as its one-minute ticker does.
func Janitor(ctx context.Context, s *Service) error { return s.janitor(ctx) }

// Broadcast hands revs to the stream's followers, as following the log does.
func Broadcast(s *Service, revs []*Revocation) { s.broadcast(revs) }
