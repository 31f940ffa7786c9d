package latchbench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// client is the run's HTTP client for everything but the load itself.
type client struct{ hc *http.Client }

func newClient() *client {
	return &client{hc: &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 16, IdleConnTimeout: time.Minute},
		// Never follow: a redirect would be a misconfigured URL.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// user is an account the run signed up; its password is random.
type user struct {
	id, email, password string
}

// session is a session login's credential.
type session struct {
	cookieValue    string // the session cookie's value
	cookieHeader   string // the Cookie header a browser sends with it (session + CSRF cookies)
	setCookieBytes int    // every Set-Cookie header value of the login, summed
	csrf           string
}

// tokens is a token login's (or refresh's) credential.
type tokens struct {
	access, refresh, alg string
	expiresIn            int // seconds
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (c *client) do(ctx context.Context, method, url string, hdr http.Header, body any) (response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return response{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return response{}, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return response{status: res.StatusCode, header: res.Header, body: b}, err
}

// apiError describes an unexpected answer without echoing credentials.
func apiError(what string, res response) error {
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(res.body, &e)
	if e.Error != "" {
		return fmt.Errorf("%s: %d %s", what, res.status, e.Error)
	}
	return fmt.Errorf("%s: status %d", what, res.status)
}

func (c *client) signup(ctx context.Context, base, email string) (*user, error) {
	u := &user{email: email, password: "bench " + rand.Text()}
	res, err := c.do(ctx, "POST", base+"/v1/signup", nil, map[string]string{"email": u.email, "password": u.password})
	if err != nil {
		return nil, err
	}
	if res.status != http.StatusCreated {
		return nil, apiError("signup", res)
	}
	var body struct {
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	if err := json.Unmarshal(res.body, &body); err != nil || body.User.ID == "" {
		return nil, fmt.Errorf("signup: no user ID in the answer")
	}
	u.id = body.User.ID
	return u, nil
}

func (c *client) loginSession(ctx context.Context, base string, u *user) (*session, error) {
	res, err := c.do(ctx, "POST", base+"/v1/login", nil, map[string]string{"email": u.email, "password": u.password, "mode": "session"})
	if err != nil {
		return nil, err
	}
	if res.status != http.StatusOK {
		return nil, apiError("session login", res)
	}
	s := &session{}
	var pairs []string
	for _, sc := range res.header.Values("Set-Cookie") {
		s.setCookieBytes += len(sc)
		pair, _, _ := strings.Cut(sc, ";")
		name, value, _ := strings.Cut(pair, "=")
		pairs = append(pairs, pair)
		if strings.HasSuffix(name, "latch_session") {
			s.cookieValue = value
		}
	}
	if s.cookieValue == "" {
		return nil, fmt.Errorf("session login: no session cookie in the answer")
	}
	s.cookieHeader = strings.Join(pairs, "; ")
	var body struct {
		CSRF string `json:"csrf_token"`
	}
	if err := json.Unmarshal(res.body, &body); err != nil {
		return nil, fmt.Errorf("session login: %w", err)
	}
	s.csrf = body.CSRF
	return s, nil
}

func (c *client) loginToken(ctx context.Context, base string, u *user) (*tokens, error) {
	res, err := c.do(ctx, "POST", base+"/v1/login", nil, map[string]string{"email": u.email, "password": u.password,
		"mode": "token", "refresh_delivery": "body"})
	if err != nil {
		return nil, err
	}
	if res.status != http.StatusOK {
		return nil, apiError("token login", res)
	}
	return parseTokens("token login", res.body)
}

func parseTokens(what string, b []byte) (*tokens, error) {
	var body struct {
		Access  string `json:"access_token"`
		Refresh string `json:"refresh_token"`
		Expires int    `json:"expires_in"`
	}
	if err := json.Unmarshal(b, &body); err != nil || body.Access == "" {
		return nil, fmt.Errorf("%s: no access token in the answer", what)
	}
	t := &tokens{access: body.Access, refresh: body.Refresh, alg: jwtAlg(body.Access), expiresIn: body.Expires}
	return t, nil
}

// jwtAlg reads the alg of a JWT's header ("" when it does not decode).
func jwtAlg(tok string) string {
	head, _, _ := strings.Cut(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return ""
	}
	var h struct {
		Alg string `json:"alg"`
	}
	_ = json.Unmarshal(b, &h)
	return h.Alg
}

// status is the answer's status to a GET with hdr.
func (c *client) status(ctx context.Context, url string, hdr http.Header) (int, error) {
	res, err := c.do(ctx, "GET", url, hdr, nil)
	return res.status, err
}
