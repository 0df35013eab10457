package challenge

import (
	"testing"
	"time"
)

func BenchmarkIssueChallenge(b *testing.B) {
	s := newTestSigner(b, "0123456789abcdef-test-secret")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.IssueChallenge(testClient, 18, 1, testNow, 5*time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyProof(b *testing.B) {
	s := newTestSigner(b, "0123456789abcdef-test-secret")
	c, nonce := solved(b, s, testClient, 12)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.VerifyProof(c.Token, nonce, testClient, 12, testNow); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyPass(b *testing.B) {
	s := newTestSigner(b, "0123456789abcdef-test-secret")
	p, _ := s.IssuePass(testClient, 1, 18, testNow, time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.VerifyPass(p.Token, testClient, testNow); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSpentUse(b *testing.B) {
	s, _ := NewSpent(benchSpentSize)
	exp := testNow.Add(time.Hour)
	var k [IDSize]byte
	b.ReportAllocs()
	i := uint64(0)
	for b.Loop() {
		i++
		for j := range 8 {
			k[j] = byte(i >> (8 * j))
		}
		s.Use(k, 1, testNow, exp, testNow)
	}
}

const benchSpentSize = 1 << 20
