package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"mime"
	nethttp "net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/latch-dev/latch"
)

// The fuzz targets of the readers that see attacker bytes before anything
// is authenticated. Each checks a property against an independent reading
// (the standard library, or a plain restatement of the rule), not only
// that nothing panics.

// FuzzBearerToken: a token is read only from a first Authorization header
// of the form "Bearer <token>" (scheme in any case); it comes back without
// surrounding white space, is never empty, and is exactly the text after the
// scheme.
func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"Bearer abc.def.ghi", "bearer  tok ", "BEARER x", "Basic dXNlcjpwYXNz", "Bearer", "Bearer ",
		"Bearer\tx", "Bearerx y", " Bearer x", "Bearer a b", "Bearer \x00", "Bearer ab\r\n"} {
		f.Add(s, "")
	}
	f.Add("Basic x", "Bearer y")
	f.Fuzz(func(t *testing.T, first, second string) {
		r := httptest.NewRequest("GET", "/v1/whoami", nil)
		r.Header["Authorization"] = []string{first, second}
		tok, ok := bearerToken(r)
		scheme, rest, found := strings.Cut(first, " ")
		want := strings.TrimSpace(rest)
		wantOK := found && strings.EqualFold(scheme, "bearer") && want != ""
		if ok != wantOK || (ok && tok != want) {
			t.Fatalf("bearerToken(%q) = %q, %v; want %q, %v", first, tok, ok, want, wantOK)
		}
		if ok && (tok != strings.TrimSpace(tok) || !strings.Contains(first, tok)) {
			t.Fatalf("bearerToken(%q) = %q: not trimmed text of the header", first, tok)
		}
		if !ok && tok != "" {
			t.Fatalf("bearerToken(%q) refused but returned %q", first, tok)
		}
	})
}

// FuzzCookie: cookie is a faster r.Cookie. Whatever value it returns for
// a name, net/http returns too (the two parsers never disagree about which
// session a request carries), and it is a valid cookie value.
func FuzzCookie(f *testing.F) {
	for _, s := range []string{
		"latch_session=abc", "a=b; latch_session=abc; c=d", `latch_session="quoted"`, "latch_session=", "latch_session",
		"latch_session=a b", "latch_session=a\x01b", "latch_session=bad\\; latch_session=good", " latch_session = x ",
		"\u00a0latch_session=x", "latch_session=x;latch_session=y", `latch_session="`, "latch_session=é",
	} {
		f.Add(s, "")
	}
	f.Add("a=b", "latch_session=second-line")
	f.Fuzz(func(t *testing.T, line1, line2 string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header["Cookie"] = []string{line1, line2}
		got := cookie(r, "latch_session")
		if got == "" || strings.Count(line1+line2, ";")+2 > 3000 { // net/http then reads none (httpcookiemaxnum)
			return
		}
		if !validCookieValue(got) {
			t.Fatalf("cookie(%q, %q) = %q: not a valid cookie value", line1, line2, got)
		}
		c, err := r.Cookie("latch_session")
		if err != nil || c.Value != got {
			t.Fatalf("cookie(%q, %q) = %q, net/http reads %v, %v", line1, line2, got, c, err)
		}
	})
}

// The request bodies of the JSON endpoints, as their handlers declare
// them (account.go, admin.go, tokens.go, passkey.go).
type (
	fuzzSignup struct {
		Email    *string `json:"email" latch:"required"`
		Password *string `json:"password" latch:"required"`
	}
	fuzzLogin struct {
		Email           *string `json:"email" latch:"required"`
		Password        *string `json:"password" latch:"required"`
		Mode            string  `json:"mode"`
		RefreshDelivery string  `json:"refresh_delivery"`
	}
	fuzzChangePassword struct {
		Current *string `json:"current_password" latch:"required"`
		New     *string `json:"new_password" latch:"required"`
	}
	fuzzRole struct {
		Role *string `json:"role" latch:"required"`
	}
	fuzzRefresh struct {
		RefreshToken *string `json:"refresh_token"`
	}
	fuzzPasskeyLogin struct { // passkey.go
		Credential      *json.RawMessage `json:"credential" latch:"required"`
		Mode            string           `json:"mode"`
		RefreshDelivery string           `json:"refresh_delivery"`
	}
	fuzzMFAPasskey struct {
		Token      *string          `json:"mfa_token" latch:"required"`
		Credential *json.RawMessage `json:"credential" latch:"required"`
	}
	fuzzPasskeyRemoval struct {
		Current string `json:"current_password"`
	}
)

// fuzzBodies are the decoders' targets with their allowEmpty flags.
var fuzzBodies = []struct {
	new        func() any
	allowEmpty bool
}{
	{func() any { return &fuzzSignup{} }, false},
	{func() any { return &fuzzLogin{} }, false},
	{func() any { return &fuzzChangePassword{} }, false},
	{func() any { return &fuzzRole{} }, false},
	{func() any { return &fuzzRefresh{} }, true},
	{func() any { return &struct{}{} }, true},
	{func() any { return &fuzzPasskeyLogin{} }, false},
	{func() any { return &fuzzMFAPasskey{} }, false},
	{func() any { return &fuzzPasskeyRemoval{} }, true},
}

// FuzzDecodeJSON: a body decodeJSON accepts is one the strict rules accept
// when checked independently: a media type of application/json, valid
// JSON with nothing after the object (json.Valid), no key repeated at any
// level, every top-level key exactly a field name (no case folding), every
// required field present, and encoding/json with DisallowUnknownFields
// decodes it to the same value; re-encoding that value gives back the
// body's own fields. An empty body passes only where allowed.
func FuzzDecodeJSON(f *testing.F) {
	for i, s := range []string{
		`{"email":"a@example.com","password":"pw"}`, `{"email":"a@example.com","password":"pw","mode":"token"}`,
		`{"current_password":"a","new_password":"b"}`, `{"role":"admin"}`, `{"refresh_token":"x"}`, `{}`, ``, ` `,
		`{"email":"a","email":"b","password":"c"}`, `{"Email":"a","password":"b"}`, `{"paſſword":"a","email":"b"}`,
		`{"email":"a","password":"b"} {}`, `{"email":"a","password":"b","x":{"y":1,"y":2}}`, `{"email":null,"password":"b"}`,
		`{"refresh_token":"\ud800"}`, `{"email":"a\u0000","password":"\xff"}`, `[]`, `null`, `{"role":["a"]}`,
		`{"credential":{"id":"x","response":{"a":1,"a":2}},"mode":"token"}`, `{"mfa_token":"t","credential":null}`,
		`{"current_password":"pw"}`,
	} {
		f.Add(uint8(i), "application/json", []byte(s))
	}
	f.Add(uint8(0), "application/json; charset=utf-8", []byte(`{"email":"a","password":"b"}`))
	f.Add(uint8(4), "", []byte(``))
	f.Add(uint8(3), "text/plain", []byte(`{"role":"a"}`))
	f.Fuzz(func(t *testing.T, which uint8, ct string, body []byte) {
		kind := fuzzBodies[int(which)%len(fuzzBodies)]
		r := httptest.NewRequest("POST", "/", bytes.NewReader(body))
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		dst := kind.new()
		err := decodeJSON(httptest.NewRecorder(), r, dst, kind.allowEmpty)
		if err != nil {
			if !errors.Is(err, latch.ErrInvalidRequest) && !errors.Is(err, errMediaType) && !errors.Is(err, errBodyTooLarge) {
				t.Fatalf("decodeJSON error %v is none of the documented ones", err)
			}
			return
		}
		if len(bytes.TrimSpace(body)) == 0 {
			if !kind.allowEmpty || !reflect.ValueOf(dst).Elem().IsZero() {
				t.Fatalf("empty body accepted for %T (allowEmpty %v) or changed dst", dst, kind.allowEmpty)
			}
			return
		}
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			t.Fatalf("accepted Content-Type %q", ct)
		}
		if len(body) > maxBody || !json.Valid(body) {
			t.Fatalf("accepted a body that is not one JSON value of at most 64 KiB: %q", body)
		}
		if key, dup := duplicateKey(body); dup {
			t.Fatalf("accepted %q with the key %q repeated", body, key)
		}
		var top map[string]json.RawMessage
		if err := json.Unmarshal(body, &top); err != nil || top == nil {
			t.Fatalf("accepted %q, which is not a JSON object", body)
		}
		names := fieldNames(dst)
		for k := range top {
			if !names[k] {
				t.Fatalf("accepted %q with the key %q, not exactly a field of %T", body, k, dst)
			}
		}
		rv := reflect.ValueOf(dst).Elem()
		for i := range rv.NumField() {
			name, _, _ := strings.Cut(rv.Type().Field(i).Tag.Get("json"), ",")
			if rv.Type().Field(i).Tag.Get("latch") == "required" && rv.Field(i).IsNil() {
				t.Fatalf("accepted %q without the required %q", body, name)
			}
		}
		std := kind.new()
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(std); err != nil {
			t.Fatalf("accepted %q, which encoding/json with DisallowUnknownFields refuses: %v", body, err)
		}
		if !reflect.DeepEqual(std, dst) {
			t.Fatalf("decodeJSON(%q) = %+v, encoding/json = %+v", body, dst, std)
		}
		re, err := json.Marshal(dst)
		if err != nil {
			t.Fatal(err)
		}
		var again map[string]any
		if err := json.Unmarshal(re, &again); err != nil {
			t.Fatal(err)
		}
		for k, raw := range top {
			var orig any
			if err := json.Unmarshal(raw, &orig); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(orig, again[k]) {
				t.Fatalf("field %q: body has %#v, re-encoding %#v", k, orig, again[k])
			}
		}
	})
}

// duplicateKey reports a key that appears twice in one object of the JSON
// text b, at any depth, comparing names exactly (after unescaping).
func duplicateKey(b []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	type frame struct {
		obj    bool
		keys   map[string]bool
		expect bool // an object's next string is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{':
				if top != nil && top.obj {
					top.expect = true
				}
				stack = append(stack, &frame{obj: true, keys: map[string]bool{}, expect: true})
			case '[':
				if top != nil && top.obj {
					top.expect = true
				}
				stack = append(stack, &frame{})
			default:
				stack = stack[:len(stack)-1]
			}
			continue
		}
		if top == nil || !top.obj {
			continue
		}
		if top.expect {
			k := tok.(string)
			if top.keys[k] {
				return k, true
			}
			top.keys[k] = true
			top.expect = false
		} else {
			top.expect = true
		}
	}
}

// FuzzFormToken: the OAuth endpoints (RFC 7009, 7662) read their token
// from an application/x-www-form-urlencoded body only. An accepted token is
// the first "token" value the standard query parser finds in the body,
// never empty, never from the query string, and the body is within 64 KiB.
func FuzzFormToken(f *testing.F) {
	for _, s := range []string{"token=abc", "token=a&token=b", "token=", "x=1", "token=%zz", "token=a%26b&token_type_hint=refresh_token",
		"token=a;b", "token=+a+", "&&token=x&&", "token=%00"} {
		f.Add("application/x-www-form-urlencoded", "", s)
	}
	f.Add("application/x-www-form-urlencoded; charset=utf-8", "token=q", "token=b")
	f.Add("application/json", "", `{"token":"x"}`)
	f.Add("multipart/form-data; boundary=x", "token=q", "--x\r\nContent-Disposition: form-data; name=\"token\"\r\n\r\nv\r\n--x--\r\n")
	f.Fuzz(func(t *testing.T, ct, query, body string) {
		r := httptest.NewRequest("POST", "/oauth/revoke", strings.NewReader(body))
		if q, err := url.ParseQuery(query); err == nil {
			r.URL.RawQuery = q.Encode()
		}
		r.Header.Set("Content-Type", ct)
		tok, err := formToken(httptest.NewRecorder(), r)
		if err != nil {
			if !errors.Is(err, latch.ErrInvalidRequest) && !errors.Is(err, errMediaType) && !errors.Is(err, errBodyTooLarge) {
				t.Fatalf("formToken error %v is none of the documented ones", err)
			}
			return
		}
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/x-www-form-urlencoded" {
			t.Fatalf("accepted Content-Type %q", ct)
		}
		form, err := url.ParseQuery(body)
		if err != nil || len(body) > maxBody {
			t.Fatalf("accepted a body the standard parser refuses (%v) or over 64 KiB", err)
		}
		if tok == "" || tok != form.Get("token") {
			t.Fatalf("formToken = %q, the body's token is %q", tok, form.Get("token"))
		}
	})
}

// FuzzPageForm: the pages' form posts. parseForm accepts what the standard
// parser accepts and nothing over maxFormBytes; the "next" field of the
// login form only ever becomes a redirect to a path of this origin
// (resolved against the page URL, as a browser does, it keeps scheme and
// host), never an open redirect.
func FuzzPageForm(f *testing.F) {
	for _, s := range []string{
		"email=a%40example.com&password=x&next=%2Faccount", "next=//evil.example", "next=/%5Cevil.example", "next=https://evil.example/",
		"next=/%09/evil.example", "next=/a?b=c#d", "next=%2F%2Fevil", "next=/@evil.example", "next=/..//evil", "csrf=a&id=b&current_password=c&new_password=d",
		"next=javascript:alert(1)", "next=/%2F/evil", "next=/a:b", "next=\\\\evil", "a=%zz",
	} {
		f.Add(s)
	}
	page, _ := url.Parse("https://latch.example/login")
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest("POST", "/login", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		err := parseForm(httptest.NewRecorder(), r)
		want, werr := url.ParseQuery(body)
		switch {
		case err != nil && !errors.Is(err, latch.ErrInvalidRequest):
			t.Fatalf("parseForm error %v is not ErrInvalidRequest", err)
		case err == nil && (werr != nil || len(body) > maxFormBytes):
			t.Fatalf("parseForm accepted %q (standard parser: %v; %d bytes)", body, werr, len(body))
		case err == nil && !reflect.DeepEqual(map[string][]string(r.PostForm), map[string][]string(want)):
			t.Fatalf("parseForm read %v, the standard parser %v", r.PostForm, want)
		}
		for _, v := range want["next"] {
			checkNext(t, page, v)
		}
		checkNext(t, page, body)
	})
}

// checkNext checks safeNext(v) on its own: "" or v itself, a path that,
// resolved against the page, stays on the page's origin.
func checkNext(t *testing.T, page *url.URL, v string) {
	t.Helper()
	got := safeNext(v)
	if got == "" {
		return
	}
	if got != v {
		t.Fatalf("safeNext(%q) = %q: changed the value", v, got)
	}
	ref, err := url.Parse(got)
	if err != nil {
		t.Fatalf("safeNext(%q) passed what net/url refuses: %v", v, err)
	}
	abs := page.ResolveReference(ref)
	if abs.Scheme != page.Scheme || abs.Host != page.Host || abs.User != nil || !strings.HasPrefix(abs.Path, "/") {
		t.Fatalf("safeNext(%q) passed a redirect to %s", v, abs)
	}
	// What a browser does before parsing: it strips tabs and newlines and
	// reads a backslash as a slash. None may turn the path into "//host".
	b := strings.NewReplacer("\t", "", "\n", "", "\r", "", "\\", "/").Replace(got)
	if strings.HasPrefix(b, "//") || strings.ContainsAny(got, "\x00\x7f") {
		t.Fatalf("safeNext(%q) passed what a browser reads as another host", v)
	}
	// A location header must stay one header line.
	rec := httptest.NewRecorder()
	nethttp.Redirect(rec, httptest.NewRequest("POST", "/login", nil), got, nethttp.StatusSeeOther)
	if loc := rec.Header().Get("Location"); strings.ContainsAny(loc, "\r\n") {
		t.Fatalf("safeNext(%q) gives a Location header with a line break", v)
	}
}
