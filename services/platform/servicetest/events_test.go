package servicetest

import (
	"encoding/base64"
	"encoding/hex"
	"testing"
)

func TestFindSecretSeesEncodings(t *testing.T) {
	const s = "U0SECRETREF42"
	for _, b := range []string{"x" + s + "y", hex.EncodeToString([]byte(s)), base64.StdEncoding.EncodeToString([]byte(s))} {
		if _, found := FindSecret([]byte(b), s); !found {
			t.Errorf("FindSecret missed %q", b)
		}
	}
	if name, found := FindSecret([]byte("nothing here"), s); found {
		t.Errorf("FindSecret found %s in a clean buffer", name)
	}
}
