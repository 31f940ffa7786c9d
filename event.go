package latch

import (
	"context"
	"log/slog"
	"time"
)

// EventKind names a security event.
type EventKind string

// The security events the Service reports (Deps.OnEvent). Each is one line
// of the audit trail and feeds the metrics.
const (
	EventSignup          EventKind = "signup"
	EventLogin           EventKind = "login"            // Outcome: success, or the reason it failed
	EventLogout          EventKind = "logout"           // one session or refresh family
	EventLogoutAll       EventKind = "logout_all"       // every session, family and token of the user
	EventSessionRevoke   EventKind = "session_revoke"   // a device revoked by its user or by the session limit
	EventRefresh         EventKind = "refresh"          // a rotation; Outcome success or why it failed
	EventRefreshReuse    EventKind = "refresh_reuse"    // a spent refresh token came back: the family is revoked
	EventTokenRevoke     EventKind = "token_revoke"     // RFC 7009 revocation of an access or refresh token
	EventPasswordChange  EventKind = "password_change"  // other sessions and families revoked
	EventRoleChange      EventKind = "role_change"      // Detail: the new role
	EventAccountDisable  EventKind = "account_disable"  // every credential revoked
	EventAccountEnable   EventKind = "account_enable"   //
	EventAccountDelete   EventKind = "account_delete"   // every credential revoked, the account removed
	EventRevocationAdded EventKind = "revocation_added" // Detail: the kind (jti, sid, sub); one per log entry
	EventAdminAPI        EventKind = "admin_api"        // a use of the admin API; Detail: method and route, Outcome: the status
	EventKeyRotate       EventKind = "key_rotate"       // a new signing key; Detail: its kid and algorithm

	EventPasswordResetRequested     EventKind = "password_reset_requested"     // Outcome: sent, or why not (unknown_account, disabled, rate_limited, error)
	EventPasswordReset              EventKind = "password_reset"               // every session, family and token revoked
	EventEmailVerificationRequested EventKind = "email_verification_requested" // a link to the current address
	EventEmailVerified              EventKind = "email_verified"               //
	EventEmailChangeRequested       EventKind = "email_change_requested"       // Outcome: sent, or email_taken (nothing reaches the requester)
	EventEmailChanged               EventKind = "email_changed"                //
	EventMailFailed                 EventKind = "mail_failed"                  // the outbox gave up on a mail; Detail: its kind
	EventTOTPEnabled                EventKind = "totp_enabled"                 // an authenticator confirmed; recovery codes issued
	EventTOTPDisabled               EventKind = "totp_disabled"                //
	EventRecoveryCodes              EventKind = "recovery_codes"               // a new set; the old one died
	EventRecoveryCodeUsed           EventKind = "recovery_code_used"           // Detail: how many are left
	EventPasskeyAdded               EventKind = "passkey_added"                // Detail: the passkey's name
	EventPasskeyRenamed             EventKind = "passkey_renamed"              // Detail: the new name
	EventPasskeyRemoved             EventKind = "passkey_removed"              // Detail: the passkey's name
	EventFactorsReset               EventKind = "factors_reset"                // every second factor removed by an operator
	EventPasskeyCloned              EventKind = "passkey_clone_suspected"      // a sign counter went backwards; the login was refused
)

// The outcomes of a login, as Event.Outcome.
const (
	OutcomeSuccess             = "success"
	OutcomeInvalidCredentials  = "invalid_credentials"
	OutcomeLocked              = "locked"
	OutcomeDisabled            = "disabled"
	OutcomeError               = "error"
	OutcomeEmailUnverified     = "email_unverified"
	OutcomeUnknownAccount      = "unknown_account"
	OutcomeRateLimited         = "rate_limited"
	OutcomeEmailTaken          = "email_taken"
	OutcomeMFARequired         = "mfa_required" // the password was right; a second factor is owed
	OutcomeInvalidSecondFactor = "invalid_second_factor"
)

// Event is one security event. It never holds a secret: no password,
// token, cookie or hash, only public handles (user ID, session ID).
type Event struct {
	Time      time.Time
	Kind      EventKind
	Outcome   string // success, or why not (EventLogin, EventRefresh)
	UserID    string // empty when unknown (a login to an unknown address)
	SessionID string // the session or refresh family concerned
	Detail    string // a role, a revocation kind, a count
	Request   RequestInfo
}

// RequestInfo is who asked: filled by the HTTP layer, carried in the
// context (WithRequestInfo), and copied into every Event of the request.
type RequestInfo struct {
	ID        string // the request ID, as logged and answered in X-Request-ID
	IP        string // the client address latch trusts (no X-Forwarded-For)
	UserAgent string
	Actor     string // who acted when not the user: "admin-api", "cli"
}

type requestInfoKey struct{}

// WithRequestInfo returns ctx carrying ri.
func WithRequestInfo(ctx context.Context, ri RequestInfo) context.Context {
	return context.WithValue(ctx, requestInfoKey{}, ri)
}

// RequestInfoFrom returns what WithRequestInfo put in ctx, or the zero value.
func RequestInfoFrom(ctx context.Context) RequestInfo {
	ri, _ := ctx.Value(requestInfoKey{}).(RequestInfo)
	return ri
}

// emit reports an event, stamped with the time and the request.
func (s *Service) emit(ctx context.Context, e Event) {
	e.Time = s.now().UTC()
	e.Request = RequestInfoFrom(ctx)
	s.onEvent(ctx, e)
}

// Record reports a security event raised outside the Service's own
// methods (a use of the admin API, a key rotation from the command line)
// through the same OnEvent, stamped like the others.
func (s *Service) Record(ctx context.Context, e Event) { s.emit(ctx, e) }

// AuditLogger returns an OnEvent that writes each event as one structured
// line through l (a JSON handler gives the audit trail an auditor reads):
// time, event, outcome, user, session, detail, IP, user agent, request ID
// and actor. Events carry no secret, so none can reach the log.
func AuditLogger(l *slog.Logger) func(context.Context, Event) {
	return func(ctx context.Context, e Event) {
		attrs := []slog.Attr{slog.String("event", string(e.Kind))}
		add := func(k, v string) {
			if v != "" {
				attrs = append(attrs, slog.String(k, v))
			}
		}
		add("outcome", e.Outcome)
		add("user_id", e.UserID)
		add("session_id", e.SessionID)
		add("detail", e.Detail)
		add("ip", e.Request.IP)
		add("user_agent", e.Request.UserAgent)
		add("request_id", e.Request.ID)
		add("actor", e.Request.Actor)
		r := slog.NewRecord(e.Time, slog.LevelInfo, "audit", 0)
		r.AddAttrs(attrs...)
		_ = l.Handler().Handle(ctx, r)
	}
}

// Events fans one event out to several consumers (the audit trail and the
// metrics, say); nil consumers are skipped.
func Events(consumers ...func(context.Context, Event)) func(context.Context, Event) {
	var cs []func(context.Context, Event)
	for _, c := range consumers {
		if c != nil {
			cs = append(cs, c)
		}
	}
	return func(ctx context.Context, e Event) {
		for _, c := range cs {
			c(ctx, e)
		}
	}
}
