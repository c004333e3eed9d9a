package main

// idleP4dAgent is an agent's answer for a burst instance of a p4d (8
// GPUs), all idle: an answer counting fewer GPUs than the offering is a
// node short of GPUs (the rest counted unhealthy, and a burst's floor
// made up by another launch).
const idleP4dAgent = `{"node": "burst", "gpus": [` +
	`{"index": 0, "busy": false}, {"index": 1, "busy": false}, {"index": 2, "busy": false}, {"index": 3, "busy": false}, ` +
	`{"index": 4, "busy": false}, {"index": 5, "busy": false}, {"index": 6, "busy": false}, {"index": 7, "busy": false}]}`
