package latch

import "io"

// RandOf is the Service's source of secrets, for the test of its default.
func RandOf(s *Service) io.Reader { return s.rand }
