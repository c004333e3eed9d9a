package terraform

// RetireAfter is how long an ended burst is kept, for the tests.
const RetireAfter = retireAfter

// WithMaxOutputBytes bounds what is read of the module's instances output.
func WithMaxOutputBytes(n int) Option { return func(o *options) { o.maxOutput = n } }

// WithMaxStateBytes bounds what is read of a burst's state.
func WithMaxStateBytes(n int) Option { return func(o *options) { o.maxState = n } }
