package terraform

// RetireAfter is how long an ended burst is kept, for the tests.
const RetireAfter = retireAfter
