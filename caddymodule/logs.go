package caddymodule

import (
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/rempart/rempart/top"
)

// logInterval is how often the shield writes its one aggregated line.
var logInterval = time.Minute

// logEvery writes, every interval in which the shield decided anything,
// one line with the counts per action and the heaviest networks, until
// stop is closed.
func (w *lookout) logEvery(stop <-chan struct{}, interval time.Duration) {
	every(stop, interval, func() { w.logTraffic(interval) })
}

func (w *lookout) logTraffic(interval time.Duration) {
	var counts actionCounts
	total := uint64(0)
	for i := range watchActions {
		counts[i] = w.nets.counts[i].Swap(0)
		total += counts[i]
	}
	if total == 0 {
		return
	}
	fields := []zap.Field{zap.String("site", w.site), zap.Duration("interval", interval), zap.Uint64("requests", total),
		zap.Object("actions", counts)}
	if would := w.nets.would.Swap(0); would > 0 {
		fields = append(fields, zap.Uint64("would_refuse", would))
	}
	if unlogged := w.nets.unlogged.Swap(0); unlogged > 0 {
		fields = append(fields, zap.Uint64("over_budget_unlogged", unlogged))
	}
	now := w.now()
	fields = append(fields, zap.Array("top_asns", topASNs(w.nets.asns.Top(3, -1, now))),
		zap.Array("top_prefixes", topPrefixes(w.nets.prefixes.Top(3, -1, now))))
	w.logger.Info("rempart: traffic", fields...)
}

type actionCounts [top.Kinds]uint64

func (c actionCounts) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	for i, a := range watchActions {
		if c[i] > 0 {
			enc.AddUint64(string(a), c[i])
		}
	}
	return nil
}

type topASNs []top.Entry[uint32]

func (t topASNs) MarshalLogArray(enc zapcore.ArrayEncoder) error {
	for _, e := range t {
		_ = enc.AppendObject(zapcore.ObjectMarshalerFunc(func(o zapcore.ObjectEncoder) error {
			o.AddUint32("asn", e.Key)
			o.AddString("org", e.Info.Org)
			o.AddInt("per_minute", int(perMinute(e.Weight)+0.5))
			return nil
		}))
	}
	return nil
}

type topPrefixes []top.Entry[prefixKey]

func (t topPrefixes) MarshalLogArray(enc zapcore.ArrayEncoder) error {
	for _, e := range t {
		_ = enc.AppendObject(zapcore.ObjectMarshalerFunc(func(o zapcore.ObjectEncoder) error {
			o.AddString("prefix", e.Key.prefix().String())
			if e.Info.ASN != 0 {
				o.AddUint32("asn", e.Info.ASN)
			}
			o.AddInt("per_minute", int(perMinute(e.Weight)+0.5))
			return nil
		}))
	}
	return nil
}

// perMinute turns a tracker's weight (one-minute half-life) into a rate:
// events arriving steadily at r a minute hold the weight at r / ln 2.
func perMinute(weight float64) float64 { return weight * 0.6931471805599453 }
