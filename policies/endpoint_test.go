package policies

import "testing"

func TestEndpointMatches(t *testing.T) {
	es := Endpoints{{Method: "POST", Path: "/sign"}, {Method: "*", Path: "/petitions/*/sign"}}
	tests := []struct {
		method, path string
		want         bool
	}{
		{"POST", "/sign", true},
		{"GET", "/sign", false},
		{"POST", "/sign/", true},
		{"post", "/SIGN", true},
		{"PUT", "/petitions/noel/sign", true},
		{"PUT", "/petitions/noel//sign/", true},
		{"POST", "/petitions/a/b/sign", false},
		{"POST", "/", false},
	}
	for _, tt := range tests {
		c, err := Canonicalize(tt.method, tt.path)
		if got := err == nil && es.MatchesCanonical(c); got != tt.want {
			t.Errorf("Matches(%s %s) = %v, want %v", tt.method, tt.path, got, tt.want)
		}
	}
}

func TestEndpointValidate(t *testing.T) {
	for _, e := range []Endpoint{
		{"", "/sign"}, {"PO ST", "/sign"}, {"POST", "sign"}, {"POST", "/[x"},
		{"POST", "/%73ign"}, {"POST", "/sign;x"}, {"POST", "/sign#x"}, {"POST", "/si\x00gn"}, {"POST", "/\xff"},
	} {
		if e.Validate() == nil {
			t.Errorf("%+v validated", e)
		}
	}
	for _, e := range []Endpoint{{"POST", "/petitions/*/sign"}, {"post", "/Sign/"}, {"*", "/"}, {"POST", "/pétitions/*/signer"}} {
		if err := e.Validate(); err != nil {
			t.Error(err)
		}
	}
}
