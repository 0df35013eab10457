package budget_test

import (
	"context"
	"fmt"
	"net/netip"
	"time"

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

func ExampleTables() {
	now := time.Date(2025, 12, 24, 20, 0, 0, 0, time.UTC)
	store, err := budget.NewTables(budget.TablesConfig{Clock: func() time.Time { return now }})
	if err != nil {
		panic(err)
	}
	perIP, _ := budget.ParseRate("3/hour")
	perASN, _ := budget.ParseRate("10/hour")
	client := budget.Client{IP: netip.MustParseAddr("203.0.113.7"), ASN: 64500}
	charges := []budget.Charge{
		{Key: budget.KeyASN.Key("signatures", client), Kind: budget.KeyASN, Rate: perASN},
		{Key: budget.KeyIP.Key("signatures", client), Kind: budget.KeyIP, Rate: perIP},
	}
	for range 5 {
		res, err := store.TakeAll(context.Background(), charges, now)
		if err != nil {
			panic(err)
		}
		fmt.Println(res.Allowed, res.Exhausted)
	}
	// The refused tries spent nothing of the network's budget.
	network, _ := store.Peek(context.Background(), charges[0].Key, budget.KeyASN, perASN)
	fmt.Println("left for the network:", network.Remaining)
	// Output:
	// true -1
	// true -1
	// true -1
	// false 1
	// false 1
	// left for the network: 7
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
