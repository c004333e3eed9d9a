package config

import (
	"fmt"
	"math"

	"gopkg.in/yaml.v3"
)

// maxTFValueNodes bounds one Terraform variable's value in the config.
const maxTFValueNodes = 10000

// TFValue is a Terraform variable's value as written in YAML: a string,
// number, bool, list or map, passed to the module as JSON (tfvars.json).
type TFValue struct{ V any }

// nodeError is a problem at a node inside a value an UnmarshalYAML reads,
// so that the decoder reports that node's line and column.
type nodeError struct {
	node *yaml.Node
	msg  string
}

func (e *nodeError) Error() string { return e.msg }

// UnmarshalYAML takes any plain YAML value that JSON can carry; anchors
// and aliases are refused (they could expand without bound) and the value
// is at most 10,000 nodes. A date is passed as written; map keys are
// passed as the text written; .nan, .inf, keys that are lists or
// mappings, keys written twice, tags other than YAML's own and a whole
// number with a leading zero (read as octal) are refused.
func (t *TFValue) UnmarshalYAML(n *yaml.Node) error {
	count := 0
	v, err := tfValue(n, &count)
	if err != nil {
		return err
	}
	t.V = v
	return nil
}

func tfValue(n *yaml.Node, count *int) (any, error) {
	*count++
	if *count > maxTFValueNodes {
		return nil, fmt.Errorf("value has more than %d elements: pass a smaller value or a file path", maxTFValueNodes)
	}
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		return nil, &nodeError{n, "anchors and aliases are not allowed in a Terraform variable's value: write it out"}
	}
	tag := n.ShortTag()
	if !cfgPlainTags[tag] {
		return nil, &nodeError{n, fmt.Sprintf("tag %s is not supported: a Terraform variable's value holds plain text, numbers, true/false, lists and mappings; remove the tag", tag)}
	}
	switch n.Kind {
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := tfValue(c, count)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			*count++
			switch {
			case k.Kind != yaml.ScalarNode:
				return nil, &nodeError{k, "a Terraform map's key is a name: want text, got " + cfgKindName(k)}
			case k.ShortTag() == "!!merge":
				return nil, &nodeError{k, "merge keys (<<) are not allowed in a Terraform variable's value: write it out"}
			case !cfgPlainTags[k.ShortTag()]:
				return nil, &nodeError{k, fmt.Sprintf("tag %s is not supported: a Terraform map's key is a name; remove the tag", k.ShortTag())}
			}
			if _, dup := out[k.Value]; dup {
				return nil, &nodeError{k, fmt.Sprintf("key %q is set twice in this mapping: which one counts is a guess; keep one", k.Value)}
			}
			v, err := tfValue(n.Content[i+1], count)
			if err != nil {
				return nil, err
			}
			out[k.Value] = v
		}
		return out, nil
	case yaml.ScalarNode:
	default:
		return nil, &nodeError{n, "not a value Terraform takes: want text, a number, true/false, a list or a mapping"}
	}
	switch tag {
	case "!!str", "!!timestamp":
		return n.Value, nil // a date as written: Terraform has no date type
	case "!!null":
		return nil, nil
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, &nodeError{n, fmt.Sprintf("not a value Terraform takes: %v", err)}
	}
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, &nodeError{n, fmt.Sprintf("%s is not a number Terraform can read: want a finite number, or \"%s\" in quotes for text", n.Value, n.Value)}
		}
	case int:
		if msg := cfgLeadingZero(n, float64(x)); msg != "" {
			return nil, &nodeError{n, msg + ", or \"" + n.Value + "\" in quotes for text"}
		}
	}
	return v, nil
}

// MarshalYAML writes the value back.
func (t TFValue) MarshalYAML() (any, error) { return t.V, nil }
