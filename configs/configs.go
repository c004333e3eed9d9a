// Package configs holds Spillway's bundled data: the GPU offerings catalog
// and the example configs. It is pure data, embedded in the binary, and
// imports nothing of Spillway's own.
package configs

import "embed"

// GPUOfferingsCSV is catalog/gpu-offerings.csv: the shapes and dated list
// prices of common AWS and Alibaba Cloud GPU instance types (see
// catalog/README.md for sources and dates). The config package parses it
// into its default catalog.
//
//go:embed catalog/gpu-offerings.csv
var GPUOfferingsCSV []byte

// Examples holds the example configs under examples/, e.g.
// "examples/spillway.yaml", the annotated reference config.
//
//go:embed examples/*.yaml
var Examples embed.FS
