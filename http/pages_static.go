package http

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/latch-dev/latch/web"
)

// staticFile is one embedded asset, ready to serve.
type staticFile struct {
	body        []byte
	contentType string
	etag        string
}

// staticType is the content type of an embedded asset, by extension. Not
// mime.TypeByExtension: its first call loads the machine's MIME tables into
// the heap (11,000 objects from Debian's /etc/mime.types), which every
// garbage collection then marks, a cost paid by every API request.
func staticType(ext string) (string, bool) {
	switch ext {
	case ".js":
		return "text/javascript; charset=utf-8", true
	case ".css":
		return "text/css; charset=utf-8", true
	case ".svg":
		return "image/svg+xml", true
	}
	return "", false
}

// loadStatic reads the embedded assets (once: pages.files). Their URLs
// carry no version, so browsers revalidate (no-cache) and get a 304 while
// the ETag, a digest of the content, still matches.
func loadStatic() map[string]staticFile {
	files := map[string]staticFile{}
	static := web.Static()
	err := fs.WalkDir(static, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(static, p)
		if err != nil {
			return err
		}
		ct, ok := staticType(path.Ext(p))
		if !ok {
			return fmt.Errorf("web/static/%s: no content type for %q files", p, path.Ext(p))
		}
		sum := sha256.Sum256(b)
		files["/static/"+p] = staticFile{body: b, contentType: ct,
			etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil { // the assets are embedded: a bug the page tests catch, as template.Must does
		panic(fmt.Sprintf("loading the embedded assets: %v", err))
	}
	return files
}

// static serves /static/*: only the embedded files, never a listing.
func (pg *pages) static(w http.ResponseWriter, r *http.Request) {
	f, ok := pg.files()[r.URL.Path]
	if !ok {
		pg.s.notFound(w, r)
		return
	}
	h := w.Header()
	securityHeaders(h)
	h.Set("Content-Type", f.contentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", f.etag)
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, f.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(f.body)))
	w.WriteHeader(200)
	if r.Method != http.MethodHead {
		_, _ = w.Write(f.body)
	}
}
