package challenge

import "testing"

func TestSafeReturn(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/", "/"},
		{"/sign?x=1", "/sign?x=1"},
		{"/a/b#frag", "/a/b#frag"},
		{"", "/"},
		{"//evil.example/", "/"},
		{"/\\evil.example", "/"},
		{"https://evil.example/", "/"},
		{"evil.example", "/"},
		{"javascript:alert(1)", "/"},
		{"/ok\r\nSet-Cookie: x", "/"},
		{"/.rempart/verify", "/"},
		{"/%2F%2Fevil.example", "/%2F%2Fevil.example"},
	}
	for _, tt := range tests {
		if got := SafeReturn(tt.in, "/.rempart/"); got != tt.want {
			t.Errorf("SafeReturn(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
