package email_test

import (
	"errors"
	"fmt"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/email"
)

func ExampleNormalize() {
	for _, s := range []string{"  Bob.Smith@Example.COM ", "ＡＢＣ@example.com", "Bob <bob@example.com>"} {
		n, err := email.Normalize(s)
		fmt.Printf("%q %v\n", n, errors.Is(err, latch.ErrInvalidEmail))
	}
	// Output:
	// "bob.smith@example.com" false
	// "abc@example.com" false
	// "" true
}
