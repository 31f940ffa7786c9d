// Package docs carries the documents latch serves: the OpenAPI 3.1
// description of its routes, embedded so that the binary serves exactly the
// file the tests check.
package docs

import _ "embed"

//go:embed openapi.yaml
var openAPI []byte

// OpenAPI returns docs/openapi.yaml. The bytes are shared: do not modify them.
func OpenAPI() []byte { return openAPI }
