package terraform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/terraform-config-inspect/tfconfig"
)

// An apply that dies mid-create (Terraform killed by the OOM killer, a
// provider plugin that crashed after the cloud made the instance) leaves
// an instance no state records: no later plan sees it, and Spillway lists
// only what outputs name. A module may declare an output Spillway finds
// such instances by, from the cloud rather than from its state:
//
//	cloud_instances map(string)  every instance the cloud holds for this
//	                             burst (a data source, found by the tags
//	                             the module puts on them): id => its key
//
// The burst keeps each cut-off create (its key and address) in its ledger
// and stays dirty; every run on it (and each Reconcile) first plans, reads
// the output from the plan (`terraform show -json`), and imports each
// instance found for a cut-off key, not held by any burst, into the
// create's address (an import block, Terraform 1.5+); then the run goes
// on as usual, so an instance whose key is no longer wanted is destroyed
// and one still wanted is kept, not created twice. A create whose
// instance is not found within cutOffWindow is given up, logged at error
// level with the tags to look for it by.
const lookupOutput = "cloud_instances"

// cutOffWindow is how long a cut-off create is looked for: a cloud's
// listing by tags may lag its launch.
const cutOffWindow = 15 * time.Minute

// adoptFile holds the import blocks of an adoption, in the burst's
// directory (the root module) while it is applied.
const adoptFile = "spillway_adopt.tf"

// cutOffCreate is a create an apply died in.
type cutOffCreate struct {
	// Addr is the resource's address, which its instance is imported into.
	Addr string `json:"addr"`
	// Slot is the key's slot when it was cut off: the key may be dropped
	// (its launch ended) before its instance is found.
	Slot slot `json:"slot"`
	// At is when the apply died, by the provider's clock.
	At time.Time `json:"at"`
}

// declaresOutput says whether the module in dir declares output name.
func declaresOutput(dir, name string) bool {
	mod, diags := tfconfig.LoadModule(dir)
	if diags.HasErrors() || mod == nil {
		return false
	}
	_, ok := mod.Outputs[name]
	return ok
}

// recordCutOff keeps, in the ledger, each of the cut-off resources whose
// key is one of the burst's, and returns them.
func (b *burst) recordCutOff(l *ledger, resources []string) []string {
	var kept []string
	for _, addr := range resources {
		key := keyOf(addr, l.Slots)
		if key == "" {
			continue
		}
		if l.CutOff == nil {
			l.CutOff = map[string]*cutOffCreate{}
		}
		l.CutOff[key] = &cutOffCreate{Addr: addr, Slot: *l.Slots[key], At: b.p.opts.clock()}
		kept = append(kept, addr)
	}
	return kept
}

// adoptCutOff looks for the instances of the burst's cut-off creates and
// imports each found into its create's address (see lookupOutput). It
// fails nothing: what it cannot do now is logged and tried again on the
// next run, until the create's window ends.
func (b *burst) adoptCutOff(ctx context.Context, l *ledger) {
	if len(l.CutOff) == 0 {
		return
	}
	log := b.p.log.With("burst", b.key)
	defer b.giveUpCutOff(l)
	found, err := b.lookup(ctx, l)
	if err != nil {
		log.Warn("looking for the instances of cut-off creates failed; the next run on the burst looks again", "output", lookupOutput, "err", err)
		return
	}
	held, err := b.p.heldIDs(ctx, b.key)
	if err != nil {
		return
	}
	for _, o := range l.Outputs {
		held[o.ID] = heldID{burst: b.key}
	}
	imports := map[string]string{} // key → id
	// The instances found that cannot be imported, as "id (key K)": the
	// output may name any number, each run, so each kind is logged once a
	// run, counted, naming the first few.
	var unreadable, doubled []string
	for _, id := range sortedKeys(found) {
		key := found[id]
		if _, h := held[id]; l.CutOff[key] == nil || h {
			continue
		}
		if _, ok := hclString(id); !ok {
			unreadable = append(unreadable, fmt.Sprintf("%s (key %s)", strconv.Quote(id), key))
			continue
		}
		if _, taken := l.Outputs[key]; taken || imports[key] != "" {
			// The key has an instance already (made again before this
			// one was found, or found twice): this one cannot take its
			// address.
			doubled = append(doubled, fmt.Sprintf("%s (key %s)", id, key))
			continue
		}
		imports[key] = id
	}
	if len(unreadable) > 0 {
		log.Error("instances of cut-off creates were found with ids holding control characters or bytes that are not UTF-8: end them by hand",
			"count", len(unreadable), "ids", shownOf(unreadable, ", "), "output", lookupOutput)
	}
	if len(doubled) > 0 {
		log.Error("instances of cut-off creates were found whose keys have another instance: end them by hand",
			"count", len(doubled), "ids", shownOf(doubled, ", "), "output", lookupOutput)
	}
	if len(imports) == 0 {
		return
	}
	var blocks strings.Builder
	blocks.WriteString("# Written by Spillway: the instances of creates an apply died in, found by output." + lookupOutput + ".\n")
	for _, key := range sortedKeys(imports) {
		id, _ := hclString(imports[key])
		fmt.Fprintf(&blocks, "import {\n  to = %s\n  id = %s\n}\n", l.CutOff[key].Addr, id)
	}
	path := filepath.Join(b.dir, adoptFile)
	if err := os.WriteFile(path, []byte(blocks.String()), 0o600); err != nil {
		log.Warn("writing the import blocks of cut-off creates failed", "err", err)
		return
	}
	defer os.Remove(path)
	// Each key is wanted while its instance is imported (an import needs
	// the resource in the configuration); one no longer wanted is ended
	// by the run that follows.
	var unwanted []string
	for key := range imports {
		s, ok := l.Slots[key]
		switch {
		case !ok:
			c := l.CutOff[key].Slot
			c.Ending = false
			l.Slots[key] = &c
		case s.Ending:
			s.Ending = false
		default:
			continue
		}
		unwanted = append(unwanted, key)
	}
	_, err = b.applySlots(ctx, l)
	for _, key := range unwanted {
		if s, ok := l.Slots[key]; ok {
			s.Ending = true
		}
	}
	if err != nil {
		log.Warn("importing the instances of cut-off creates failed; the next run on the burst tries again", "imports", imports, "err", err)
		return
	}
	for _, key := range sortedKeys(imports) {
		what := "kept for its key"
		if _, ok := l.Outputs[key]; !ok {
			continue
		} else if slices.Contains(unwanted, key) {
			what = "ended with its key"
		}
		log.Warn("found the instance of a cut-off create: imported, "+what, "id", imports[key], "key", key, "address", l.CutOff[key].Addr)
		delete(l.CutOff, key)
	}
}

// giveUpCutOff forgets the cut-off creates looked for longer than
// cutOffWindow, logging each for the operator to look for by hand.
func (b *burst) giveUpCutOff(l *ledger) {
	now := b.p.opts.clock()
	for _, key := range sortedKeys(l.CutOff) {
		c := l.CutOff[key]
		if now.Sub(c.At) < cutOffWindow {
			continue
		}
		b.p.log.Error("the instance of a cut-off create was not found by the module's output: if the cloud made it, it runs untracked; "+
			"look for it by its tags and end it by hand",
			"burst", b.key, "key", key, "address", c.Addr, "cut_off_at", c.At, "output", lookupOutput, "tags", c.Slot.Tags)
		delete(l.CutOff, key)
	}
	if len(l.CutOff) == 0 {
		l.CutOff = nil
	}
}

// lookup plans the burst and reads the module's cloud_instances output
// from the plan: id → key. The plan's JSON (`terraform show -json`, which
// holds the state's values too) is read up to the provider's state bound.
func (b *burst) lookup(ctx context.Context, l *ledger) (map[string]string, error) {
	if err := b.writeVars(l); err != nil {
		return nil, err
	}
	if err := b.run(ctx, "lookup-plan", func(ctx context.Context, w io.Writer) error {
		_, err := b.plan(ctx, w)
		return err
	}); err != nil {
		return nil, err
	}
	var data []byte
	err := b.run(ctx, "show-plan", func(ctx context.Context, w io.Writer) error {
		var serr error
		data, _, serr = b.readCommand(ctx, w, b.p.opts.maxState, "show", "-no-color", "-json", planFile)
		return serr
	})
	if errors.Is(err, errOverLimit) {
		return nil, fmt.Errorf("the plan is over %s as `terraform show -json` prints it", sizeOf(b.p.opts.maxState))
	}
	if err != nil {
		return nil, err
	}
	var plan struct {
		PlannedValues struct {
			Outputs map[string]struct {
				Value json.RawMessage `json:"value"`
			} `json:"outputs"`
		} `json:"planned_values"`
	}
	if err := json.Unmarshal(data, &plan); err != nil {
		return nil, fmt.Errorf("read the plan: %w", err)
	}
	found := map[string]string{}
	if v := plan.PlannedValues.Outputs[lookupOutput].Value; len(v) > 0 && string(v) != "null" {
		if err := json.Unmarshal(v, &found); err != nil {
			return nil, fmt.Errorf("output %q: want a map of instance id to key (strings): %w", lookupOutput, err)
		}
	}
	return found, nil
}

// hclString is s as an HCL string literal: quoted, its template
// sequences escaped. A control character, or text that is not UTF-8 (an
// HCL file must be), is refused.
func hclString(s string) (string, bool) {
	if !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl) {
		return "", false
	}
	s = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "${", "$${", "%{", "%%{").Replace(s)
	return `"` + s + `"`, true
}
