package sim

import (
	"math"
	"time"

	"github.com/spillway-io/spillway/policy"
)

// billedCost is what an instance of o costs from launched to ended.
var billedCost = func(o policy.Offering, launched, ended time.Time) float64 {
	d := ended.Sub(launched)
	if d < 0 {
		d = 0
	}
	switch o.Billing {
	case policy.BillingHourly:
		h := math.Ceil(d.Hours())
		return math.Max(1, h) * o.PricePerHour
	case policy.BillingPerSecond:
		return math.Ceil(d.Seconds()) / 3600 * o.PricePerHour
	default:
		return math.Max(60, math.Ceil(d.Seconds())) / 3600 * o.PricePerHour
	}
}
