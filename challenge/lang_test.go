package challenge

import (
	"reflect"
	"testing"
)

func TestNegotiate(t *testing.T) {
	tests := []struct {
		header, want string
	}{
		{"", "fr"},
		{"en-US,en;q=0.9", "en"},
		{"fr-FR,fr;q=0.9,en;q=0.8", "fr"},
		{"de-DE,de;q=0.9,en;q=0.5,fr;q=0.4", "en"},
		{"en;q=0.2,fr;q=0.8", "fr"},
		{"EN", "en"},
		{"en;q=0", "fr"},
		{"en;q=abc", "fr"},
		{"en;q=2", "fr"},
		{"*", "fr"},
		{";;;,,,=", "fr"},
	}
	for _, tt := range tests {
		got, msgs := Negotiate(tt.header)
		if got != tt.want || msgs != catalog[tt.want] {
			t.Errorf("Negotiate(%q) = %s, want %s", tt.header, got, tt.want)
		}
	}
}

// Every message of every language is filled in: a page with an empty
// title or text (the 404 and 405 pages had one) is a page nobody can read.
func TestCatalogComplete(t *testing.T) {
	for _, lang := range languages {
		m := catalog[lang]
		if m == nil {
			t.Fatalf("no messages for %s", lang)
		}
		v := reflect.ValueOf(m).Elem()
		for i := range v.NumField() {
			if v.Field(i).Kind() == reflect.String && v.Field(i).String() == "" {
				t.Errorf("%s: %s is empty", lang, v.Type().Field(i).Name)
			}
		}
	}
}
