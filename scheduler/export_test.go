package scheduler

// JoinedSibling exposes joinedSibling to the package's external tests.
var JoinedSibling = joinedSibling

// VanishedReason exposes vanishedReason to the package's external tests.
const VanishedReason = vanishedReason
