package scheduler

// JoinedSibling exposes joinedSibling to the package's external tests.
var JoinedSibling = joinedSibling
