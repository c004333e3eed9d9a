package config

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// maxTFValueNodes bounds one Terraform variable's value in the config.
const maxTFValueNodes = 10000

// TFValue is a Terraform variable's value as written in YAML: a string,
// number, bool, list or map, passed to the module as JSON (tfvars.json).
type TFValue struct{ V any }

// UnmarshalYAML takes any plain YAML value; anchors and aliases are refused
// (they could expand without bound) and the value is at most 10,000 nodes.
func (t *TFValue) UnmarshalYAML(n *yaml.Node) error {
	count := 0
	var walk func(*yaml.Node) error
	walk = func(n *yaml.Node) error {
		count++
		if count > maxTFValueNodes {
			return fmt.Errorf("value has more than %d elements: pass a smaller value or a file path", maxTFValueNodes)
		}
		if n.Kind == yaml.AliasNode || n.Anchor != "" {
			return fmt.Errorf("anchors and aliases are not allowed in a Terraform variable's value: write it out")
		}
		for _, c := range n.Content {
			if err := walk(c); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(n); err != nil {
		return err
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return fmt.Errorf("not a value Terraform takes: %w", err)
	}
	t.V = v
	return nil
}

// MarshalYAML writes the value back.
func (t TFValue) MarshalYAML() (any, error) { return t.V, nil }
