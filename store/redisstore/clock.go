package redisstore

import (
	"context"
	"fmt"
	"time"
)

// ClockOffset measures how far Redis's clock is ahead of now, the
// instance's clock: Redis's TIME minus now's reading halfway through the
// round trip, give or take uncertainty (half the round trip). Spent
// records and the floor after a loss allow for ClockSkew and LossSkew
// between the two; past them, see ClockWarning.
func (b *Backend) ClockOffset(ctx context.Context, now func() time.Time) (offset, uncertainty time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	sent := now()
	redisNow, err := b.client.Time(ctx).Result()
	received := now()
	if err != nil {
		return 0, 0, fmt.Errorf("reading Redis's TIME: %w", err)
	}
	half := received.Sub(sent) / 2
	return redisNow.Sub(sent.Add(half)), half, nil
}

// ClockWarning says what an offset measured by ClockOffset puts at risk,
// or returns "" when the clocks agree within the allowances:
//   - an instance ahead of Redis by more than LossSkew issues tokens that
//     the floor raised after a loss of Redis's data does not cover: one
//     spent in its last seconds before the loss could be spent again;
//   - one off by more than ClockSkew either way has proofs and passes
//     refused as expired, or taken for valid after Redis dropped their
//     records.
func ClockWarning(offset, uncertainty time.Duration) string {
	ahead := -offset - uncertainty // how far the instance runs ahead, at least
	behind := offset - uncertainty
	switch {
	case ahead > ClockSkew || behind > ClockSkew:
		return fmt.Sprintf("this instance's clock is %s from Redis's, more than the %s the shield allows: "+
			"signers' proofs and passes may be refused as expired, or spent ones accepted again near their expiry; "+
			"synchronize the clocks (NTP)", describeOffset(offset), ClockSkew)
	case ahead > LossSkew:
		return fmt.Sprintf("this instance's clock is %s from Redis's, more than the %s the shield allows after a loss of Redis's data: "+
			"a pass or proof spent in its last seconds before such a loss could be spent again; synchronize the clocks (NTP)",
			describeOffset(offset), LossSkew)
	}
	return ""
}

// describeOffset says which clock is ahead, to the millisecond.
func describeOffset(offset time.Duration) string {
	if offset < 0 {
		return (-offset).Round(time.Millisecond).String() + " ahead"
	}
	return offset.Round(time.Millisecond).String() + " behind"
}
