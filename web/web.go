// Package web holds latch's pages as embedded files: the html/template
// files under templates/ and the stylesheet and JavaScript modules under
// static/ (served at /static/). It holds no code that serves them: the
// http package does. Nothing here is fetched from another origin and no
// page carries inline script, so the pages run under a CSP of 'self'.
//
// static/latch-client.js is the reusable part: a small browser client for
// latch's token mode (access token in memory, refresh token in the HttpOnly
// cookie, refresh-and-retry, tabs that take turns refreshing). Its header
// comment documents how an application uses it.
package web

import (
	"embed"
	"io/fs"
)

//go:embed templates/*.html static
var files embed.FS

// Templates returns the page templates (layout.html and one file per page).
func Templates() fs.FS {
	sub, err := fs.Sub(files, "templates")
	if err != nil {
		panic(err) // the directory is embedded above: unreachable
	}
	return sub
}

// Static returns the stylesheet and scripts served under /static/.
func Static() fs.FS {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the directory is embedded above: unreachable
	}
	return sub
}
