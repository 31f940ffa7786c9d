package latch

import "time"

// AuthTime is when the login behind the caller's credential happened: the
// start of the cookie session, or the token's auth_time (zero for a token
// issued before latch carried it).
func (p *Principal) AuthTime() time.Time {
	if p.Method == KindSession && p.Session != nil {
		return p.Session.CreatedAt
	}
	if p.Claims != nil {
		return p.Claims.AuthTime
	}
	return time.Time{}
}

// AMR is how the login behind the caller's credential authenticated (RFC
// 8176 values).
func (p *Principal) AMR() []string {
	if p.Method == KindSession && p.Session != nil {
		return p.Session.AMR
	}
	if p.Claims != nil {
		return p.Claims.AMR
	}
	return nil
}

// requireRecentAuth is the step-up rule of API.md §8: a sensitive change
// (password, email, second factors) needs a login within ReauthWindow.
func (s *Service) requireRecentAuth(p *Principal) error {
	at := p.AuthTime()
	if at.IsZero() || s.now().Sub(at) > s.cfg.ReauthWindow {
		return ErrReauthRequired
	}
	return nil
}
