package latchbench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// loadAvg is /proc/loadavg's first three fields ("" elsewhere).
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// storeOps sums the store operations latch counts in base's /metrics (the
// count of latch_store_operation_seconds: every call of a database or Redis
// store, by store and method); nil, with the reason, when it exposes none.
func (r *runner) storeOps(ctx context.Context, base string) (*float64, string) {
	res, err := r.c.do(ctx, "GET", base+"/metrics", nil, nil)
	if err != nil || res.status != http.StatusOK {
		return nil, fmt.Sprintf("not exposed: GET /metrics answered %d %v", res.status, err)
	}
	calls := StoreCalls(bytes.NewReader(res.body))
	if len(calls) == 0 {
		return nil, "not exposed: /metrics has no store operation count (latch_store_operation_seconds_count)"
	}
	var sum float64
	for _, v := range calls {
		sum += v
	}
	return &sum, "/metrics latch_store_operation_seconds_count, over the whoami rows"
}

// cleanup removes, or disables, the users the run made, and says what it did.
func (r *runner) cleanup(ctx context.Context) string {
	if len(r.users) == 0 {
		return "no users were made"
	}
	if r.opts.Started {
		return fmt.Sprintf("%d users made in the temporary database of the latch bench started; the database is removed with it", len(r.users))
	}
	base := r.opts.URLs[0]
	failed := 0
	for _, u := range r.users {
		if r.opts.AdminKey != "" {
			hdr := http.Header{"Authorization": {"Bearer " + r.opts.AdminKey}}
			a, err1 := r.c.do(ctx, "POST", base+"/v1/admin/users/"+u.id+"/revoke", hdr, nil)
			b, err2 := r.c.do(ctx, "POST", base+"/v1/admin/users/"+u.id+"/disable", hdr, nil)
			if err1 != nil || err2 != nil || a.status/100 != 2 || b.status/100 != 2 {
				failed++
			}
			continue
		}
		t, err := r.c.loginToken(ctx, base, u)
		if err != nil {
			failed++
			continue
		}
		res, err := r.c.do(ctx, "POST", base+"/v1/logout-all", http.Header{"Authorization": {"Bearer " + t.access}}, nil)
		if err != nil || res.status != http.StatusNoContent {
			failed++
		}
	}
	how := "their sessions and tokens revoked and the accounts disabled through the admin API (it deletes no account)"
	if r.opts.AdminKey == "" {
		how = "their sessions and tokens revoked by logout-all (without --admin-key the accounts stay, enabled)"
	}
	msg := fmt.Sprintf("%d users latch-bench-%s-*@example.com: %s; delete them with `latch user delete --user EMAIL --yes`", len(r.users), r.run, how)
	if failed > 0 {
		msg += fmt.Sprintf("; %d of them could not be cleaned up", failed)
	}
	return msg
}

// claims sets the seeds' claims beside what the run measured.
func claims(rep *Report, in *inProcess, accessTTL time.Duration) []Claim {
	ds, dj, dr := rep.Designs[0], rep.Designs[1], rep.Designs[2]
	size := func(d Design, prefix string) int {
		for _, s := range d.Sizes {
			if strings.HasPrefix(s.What, prefix) {
				return s.Bytes
			}
		}
		return 0
	}
	var out []Claim

	c := Claim{Claim: "session ID 20–40 bytes vs JWT 200–500 bytes", Values: map[string]float64{
		"cookie_value_bytes": float64(size(ds, "cookie value")), "cookie_header_bytes": float64(size(ds, "Cookie request header")),
		"refresh_token_bytes": float64(size(dr, "refresh token"))}}
	var algs []string
	for _, alg := range []string{"EdDSA", "ES256", "RS256", "HS256"} {
		n := size(dj, "access JWT, "+alg)
		where := ""
		if n == 0 {
			n, where = in.coldSize[alg], " (in process)"
		}
		c.Values["jwt_"+alg+"_bytes"] = float64(n)
		algs = append(algs, fmt.Sprintf("%s %d%s", alg, n, where))
	}
	c.Measured = fmt.Sprintf("session cookie value %d B (the whole Cookie header %d B); access JWT %s B; refresh token %d B",
		size(ds, "cookie value"), size(ds, "Cookie request header"), strings.Join(algs, ", "), size(dr, "refresh token"))
	out = append(out, c)

	out = append(out, Claim{Claim: "session = a store lookup per request, JWT = none",
		Measured: fmt.Sprintf("session store operations per whoami (in process): %.3f on the embedded default (sessions cached in process, idle deadlines written in batches), %.2f without the cache (a shared database without Redis; with Redis it is one Redis GET); access JWT %.3f. /metrics: %s",
			in.sessionOps, in.sessionOpsShared, in.tokenOps, ds.StoreOps.Source),
		Values: map[string]float64{"session_ops_embedded": in.sessionOps, "session_ops_uncached": in.sessionOpsShared, "jwt_ops": in.tokenOps}})

	delay := func(d Design, where string) string {
		for _, x := range d.Revocation {
			if strings.HasPrefix(x.Where, where) {
				if x.Rounds == 0 {
					return "not measured (" + x.Skipped + ")"
				}
				return fmt.Sprintf("p50 %.2f ms, max %.2f ms", x.P50, x.Max)
			}
		}
		return "not measured"
	}
	out = append(out, Claim{Claim: "session revocation is instant, JWT only at expiry",
		Measured: fmt.Sprintf("session logout → refused: same instance %s; another instance %s. A plain JWT: at expiry, up to %v (this server's access-token lifetime). latch's JWT: same instance %s; another instance %s; verifier following the stream %s",
			delay(ds, "same"), delay(ds, "instance 2"), accessTTL.Round(time.Minute), delay(dj, "same"), delay(dj, "instance 2"), delay(dj, "verifier")),
		Values: map[string]float64{"access_ttl_s": accessTTL.Seconds()}})

	out = append(out, Claim{Claim: "JWT server load is signature CPU",
		Measured: fmt.Sprintf("in process, per check: cold (a signature) EdDSA %.1f µs, ES256 %.1f µs, RS256 %.1f µs, HS256 %.1f µs; warm (latch's verified-token cache) %.2f µs; session lookup %.2f µs cached, %.1f µs from SQLite. Over HTTP: whoami %.0f/s by JWT vs %.0f/s by session",
			in.cold["EdDSA"]/1e3, in.cold["ES256"]/1e3, in.cold["RS256"]/1e3, in.cold["HS256"]/1e3, in.tokenWarm/1e3,
			in.sessionCached/1e3, in.sessionStore/1e3, dj.Whoami.PerSec, ds.Whoami.PerSec),
		Values: map[string]float64{"cold_eddsa_ns": in.cold["EdDSA"], "cold_es256_ns": in.cold["ES256"], "cold_rs256_ns": in.cold["RS256"],
			"cold_hs256_ns": in.cold["HS256"], "warm_ns": in.tokenWarm, "session_cached_ns": in.sessionCached, "session_sqlite_ns": in.sessionStore}})

	sc := Claim{Claim: "scaling sessions needs a shared store"}
	if rep.Scaling != nil {
		sc.Measured = fmt.Sprintf("session whoami on one instance %.0f/s, spread over %d instances %.0f/s (%.2f×), every instance accepting the same session from the shared store (same machine: the instances share its CPUs)",
			rep.Scaling.One.PerSec, rep.Instances, rep.Scaling.All.PerSec, rep.Scaling.All.PerSec/rep.Scaling.One.PerSec)
		sc.Values = map[string]float64{"one_per_sec": rep.Scaling.One.PerSec, "all_per_sec": rep.Scaling.All.PerSec}
	} else {
		sc.Measured = "not measured: needs two --url instances on a shared store (PostgreSQL + Redis); the embedded default is one instance by design"
	}
	out = append(out, sc)
	return out
}

// Print writes the report as text tables.
func Print(w io.Writer, rep *Report) error {
	fmt.Fprintf(w, "latch bench — %s\n", rep.Target)
	fmt.Fprintf(w, "%s, %d instance(s), alg %s; %s/%s, %d CPUs, load average at start %s; quick=%v\n\n",
		rep.Started.Format(time.RFC3339), rep.Instances, rep.Alg, rep.Machine.OS, rep.Machine.Arch, rep.Machine.CPUs, rep.Machine.LoadAvg, rep.Quick)
	for _, d := range rep.Designs {
		fmt.Fprintf(w, "== %s ==\n", d.Name)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, s := range d.Sizes {
			fmt.Fprintf(tw, "size: %s\t%d B\n", s.What, s.Bytes)
		}
		same := ""
		if d.SameAs != "" {
			same = " (the same request as " + d.SameAs + ")"
		}
		fmt.Fprintf(tw, "whoami closed-loop, %d workers%s\t%s\n", d.Whoami.Workers, same, loadLine(d.Whoami))
		for _, o := range d.Open {
			fmt.Fprintf(tw, "whoami open-loop at %.0f/s (%.0f %% of max)\t%s\n", o.Rate, o.Fraction*100, loadLine(o))
			if st := o.Server; st != nil {
				fmt.Fprintf(tw, "  the same, as latch timed them (/metrics)\t%.0f over 10 ms, %.0f over 2.5 ms, of %.0f requests\n", st.Over10ms, st.Over2ms5, st.Requests)
			} else {
				fmt.Fprintf(tw, "  the same, as latch timed them (/metrics)\tnot exposed\n")
			}
		}
		if d.StoreOps.HTTP != nil {
			fmt.Fprintf(tw, "store operations per request (/metrics)\t%.3f\n", *d.StoreOps.HTTP)
		} else {
			fmt.Fprintf(tw, "store operations per request (/metrics)\t%s\n", d.StoreOps.Source)
		}
		fmt.Fprintf(tw, "store operations per request (in process)\t%.3f: %s\n", d.StoreOps.InProcess, d.StoreOps.InProcessOf)
		if d.Logins != nil {
			fmt.Fprintf(tw, "logins, closed-loop, %d workers\t%s\n", d.Logins.Workers, loadLine(*d.Logins))
		}
		if d.Refreshes != nil {
			fmt.Fprintf(tw, "refreshes (rotations), closed-loop, %d families\t%s\n", d.Refreshes.Workers, loadLine(*d.Refreshes))
		}
		for _, x := range d.Revocation {
			if x.Rounds == 0 {
				fmt.Fprintf(tw, "revocation delay: %s\tnot measured: %s\n", x.Where, x.Skipped)
				continue
			}
			line := fmt.Sprintf("p50 %.2f ms  p99 %.2f ms  max %.2f ms  (%d rounds)", x.P50, x.P99, x.Max, x.Rounds)
			if x.Skipped != "" {
				line += "; stopped: " + x.Skipped
			}
			fmt.Fprintf(tw, "revocation delay: %s\t%s\n", x.Where, line)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	if rep.Scaling != nil {
		fmt.Fprintf(w, "== scaling (session whoami) ==\none instance: %s\nevery instance: %s\n\n", loadLine(rep.Scaling.One), loadLine(rep.Scaling.All))
	}
	fmt.Fprintln(w, "== the claims ==")
	for _, c := range rep.Claims {
		fmt.Fprintf(w, "- %q\n    %s\n", c.Claim, c.Measured)
	}
	fmt.Fprintf(w, "\ncleanup: %s\n", rep.Cleanup)
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	return nil
}

func loadLine(l Load) string {
	s := fmt.Sprintf("%.0f/s  p50 %.2f ms  p99 %.2f ms  p99.9 %.2f ms  (%d requests, %.1f %% ok)",
		l.PerSec, l.P50, l.P99, l.P999, l.Requests, l.Success*100)
	if l.Shed > 0 {
		s += fmt.Sprintf(", %.1f %% shed (429)", l.Shed*100)
	}
	if l.Success+l.Shed < 1 && len(l.Errors) > 0 {
		s += " errors: " + strings.Join(l.Errors, "; ")
	}
	return s
}
