package config

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/spillway-io/spillway/configs"
	"github.com/spillway-io/spillway/policy"
)

// CatalogEntry is one instance type's shape and dated list prices.
type CatalogEntry struct {
	Provider ProviderType
	// Region is where the prices were taken; they are used as list prices
	// for the instance type in any region.
	Region       string
	InstanceType string
	GPUModel     string
	GPUs         int
	GPUMemGB     float64
	VCPUs        int
	MemGiB       float64
	// OnDemandPerHour and SpotPerHour are USD per instance-hour; 0 when the
	// catalog has no price (the entry then carries its shape only).
	OnDemandPerHour float64
	SpotPerHour     float64
	// Source and SourceDate say where the row came from and when.
	Source     string
	SourceDate string
}

// Price returns the entry's price for a market (spot uses the spot
// column, anything else the on-demand one), and whether it is known.
func (e CatalogEntry) Price(m policy.Market) (float64, bool) {
	p := e.OnDemandPerHour
	if m == policy.MarketSpot {
		p = e.SpotPerHour
	}
	return p, p > 0
}

// Catalog is a set of known GPU instance types, looked up by provider type
// and instance type. It fills offerings that leave out gpus or
// price_per_hour; a value in the config always overrides it.
type Catalog struct {
	entries []CatalogEntry
	index   map[catalogKey]int
}

type catalogKey struct {
	provider     ProviderType
	instanceType string
}

// Lookup returns the entry for an instance type of a provider type.
func (c *Catalog) Lookup(t ProviderType, instanceType string) (CatalogEntry, bool) {
	if c == nil {
		return CatalogEntry{}, false
	}
	i, ok := c.index[catalogKey{t, instanceType}]
	if !ok {
		return CatalogEntry{}, false
	}
	return c.entries[i], true
}

// Closest returns the catalog's instance type of t that a person most
// likely meant by one it lacks: the same name in other letter case (the
// clouds' instance types are lower-case), or the only one whose name begins
// with it (p5.48xl); "" otherwise. Names an edit away are not offered: they
// are as often real types the catalog lacks (g6.12xlarge beside
// g6e.12xlarge) as typos.
func (c *Catalog) Closest(t ProviderType, instanceType string) string {
	if c == nil || instanceType == "" {
		return ""
	}
	var prefixed []string
	for _, e := range c.entries {
		if e.Provider != t {
			continue
		}
		if strings.EqualFold(e.InstanceType, instanceType) {
			return e.InstanceType
		}
		if strings.HasPrefix(e.InstanceType, strings.ToLower(instanceType)) {
			prefixed = append(prefixed, e.InstanceType)
		}
	}
	if len(prefixed) == 1 && strings.Contains(instanceType, ".") {
		return prefixed[0]
	}
	return ""
}

// Entries returns every entry in file order.
func (c *Catalog) Entries() []CatalogEntry {
	if c == nil {
		return nil
	}
	return append([]CatalogEntry(nil), c.entries...)
}

var (
	defaultCatalogOnce sync.Once
	defaultCatalog     *Catalog
)

// DefaultCatalog is the catalog bundled with Spillway
// (configs/catalog/gpu-offerings.csv; see its README for sources and dates).
func DefaultCatalog() *Catalog {
	defaultCatalogOnce.Do(func() {
		c, err := ParseCatalog(bytes.NewReader(configs.GPUOfferingsCSV))
		if err != nil {
			// The file is embedded at build time and checked by a test.
			panic(fmt.Sprintf("bundled GPU catalog: %v", err))
		}
		defaultCatalog = c
	})
	return defaultCatalog
}

// catalogColumns are the CSV header names ParseCatalog needs.
var catalogColumns = []string{"provider", "region", "instance_type", "gpu_model", "gpus", "gpu_mem_gb",
	"vcpus", "mem_gib", "on_demand_usd_per_hour", "spot_usd_per_hour", "source", "source_date"}

// ParseCatalog reads a catalog CSV with the header of
// configs/catalog/gpu-offerings.csv (columns may come in any order).
// Provider "alibaba" is the alicloud provider type. Empty price cells mean
// the price is unknown.
func ParseCatalog(r io.Reader) (*Catalog, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("catalog header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimSpace(h)] = i
	}
	var missing []string
	for _, c := range catalogColumns {
		if _, ok := col[c]; !ok {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("catalog header lacks columns %s: want %s", strings.Join(missing, ", "), strings.Join(catalogColumns, ","))
	}
	c := &Catalog{index: map[catalogKey]int{}}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("catalog: %w", err)
		}
		if len(rec) != len(header) {
			return nil, fmt.Errorf("catalog line %d: %d fields, want %d as in the header", line, len(rec), len(header))
		}
		get := func(name string) string { return strings.TrimSpace(rec[col[name]]) }
		e := CatalogEntry{
			Region:       get("region"),
			InstanceType: get("instance_type"),
			GPUModel:     get("gpu_model"),
			Source:       get("source"),
			SourceDate:   get("source_date"),
		}
		switch p := get("provider"); p {
		case "aws":
			e.Provider = ProviderAWS
		case "alibaba", "alicloud":
			e.Provider = ProviderAlicloud
		default:
			return nil, fmt.Errorf("catalog line %d: unknown provider %q: want aws, alibaba or alicloud", line, p)
		}
		if e.InstanceType == "" {
			return nil, fmt.Errorf("catalog line %d: empty instance_type", line)
		}
		var perr error
		num := func(name string, dst *float64, required bool) {
			s := get(name)
			if s == "" {
				if required && perr == nil {
					perr = fmt.Errorf("catalog line %d: empty %s", line, name)
				}
				return
			}
			f, err := strconv.ParseFloat(s, 64)
			if (err != nil || f < 0) && perr == nil {
				perr = fmt.Errorf("catalog line %d: %s %q is not a non-negative number", line, name, s)
			}
			*dst = f
		}
		var gpus, vcpus float64
		num("gpus", &gpus, true)
		num("gpu_mem_gb", &e.GPUMemGB, false)
		num("vcpus", &vcpus, false)
		num("mem_gib", &e.MemGiB, false)
		num("on_demand_usd_per_hour", &e.OnDemandPerHour, false)
		num("spot_usd_per_hour", &e.SpotPerHour, false)
		if perr != nil {
			return nil, perr
		}
		if gpus < 1 || gpus != float64(int(gpus)) {
			return nil, fmt.Errorf("catalog line %d: gpus %v is not a whole number of at least 1", line, gpus)
		}
		e.GPUs, e.VCPUs = int(gpus), int(vcpus)
		k := catalogKey{e.Provider, e.InstanceType}
		if prev, dup := c.index[k]; dup {
			return nil, fmt.Errorf("catalog line %d: %s %s is listed twice (first as entry %d)", line, e.Provider, e.InstanceType, prev+1)
		}
		c.index[k] = len(c.entries)
		c.entries = append(c.entries, e)
	}
	return c, nil
}
