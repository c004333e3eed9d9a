package config

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// providerProblem is one thing wrong with a provider entry.
type providerProblem struct {
	// Field is relative to the entry (e.g. "subnets[0].zone").
	Field string
	Msg   string
	// serverOnly problems stop the server from launching but not a
	// backtest, which never calls the cloud (e.g. no subnets).
	serverOnly bool
}

// cfgProviderTypeNames are the names people give the clouds spillway's
// provider types are: Alibaba Cloud as alibaba or aliyun, AWS as ec2.
var cfgProviderTypeNames = map[string]ProviderType{
	"aws": ProviderAWS, "ec2": ProviderAWS, "amazon": ProviderAWS, "aws-ec2": ProviderAWS,
	"alicloud": ProviderAlicloud, "alibaba": ProviderAlicloud, "alibabacloud": ProviderAlicloud, "alibaba-cloud": ProviderAlicloud,
	"aliyun": ProviderAlicloud, "ali": ProviderAlicloud, "ecs": ProviderAlicloud,
	"terraform": ProviderTerraform, "tf": ProviderTerraform, "opentofu": ProviderTerraform,
}

// regionName is the form of a cloud region's name: us-east-1, cn-hangzhou.
var regionName = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// profileName is the form of a profile's name in the SDKs' shared files.
var profileName = regexp.MustCompile(`^[A-Za-z0-9_.@+-]+$`)

// cfgProfileFiles names the files a profile of type t is read from.
func cfgProfileFiles(t ProviderType) string {
	if t == ProviderAlicloud {
		return "~/.alibabacloud/credentials (ALIBABA_CLOUD_CREDENTIALS_FILE)"
	}
	return "~/.aws/config or ~/.aws/credentials (AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE)"
}

// problems checks which settings each provider type takes, in one place:
// Parse reports every problem but the server-only ones, ValidateForServer
// and Check all of them.
func (pc ProviderConfig) problems() []providerProblem {
	var ps []providerProblem
	add := func(serverOnly bool, field, format string, args ...any) {
		ps = append(ps, providerProblem{Field: field, Msg: fmt.Sprintf(format, args...), serverOnly: serverOnly})
	}
	switch {
	case pc.Type == "":
		add(false, "type", "missing required field: valid types are %s", cfgJoinEnum(cfgProviderTypes))
	case !slices.Contains(cfgProviderTypes, pc.Type):
		msg := fmt.Sprintf("unknown provider type %q", pc.Type)
		if t, ok := cfgProviderTypeNames[strings.ToLower(string(pc.Type))]; ok {
			msg += fmt.Sprintf(" (did you mean %q?)", t)
		}
		add(false, "type", "%s: valid types are %s", msg, cfgJoinEnum(cfgProviderTypes))
	}
	cloud := pc.Type == ProviderAWS || pc.Type == ProviderAlicloud
	switch {
	case pc.Region == "" && cloud:
		add(false, "region", "missing required field: an %s provider serves one region, e.g. region: %s", pc.Type, cfgExampleRegion(pc.Type))
	case pc.Region != "" && (len(pc.Region) > 64 || !regionName.MatchString(pc.Region)):
		// The SDKs put the region in host names and signatures: 'US
		// EAST' or '${AWS_REGION}' (not read from the environment) made
		// every tick fail as if the cloud were briefly unreachable.
		add(false, "region", "region %q is not a region's name: want lowercase letters, digits and hyphens, at most 64, e.g. region: %s (it is not read from the environment: write it out)", pc.Region, cfgExampleRegion(pc.Type))
	}
	switch {
	case pc.Profile == "":
	case !cloud && pc.Type != "":
		add(false, "profile", "profile is only for providers of type aws and alicloud, not %s: a Terraform module's providers read their own credentials (e.g. AWS_PROFILE in the server's environment)", pc.Type)
	case len(pc.Profile) > 128 || !profileName.MatchString(pc.Profile):
		add(false, "profile", "profile %q is not a profile's name: want letters, digits and _ . @ + - (at most 128), the name of a profile in %s, e.g. profile: prod", pc.Profile, cfgProfileFiles(pc.Type))
	}
	if pc.Endpoint != "" {
		u, err := url.Parse(pc.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add(false, "endpoint", "bad endpoint %q: want an http:// or https:// URL such as http://127.0.0.1:8780", pc.Endpoint)
		}
	}
	for i, s := range pc.Subnets {
		sp := fmt.Sprintf("subnets[%d]", i)
		if s.Zone == "" {
			add(false, sp+".zone", "missing required field: the zone the subnet or vSwitch is in, e.g. zone: %s", cfgExampleZone(pc.Type))
		}
		if s.ID == "" {
			add(false, sp+".id", "missing required field: the subnet (AWS) or vSwitch (Alibaba) id")
		}
	}
	for i, g := range pc.SecurityGroups {
		if strings.TrimSpace(g) == "" {
			add(false, fmt.Sprintf("security_groups[%d]", i), "empty security group id: remove it or write the group's id")
		}
	}
	switch pc.Type {
	case ProviderTerraform:
		if pc.Module == "" {
			add(false, "module", "missing required field: a terraform provider needs the directory of its Terraform module")
		}
		if len(pc.Zones) == 0 {
			add(true, "zones", "missing required field: the server launches into zones tried in order, e.g. zones: [us-east-1a]")
		}
		for i, z := range pc.Zones {
			if strings.TrimSpace(z) == "" || slices.Index(pc.Zones, z) != i {
				add(false, fmt.Sprintf("zones[%d]", i), "zone %q is empty or repeated: list each zone once", z)
			}
		}
	case ProviderAWS, ProviderAlicloud:
		if pc.Module != "" {
			add(false, "module", "module is only for providers of type terraform, not %s", pc.Type)
		}
		if len(pc.Zones) > 0 {
			add(false, "zones", "zones is only for providers of type terraform, not %s: list subnets with their zones instead", pc.Type)
		}
		for _, f := range []struct {
			name string
			set  bool
		}{{"variables", len(pc.Variables) > 0}, {"backend_config", len(pc.BackendConfig) > 0}, {"work_dir", pc.WorkDir != ""}} {
			if f.set {
				add(false, f.name, "%s is only for providers of type terraform, not %s", f.name, pc.Type)
			}
		}
		// Both SDK providers launch into a subnet (vSwitch) and boot an
		// image or a launch template (an id or a name, AWS and Alibaba
		// alike); a backtest needs neither.
		if len(pc.Subnets) == 0 {
			what := "subnet"
			if pc.Type == ProviderAlicloud {
				what = "vSwitch"
			}
			add(true, "subnets", "missing required field: the server launches into a %s: list at least one as {zone: %s, id: ...}", what, cfgExampleZone(pc.Type))
		}
		if pc.LaunchTemplate == "" && pc.Image == "" {
			img := "an AMI (ami-...)"
			if pc.Type == ProviderAlicloud {
				img = "an image id (m-...)"
			}
			add(true, "image", "missing required field: the server boots an image or a launch template: set image to %s or launch_template to a template id (lt-...) or name", img)
		}
	}
	return ps
}

func cfgExampleRegion(t ProviderType) string {
	if t == ProviderAlicloud {
		return "cn-hangzhou"
	}
	return "us-east-1"
}

func cfgExampleZone(t ProviderType) string {
	if t == ProviderAlicloud {
		return "cn-hangzhou-i"
	}
	return "us-east-1a"
}

// ErrProvider is wrapped by Check's errors.
var ErrProvider = errors.New("invalid provider settings")

// Check reports every setting of a provider entry that stops the server
// from launching through it (the entry's name only labels the message), as
// one error wrapping ErrProvider; nil when there is none. Providers' New
// call it, so a config and a provider built in code are held to the same
// rules.
func (pc ProviderConfig) Check(name string) error {
	ps := pc.problems()
	if len(ps) == 0 {
		return nil
	}
	msgs := make([]string, len(ps))
	for i, p := range ps {
		msgs[i] = p.Field + ": " + p.Msg
	}
	return fmt.Errorf("%w: provider %q: %s", ErrProvider, name, strings.Join(msgs, "; "))
}

// awsZoneRegion reads the region out of an AWS zone's name: us-east-1 of
// us-east-1a and of the Local Zone us-east-1-bos-1a.
var awsZoneRegion = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+`)

// awsZoneID is the form of an AWS zone ID (use1-az1), which names the same
// zone in every account where a zone's name (us-east-1a) does not.
var awsZoneID = regexp.MustCompile(`^[a-z]{2,5}[0-9]+-az[0-9]+$`)

// aliZoneRegion reads the region out of an Alibaba zone's name:
// cn-hangzhou of cn-hangzhou-h, ap-southeast-1 of ap-southeast-1a.
var aliZoneRegion = regexp.MustCompile(`^(.+?)(-[a-z]|[a-z])$`)

// checkZoneRegion checks that a subnet's zone lies in its provider's region.
// AWS and Alibaba name every zone after its region (us-east-1a,
// us-east-1-bos-1a, cn-hangzhou-h), so a zone outside it is a typo in one
// of the two: region: us-east1 beside zone us-east-1a was valid, and the
// server's every call went to a cloud endpoint that does not exist, each
// tick failing as if the cloud were briefly unreachable.
func (v *cfgValidator) checkZoneRegion(path string, pc ProviderConfig, zone string) {
	if (pc.Type != ProviderAWS && pc.Type != ProviderAlicloud) || zone == "" ||
		pc.Region == "" || !regionName.MatchString(pc.Region) || zoneInRegion(zone, pc.Region) {
		return
	}
	cloud := cfgCloudName(pc.Type)
	switch {
	case zone == pc.Region:
		v.errf(path, "zone %q is the region's name, not a zone's: write the subnet's zone, its region's name and a letter, e.g. %sa", zone, pc.Region)
		return
	case pc.Type == ProviderAWS && awsZoneID.MatchString(zone):
		v.errf(path, "zone %q is a zone ID: write the zone's name (a subnet's AvailabilityZone, not its AvailabilityZoneId), e.g. %sa", zone, pc.Region)
		return
	}
	if r := zoneRegion(pc.Type, zone); r != "" && r != pc.Region {
		v.errf(path, "zone %q is not in the provider's region %q: %s names each zone after its region, and %s is a zone of %s: fix the region (region: %s) or the subnet's zone", zone, pc.Region, cloud, zone, r, r)
		return
	}
	v.errf(path, "zone %q is not in the provider's region %q: %s names each zone after its region (%s is a zone of %s): fix the region or the subnet's zone", zone, pc.Region, cloud, cfgExampleZone(pc.Type), cfgExampleRegion(pc.Type))
}

// zoneInRegion says whether zone is named as one of region's zones: the
// region's name, then a letter or a hyphen (us-east-1a, not us-east-10a).
func zoneInRegion(zone, region string) bool {
	rest, ok := strings.CutPrefix(zone, region)
	return ok && rest != "" && (rest[0] == '-' || rest[0] >= 'a' && rest[0] <= 'z')
}

// zoneRegion is the region a zone's name says it lies in, "" when the
// name does not read as a zone of t.
func zoneRegion(t ProviderType, zone string) string {
	if t == ProviderAWS {
		return awsZoneRegion.FindString(zone)
	}
	if m := aliZoneRegion.FindStringSubmatch(zone); m != nil && strings.Contains(m[1], "-") && regionName.MatchString(m[1]) {
		return m[1]
	}
	return ""
}

func cfgCloudName(t ProviderType) string {
	if t == ProviderAlicloud {
		return "Alibaba Cloud"
	}
	return "AWS"
}
