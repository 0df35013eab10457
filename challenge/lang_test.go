package challenge

import "testing"

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

func TestCatalogComplete(t *testing.T) {
	for _, lang := range languages {
		m := catalog[lang]
		if m == nil {
			t.Fatalf("no messages for %s", lang)
		}
		for name, s := range map[string]string{"Title": m.Title, "Intro": m.Intro, "Working": m.Working, "Done": m.Done, "NoScript": m.NoScript, "Retry": m.Retry, "TooLarge": m.TooLarge, "Expired": m.Expired, "BadRequest": m.BadRequest, "Back": m.Back} {
			if s == "" {
				t.Errorf("%s: %s is empty", lang, name)
			}
		}
	}
}
