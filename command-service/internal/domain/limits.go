package domain

// The lower bounds are fixed by the product: below them a loan is not worth
// its costs. Requests below them are refused.
const (
	MinAmount   = 500 // whole currency units
	MinDuration = 3   // months
)

// Text fields are bounded: a reason is a sentence or a paragraph for a
// person, and every event is stored forever and copied into read models.
const (
	MaxReasonLength    = 1000 // characters (runes), denial and rejection reasons
	MaxApplicantLength = 255  // bytes, as the verified subject is bounded
)

// Limits are the configurable upper bounds of a loan request. They come in
// the RequestLoan command, so that the domain reads no configuration.
type Limits struct {
	MaxAmount   int64 // whole currency units
	MaxDuration int32 // months
}

// DefaultLimits are the bounds used when none are configured.
func DefaultLimits() Limits { return Limits{MaxAmount: 1_000_000, MaxDuration: 360} }

// orDefault fills each unset (zero) bound with its default, so that a zero
// Limits means DefaultLimits and configuring one bound does not turn the
// other into "refuse everything".
func (l Limits) orDefault() Limits {
	d := DefaultLimits()
	if l.MaxAmount == 0 {
		l.MaxAmount = d.MaxAmount
	}
	if l.MaxDuration == 0 {
		l.MaxDuration = d.MaxDuration
	}
	return l
}
