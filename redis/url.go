package redis

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	goredis "github.com/redis/go-redis/v9"
)

// ParseURL turns the URL forms documented at Open into the go-redis
// options Open connects with (before it sets its timeouts), without
// connecting: commands check a --redis URL with it before they start.
//
// It is hand-written because net/url rejects the comma-separated host
// lists of the Sentinel and Cluster forms. Its errors never echo a
// password: when the URL carries one (an '@' or a password parameter),
// they quote no part of it, since a password whose reserved characters
// were not percent-encoded may have ended up in any part.
func ParseURL(raw string) (*goredis.UniversalOptions, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, errors.New("redis: URL must start with redis://, redis+sentinel:// or redis+cluster://")
	}
	base, mode, _ := strings.Cut(scheme, "+")
	if base != "redis" && base != "rediss" || mode != "" && mode != "sentinel" && mode != "cluster" {
		return nil, fmt.Errorf("redis: unsupported URL scheme%s (want redis, redis+sentinel or redis+cluster; rediss for TLS)", shown(raw, scheme))
	}
	rest, rawQuery, _ := strings.Cut(rest, "?")
	authority, path, _ := strings.Cut(rest, "/")
	uo := &goredis.UniversalOptions{}
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		user, pass, _ := strings.Cut(authority[:at], ":")
		var err error
		if uo.Username, err = url.PathUnescape(user); err != nil {
			return nil, errors.New("redis: malformed user name in URL")
		}
		if uo.Password, err = url.PathUnescape(pass); err != nil {
			return nil, errors.New("redis: malformed password in URL")
		}
		authority = authority[at+1:]
	}
	defaultPort := "6379"
	if mode == "sentinel" {
		defaultPort = "26379"
	}
	for h := range strings.SplitSeq(authority, ",") {
		if h == "" {
			return nil, errors.New("redis: URL has an empty host")
		}
		addr, ok := hostPort(h, defaultPort)
		if !ok {
			return nil, fmt.Errorf("redis: bad address%s in URL (want HOST[:PORT], a port from 1 to 65535)", shown(raw, h))
		}
		uo.Addrs = append(uo.Addrs, addr)
	}
	if mode == "" && len(uo.Addrs) != 1 {
		return nil, errors.New("redis: redis:// takes one host; use redis+sentinel:// or redis+cluster:// for several")
	}
	if path = strings.Trim(path, "/"); path != "" {
		if mode == "cluster" {
			return nil, errors.New("redis: a Cluster has no database index")
		}
		db, err := strconv.Atoi(path)
		if err != nil || db < 0 {
			return nil, fmt.Errorf("redis: database index%s is not a number", shown(raw, path))
		}
		uo.DB = db
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, errors.New("redis: malformed URL query")
	}
	for k, v := range q {
		switch {
		case k == "master" && mode == "sentinel":
			uo.MasterName = v[len(v)-1]
		case k == "sentinel_password" && mode == "sentinel":
			uo.SentinelPassword = v[len(v)-1]
		default:
			return nil, fmt.Errorf("redis: unknown URL parameter%s", shown(raw, k))
		}
	}
	switch mode {
	case "sentinel":
		if uo.MasterName == "" {
			return nil, errors.New("redis: redis+sentinel:// needs ?master=NAME")
		}
	case "cluster":
		uo.IsClusterMode = true
	}
	if base == "rediss" {
		host, _, _ := net.SplitHostPort(uo.Addrs[0])
		uo.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	}
	return uo, nil
}

// shown is part, quoted and after a space, for an error about raw; or
// nothing when raw carries a password.
func shown(raw, part string) string {
	if strings.Contains(raw, "@") || strings.Contains(strings.ToLower(raw), "password") {
		return ""
	}
	return " " + strconv.Quote(part)
}

// hostPort is h with the default port added when it has none; false when
// h is no address.
func hostPort(h, defaultPort string) (string, bool) {
	host, port, err := net.SplitHostPort(h)
	if err != nil { // no port
		host, port = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"), defaultPort
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 || host == "" {
		return "", false
	}
	addr := net.JoinHostPort(host, port)
	if _, _, err := net.SplitHostPort(addr); err != nil { // "h]0": a stray bracket (FuzzParseURL)
		return "", false
	}
	return addr, true
}
