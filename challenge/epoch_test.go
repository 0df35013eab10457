package challenge

import (
	"errors"
	"testing"
	"time"
)

// A token verifies only under the epoch it was issued in: records that
// were lost (a restart) come back with a new epoch, and every token issued
// before is refused instead of replayed.
func TestEpochRefusesTokensOfEarlierRecords(t *testing.T) {
	secret := []byte("0123456789abcdef-epoch-secret")
	before, err := NewSigner(secret, []byte("epoch-A"))
	if err != nil {
		t.Fatal(err)
	}
	after, err := NewSigner(secret, []byte("epoch-B"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := NewSigner(secret, []byte("epoch-A"))
	if err != nil {
		t.Fatal(err)
	}
	pass, err := before.IssuePass(testClient, 1, 18, testNow, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, nonce := solved(t, before, testClient, 8)

	if _, err := after.VerifyPass(pass.Token, testClient, testNow); !errors.Is(err, ErrForged) {
		t.Errorf("pass of epoch A under epoch B: error %v, want %v", err, ErrForged)
	}
	if _, err := after.VerifyProof(c.Token, nonce, testClient, MinDifficulty, testNow); !errors.Is(err, ErrForged) {
		t.Errorf("proof of epoch A under epoch B: error %v, want %v", err, ErrForged)
	}
	if _, err := again.VerifyPass(pass.Token, testClient, testNow); err != nil {
		t.Errorf("pass under the same secret and epoch: %v", err)
	}
}

func TestPassRecordsWhatWasPaid(t *testing.T) {
	s := newTestSigner(t, "0123456789abcdef-test-secret")
	issued, err := s.IssuePass(testClient, 3, 14, testNow, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.VerifyPass(issued.Token, testClient, testNow.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if got.Credits != 3 || got.Difficulty != 14 || !got.Issued.Equal(testNow) || !got.Expires.Equal(testNow.Add(time.Hour)) {
		t.Errorf("pass = %+v, want 3 credits, 14 bits, issued %s, expiring an hour later", got, testNow)
	}
	for _, tampered := range []int{2, 3, 5, 12} {
		if _, err := s.VerifyPass(flipByte(issued.Token, tampered), testClient, testNow); err == nil {
			t.Errorf("pass with byte %d flipped verified", tampered)
		}
	}
	if _, err := s.IssuePass(testClient, 1, MaxDifficulty+1, testNow, time.Hour); err == nil {
		t.Error("IssuePass accepted a difficulty over the maximum")
	}
}

func TestWaitCarriesTheRulesPrice(t *testing.T) {
	s := newTestSigner(t, "0123456789abcdef-test-secret")
	w, err := s.IssueWait(testClient, 5*time.Second, time.Minute, 20, 2, testNow)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.VerifyWait(w.Token, testClient, time.Minute, testNow.Add(6*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if got.Difficulty != 20 || got.Credits != 2 || got.Wait != 5*time.Second || !got.Issued.Equal(testNow) {
		t.Errorf("wait = %+v, want 20 bits, 2 credits, 5s, issued %s", got, testNow)
	}
}
