package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
)

// maxBody is the largest request body accepted (API.md §2).
const maxBody = 64 << 10

// readBody reads the whole body within maxBody.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > maxBody {
		return nil, errBodyTooLarge
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, errBodyTooLarge
	}
	if err != nil {
		return nil, badRequest("the body could not be read")
	}
	return b, nil
}

// decodeJSON reads a JSON object into dst strictly: Content-Type
// application/json (any charset), at most 64 KiB, no unknown or duplicate
// keys, no trailing data. With allowEmpty an empty body (with or without a
// content type) leaves dst untouched: endpoints that take no fields.
func decodeJSON(w http.ResponseWriter, r *http.Request, dst any, allowEmpty bool) error {
	ct := r.Header.Get("Content-Type")
	if ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return errMediaType
		}
	}
	b, err := readBody(w, r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(b)) == 0 && allowEmpty {
		return nil
	}
	if ct == "" {
		return errMediaType
	}
	if err := checkObject(b, fieldNames(dst)); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("unexpected data after the JSON object")
	}
	return missingField(dst)
}

// decode is decodeJSON that answers the error itself; it reports whether
// the handler may go on.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, dst any, allowEmpty bool) bool {
	if err := decodeJSON(w, r, dst, allowEmpty); err != nil {
		s.writeError(w, r, err)
		return false
	}
	return true
}

// missingField reports the first field tagged `latch:"required"` that the
// body left out (such fields are pointers, nil when absent).
func missingField(dst any) error {
	v := reflect.ValueOf(dst)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil
	}
	v = v.Elem()
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if f.Tag.Get("latch") == "required" && v.Field(i).Kind() == reflect.Pointer && v.Field(i).IsNil() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			return badRequest(fmt.Sprintf("field %q is required", name))
		}
	}
	return nil
}

// checkObject requires one JSON object whose keys are unique at every level
// (encoding/json silently keeps the last of duplicate keys, which lets two
// parsers disagree about a request) and whose top-level keys are exactly
// names in fields: encoding/json matches names case-insensitively, even
// under Unicode folding ("PASSWORD", "paſſword"), so {"password": "a",
// "Password": "b"} would pass a check of exact duplicates yet set one field
// twice.
func checkObject(b []byte, fields map[string]bool) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return badRequest("the body is not valid JSON")
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return badRequest("the body must be a JSON object")
	}
	if err := walkObject(dec, fields); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("unexpected data after the JSON object")
	}
	return nil
}

// fieldNames returns the JSON names of the fields of the struct dst points
// to, or nil when dst is not a pointer to a struct.
func fieldNames(dst any) map[string]bool {
	t := reflect.TypeOf(dst)
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil
	}
	t = t.Elem()
	names := make(map[string]bool, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = t.Field(i).Name
		}
		names[name] = true
	}
	return names
}

// walkObject consumes an object whose '{' was read, checking for duplicate
// keys and, when fields is not nil, for keys that are not exactly in it.
func walkObject(dec *json.Decoder, fields map[string]bool) error {
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return badRequest("the body is not valid JSON")
		}
		key, _ := tok.(string)
		if seen[key] {
			return badRequest(fmt.Sprintf("duplicate field %q", safeName(key)))
		}
		if fields != nil && !fields[key] {
			return badRequest("unknown field " + strconv.Quote(safeName(key)))
		}
		seen[key] = true
		if err := walkValue(dec); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return badRequest("the body is not valid JSON")
	}
	return nil
}

func walkValue(dec *json.Decoder) error {
	tok, err := dec.Token()
	if err != nil {
		return badRequest("the body is not valid JSON")
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	switch d {
	case '{':
		return walkObject(dec, nil)
	case '[':
		for dec.More() {
			if err := walkValue(dec); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return badRequest("the body is not valid JSON")
		}
	}
	return nil
}

// decodeError explains a decoding failure by field name only, never by value.
func decodeError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return badRequest(fmt.Sprintf("field %q has the wrong type", safeName(te.Field)))
	}
	if msg := err.Error(); strings.HasPrefix(msg, "json: unknown field ") {
		return badRequest("unknown field " + safeName(strings.TrimPrefix(msg, "json: unknown field ")))
	}
	return badRequest("the body is not valid JSON")
}

// safeName bounds a field name echoed in an error (it is client input).
func safeName(s string) string {
	if len(s) > 40 {
		s = s[:40]
	}
	return strings.ToValidUTF8(s, "?")
}
