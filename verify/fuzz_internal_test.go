package verify

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"slices"
	"testing"
	"testing/iotest"
)

// parseStream runs the follower's reading of an event stream (its line
// splitter, its line bound and its parser) over r and returns what it
// dispatches, or false when a line is over maxLine.
func parseStream(r io.Reader) ([]sseEvent, bool) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 16), maxLine)
	sc.Split(splitLines())
	var p eventParser
	var out []sseEvent
	for sc.Scan() {
		if ev, ok := p.line(sc.Bytes()); ok {
			out = append(out, ev)
		}
	}
	return out, sc.Err() == nil
}

// referenceEvents is the text/event-stream algorithm of the WHATWG HTML
// standard (§9.2.6), written for clarity over a whole buffer: lines end at
// CRLF, LF or CR; an unterminated last line is dropped; a line starting
// with ':' is a comment; "field: value" loses one space after the colon;
// data lines join with LF; an id containing NUL is ignored; a blank line
// dispatches an event when some data line was seen.
func referenceEvents(b []byte) []sseEvent {
	var lines [][]byte
	for start, i := 0, 0; i < len(b); i++ {
		switch b[i] {
		case '\n':
			lines, start = append(lines, b[start:i]), i+1
		case '\r':
			lines = append(lines, b[start:i])
			if i+1 < len(b) && b[i+1] == '\n' {
				i++
			}
			start = i + 1
		}
	}
	var (
		out     []sseEvent
		typ, id string
		data    []byte
		hasData bool
	)
	for _, l := range lines {
		if len(l) == 0 {
			if hasData {
				t := typ
				if t == "" {
					t = "message"
				}
				out = append(out, sseEvent{typ: t, data: bytes.Clone(data), id: id})
			}
			typ, data, hasData = "", nil, false
			continue
		}
		if l[0] == ':' {
			out = append(out, sseEvent{comment: true})
			continue
		}
		name, value := l, []byte(nil)
		if i := bytes.IndexByte(l, ':'); i >= 0 {
			name, value = l[:i], l[i+1:]
			value = bytes.TrimPrefix(value, []byte(" "))
		}
		switch string(name) {
		case "event":
			typ = string(value)
		case "data":
			if hasData {
				data = append(data, '\n')
			}
			data, hasData = append(data, value...), true
		case "id":
			if !bytes.Contains(value, []byte{0}) {
				id = string(value)
			}
		}
	}
	return out
}

func sameEvents(a, b []sseEvent) bool {
	return slices.EqualFunc(a, b, func(x, y sseEvent) bool {
		return x.comment == y.comment && x.typ == y.typ && x.id == y.id && bytes.Equal(x.data, y.data)
	})
}

// FuzzEventStream: the verify library's revocation stream reader
// dispatches exactly the events the standard's algorithm does, and the
// same ones however the bytes arrive (all at once, one byte per read, or
// split by a half-read), so a CR at the end of a read never loses or
// invents an event; the event ids never contain NUL. Then every
// dispatched revoke event goes through apply, which must not panic on any
// data.
func FuzzEventStream(f *testing.F) {
	for _, s := range []string{
		"id: 1\nevent: revoke\ndata: {\"jti\":\"a\",\"exp\":1}\n\n: replay done\n\n",
		"id: 2\r\nevent: revoke\r\ndata: {\"sid\":\"s\",\"exp\":2}\r\n\r\n", "id: 3\revent: revoke\rdata: {\"sub\":\"u\",\"not_before\":1,\"exp\":9}\r\r",
		"data: a\ndata: b\n\n", "data\n\n", "id: 4\x00\ndata: x\n\n", "event: revoke\ndata: {\"jti\":\"a\"}", ":\n", "data:x\r",
		"data: {\"exp\":1e400,\"jti\":\"x\"}\n\n", "data: {\"exp\":-1,\"sid\":\"s\"}\n\n", "data: {\"sub\":\"u\",\"not_before\":\"1\"}\n\n",
		"retry: 10\nfoo: bar\n\n", "\r\n\r\n\n\r",
	} {
		f.Add([]byte(s))
	}
	v := &Verifier{log: slog.New(slog.DiscardHandler)}
	f.Fuzz(func(t *testing.T, b []byte) {
		want := referenceEvents(b)
		got, ok := parseStream(bytes.NewReader(b))
		if !ok {
			return // a line over maxLine ends the connection
		}
		if !sameEvents(got, want) {
			t.Fatalf("stream %q: got %+v, the standard's algorithm %+v", b, got, want)
		}
		if one, _ := parseStream(iotest.OneByteReader(bytes.NewReader(b))); !sameEvents(one, want) {
			t.Fatalf("stream %q read one byte at a time: got %+v, want %+v", b, one, want)
		}
		if half, _ := parseStream(iotest.HalfReader(bytes.NewReader(b))); !sameEvents(half, want) {
			t.Fatalf("stream %q read in halves: got %+v, want %+v", b, half, want)
		}
		for _, ev := range got {
			if bytes.IndexByte([]byte(ev.id), 0) >= 0 {
				t.Fatalf("event id %q contains NUL", ev.id)
			}
			if ev.typ == "revoke" {
				v.apply(ev.data, ev.id)
			}
		}
	})
}
