package budget_test

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/ulule/limiter/v3"

	"github.com/rempart/rempart/budget"
)

func ExampleParseRate() {
	for _, s := range []string{"10/hour", "3/90min", "0/h", "ten a day"} {
		rate, err := budget.ParseRate(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(rate.Limit, rate.Period, budget.FormatRate(rate))
	}
	// Output:
	// 10 1h0m0s 10/h
	// 3 1h30m0s 3/90m
	// rate "0/h": count must be at least 1; want COUNT/PERIOD such as 10/hour
	// rate "ten a day": want COUNT/PERIOD such as 10/hour
}

func ExampleKeyKind_Key() {
	c := budget.Client{
		IP:     netip.MustParseAddr("203.0.113.7"),
		Prefix: netip.MustParsePrefix("203.0.112.0/22"),
		ASN:    64500,
		Class:  "hosting",
	}
	for _, kind := range []budget.KeyKind{budget.KeyIP, budget.KeyPrefix, budget.KeyASN, budget.KeyClass} {
		fmt.Println(kind.Key("signatures", c))
	}
	// Output:
	// ip:signatures:203.0.113.7
	// prefix:signatures:203.0.112.0/22
	// asn:signatures:64500
	// class:signatures:hosting
}

func ExampleNewLRUStore() {
	store, err := budget.NewLRUStore(100_000)
	if err != nil {
		panic(err)
	}
	rate, err := budget.ParseRate("2/hour")
	if err != nil {
		panic(err)
	}
	signatures := limiter.New(store, rate)
	key := budget.KeyASN.Key("signatures", budget.Client{ASN: 64500})
	for range 3 {
		budgetLeft, err := signatures.Get(context.Background(), key)
		if err != nil {
			panic(err)
		}
		fmt.Println(budgetLeft.Remaining, budgetLeft.Reached)
	}
	// Output:
	// 1 false
	// 0 false
	// 0 true
}

func ExamplePressure() {
	pressure, err := budget.NewPressure(budget.PressureConfig{
		Threshold:    60, // events per minute
		HalfLife:     time.Minute,
		MaxExtraBits: 4,
	})
	if err != nil {
		panic(err)
	}
	const base = 16 // bits of proof of work asked of every signer
	network := budget.KeyASN.Key("signatures", budget.Client{ASN: 64500})
	now := time.Date(2025, 12, 24, 20, 0, 0, 0, time.UTC)

	// Ten minutes of 300 signatures a minute: 5× the threshold.
	for i := range 3000 {
		pressure.Observe(network, now.Add(time.Duration(i)*200*time.Millisecond))
	}
	now = now.Add(10 * time.Minute)
	fmt.Println("during the flood:", base+pressure.Extra(network, now))
	fmt.Println("5 minutes later:", base+pressure.Extra(network, now.Add(5*time.Minute)))
	// Output:
	// during the flood: 18
	// 5 minutes later: 16
}
