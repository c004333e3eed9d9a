package config

import (
	"fmt"
	"strings"
	"sync"
	"text/template"
)

// InstanceFields is what the pool's templates (user_data, join.agent_url,
// drain.command, drain.http.url) see of a burst instance, e.g.
// {{.PrivateIP}} or {{.Name}}.
type InstanceFields struct {
	// ID is the cloud's instance id; Name its host name as the on-prem
	// scheduler knows it.
	ID   string
	Name string
	// PrivateIP is the instance's private address.
	PrivateIP    string
	Zone         string
	InstanceType string
	// Provider is the provider entry's name; Region its region.
	Provider string
	Region   string
	// Pool and Cluster are the pool's and the installation's names; Burst
	// is the id of the burst the instance was launched for (its
	// spillway:burst tag).
	Pool    string
	Cluster string
	Burst   string
}

// sampleInstance is what templates are executed on at load time, so that
// a template naming a field that does not exist fails there and then.
var sampleInstance = InstanceFields{
	ID: "i-0123456789abcdef0", Name: "ip-10-0-0-7", PrivateIP: "10.0.0.7", Zone: "us-east-1a",
	InstanceType: "p5.48xlarge", Provider: "aws", Region: "us-east-1", Pool: "training",
	Cluster: "acme", Burst: "b-0001",
}

// templates caches parsed templates by their text.
var templates sync.Map // string -> *template.Template

func parseTemplate(text string) (*template.Template, error) {
	if t, ok := templates.Load(text); ok {
		return t.(*template.Template), nil
	}
	t, err := template.New("").Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, err
	}
	cached, _ := templates.LoadOrStore(text, t)
	return cached.(*template.Template), nil
}

// Render executes a template of the config (a pool's user_data,
// join.agent_url, an element of drain.command, drain.http.url) over an
// instance's fields. Parsed templates are cached, so calling it every tick
// is cheap. Templates from Load and Parse have been executed on a sample
// instance already: they fail here only if a field's value makes them fail.
func Render(tmpl string, f InstanceFields) (string, error) {
	t, err := parseTemplate(tmpl)
	if err != nil {
		return "", fmt.Errorf("template %q: %w", tmpl, err)
	}
	var b strings.Builder
	if err := t.Execute(&b, f); err != nil {
		return "", fmt.Errorf("template %q: %w", tmpl, err)
	}
	return b.String(), nil
}

// UserDataTemplate returns the bootstrap template for an instance of pool p
// launched through provider pc: the pool's user_data, else the provider's.
func (p *Pool) UserDataTemplate(pc ProviderConfig) string {
	if p.UserData != "" {
		return p.UserData
	}
	return pc.UserData
}

// checkTemplate parses and executes tmpl on the sample instance and says
// what is wrong in words, naming the fields a template may use.
func checkTemplate(tmpl string) (string, error) {
	t, err := parseTemplate(tmpl)
	if err != nil {
		return "", fmt.Errorf("bad template: %s", strings.TrimPrefix(err.Error(), "template: :"))
	}
	var b strings.Builder
	if err := t.Execute(&b, sampleInstance); err != nil {
		msg := strings.TrimPrefix(err.Error(), "template: :")
		return "", fmt.Errorf("template fails on a sample instance: %s; the fields are %s", msg, instanceFieldNames)
	}
	return b.String(), nil
}

const instanceFieldNames = "{{.ID}}, {{.Name}}, {{.PrivateIP}}, {{.Zone}}, {{.InstanceType}}, {{.Provider}}, {{.Region}}, {{.Pool}}, {{.Cluster}} and {{.Burst}}"
