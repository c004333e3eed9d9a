package policy

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// UnmarshalYAML reads a Go duration string such as "90s", "5m" or "1h30m".
// Its error is a message for people, without position: the config decoder
// puts it next to the field's path, line and column.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// durationSyntax matches what time.ParseDuration reads; a value it matches
// that time.ParseDuration refuses is too large.
var durationSyntax = regexp.MustCompile(`^[-+]?(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+$`)

// ParseDuration reads a YAML scalar holding a Go duration string, with the
// message a person needs when it is not one.
func ParseDuration(n *yaml.Node) (time.Duration, error) {
	if n.Kind != yaml.ScalarNode {
		return 0, errors.New("want a duration such as 90s, 5m or 1h30m, got " + kindName(n))
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		if durationSyntax.MatchString(n.Value) {
			// Written as a duration, but past what one holds.
			return 0, fmt.Errorf("duration %q is out of range: a duration holds at most %s (about 292 years)", n.Value, time.Duration(math.MaxInt64).Truncate(time.Hour))
		}
		msg := fmt.Sprintf("bad duration %q: use a Go duration such as 90s, 5m or 1h30m", n.Value)
		if strings.HasSuffix(strings.TrimSpace(n.Value), "d") {
			msg += " (there is no day unit: write 24h for a day)"
		}
		return 0, errors.New(msg)
	}
	return v, nil
}

// MarshalYAML writes the duration as a Go duration string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// UnmarshalYAML reads "auto" or a Go duration string.
func (s *IdleSetting) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New(`want "auto" or a duration such as 10m, got ` + kindName(n))
	}
	if n.Value == "auto" {
		*s = IdleSetting{Auto: true}
		return nil
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf(`bad idle setting %q: use "auto" (break-even from boot time and price) or a Go duration such as 90s, 5m or 1h30m`, n.Value)
	}
	*s = IdleSetting{Duration: v, Fixed: true}
	return nil
}

// MarshalYAML writes "auto" or the duration.
func (s IdleSetting) MarshalYAML() (any, error) {
	if s.IsAuto() {
		return "auto", nil
	}
	return s.Duration.String(), nil
}

// kindName describes a node for "want X, got Y" messages.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "nothing"
}
