// Package amrcol keeps a session's amr (RFC 8176 method references) in
// one text column, space-separated: the form the SQL stores share.
package amrcol

import (
	"fmt"
	"strings"
)

// Text is amr as the column holds it.
func Text(amr []string) string { return strings.Join(amr, " ") }

// Dest scans the column into AMR (nil for an empty column). It implements
// database/sql's Scanner, which pgx honours too.
type Dest struct{ AMR *[]string }

// Scan implements sql.Scanner.
func (d Dest) Scan(src any) error {
	var v string
	switch x := src.(type) {
	case string:
		v = x
	case []byte:
		v = string(x)
	default:
		return fmt.Errorf("amr column holds %T, want text", src)
	}
	*d.AMR = nil
	if v != "" {
		*d.AMR = strings.Fields(v)
	}
	return nil
}
