package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/spillway-io/spillway/config"
)

// policyCredentials says where the SDK of provider pc would find
// credentials on this machine (the profile its profile: names, or its
// type's default chain), as far as it can tell without calling
// anything (an instance or RAM role is only known by asking for it): a
// config that validates is no use to a server that cannot sign a call,
// and its log would say so only once it runs. "" for terraform, whose
// module's providers read their own.
func policyCredentials(ctx context.Context, pc config.ProviderConfig, getenv func(string) string, exists func(string) bool) string {
	t := pc.Type
	home := getenv("HOME")
	file := func(env, def string) string {
		if f := getenv(env); f != "" {
			return f
		}
		if home == "" {
			return ""
		}
		return filepath.Join(home, def)
	}
	if pc.Profile != "" {
		return policyProfile(ctx, pc, file, exists)
	}
	switch t {
	case config.ProviderAWS:
		switch {
		case getenv("AWS_ACCESS_KEY_ID") != "" && getenv("AWS_SECRET_ACCESS_KEY") != "":
			return "from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
		case getenv("AWS_ACCESS_KEY_ID") != "":
			return "AWS_ACCESS_KEY_ID is set without AWS_SECRET_ACCESS_KEY: set both"
		case getenv("AWS_PROFILE") != "":
			return fmt.Sprintf("from profile %s (AWS_PROFILE)", getenv("AWS_PROFILE"))
		case getenv("AWS_WEB_IDENTITY_TOKEN_FILE") != "":
			return "from a web identity (AWS_WEB_IDENTITY_TOKEN_FILE)"
		case getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") != "" || getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI") != "":
			return "from the container's credentials endpoint"
		}
		for _, f := range []string{file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials"), file("AWS_CONFIG_FILE", ".aws/config")} {
			if f != "" && exists(f) {
				return "from the default profile of " + f
			}
		}
		return "none in the environment or shared files: spillway server needs an instance role here, " +
			"or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE"
	case config.ProviderAlicloud:
		switch {
		case getenv("ALIBABA_CLOUD_ACCESS_KEY_ID") != "" && getenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET") != "":
			return "from ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET"
		case getenv("ALIBABA_CLOUD_ACCESS_KEY_ID") != "":
			return "ALIBABA_CLOUD_ACCESS_KEY_ID is set without ALIBABA_CLOUD_ACCESS_KEY_SECRET: set both"
		case getenv("ALIBABA_CLOUD_ECS_METADATA") != "":
			return fmt.Sprintf("from the RAM role %s (ALIBABA_CLOUD_ECS_METADATA)", getenv("ALIBABA_CLOUD_ECS_METADATA"))
		}
		for _, f := range []string{file("ALIBABA_CLOUD_CREDENTIALS_FILE", ".alibabacloud/credentials"), file("ALIBABA_CLOUD_CONFIG_FILE", ".aliyun/config.json")} {
			if f != "" && exists(f) {
				return "from " + f
			}
		}
		return "none in the environment or credentials files: spillway server needs a RAM role here, " +
			"or ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET"
	}
	return ""
}

// policyProfile says where the profile a provider names (profile:) is
// and what it gives, as far as the SDK's shared files tell without a
// call: AWS's through the SDK's own loader (keys, a role to assume, SSO, a
// credential_process), Alibaba's by the section in its credentials file.
func policyProfile(ctx context.Context, pc config.ProviderConfig, file func(env, def string) string, exists func(string) bool) string {
	name := fmt.Sprintf("profile %s (profile:)", pc.Profile)
	switch pc.Type {
	case config.ProviderAWS:
		cfgFile, credFile := file("AWS_CONFIG_FILE", ".aws/config"), file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials")
		where := fmt.Sprintf("%s or %s", cfgFile, credFile)
		sc, err := awsconfig.LoadSharedConfigProfile(ctx, pc.Profile, func(o *awsconfig.LoadSharedConfigOptions) {
			o.ConfigFiles, o.CredentialsFiles = []string{cfgFile}, []string{credFile}
		})
		var missing awsconfig.SharedConfigProfileNotExistError
		switch {
		case errors.As(err, &missing):
			return fmt.Sprintf("%s is in neither %s: spillway server refuses to start; add the profile there, or name one they have", name, where)
		case err != nil:
			return fmt.Sprintf("%s in %s cannot be read: %v", name, where, err)
		case sc.RoleARN != "":
			return fmt.Sprintf("from %s in %s, assuming role %s", name, where, sc.RoleARN)
		case sc.SSOSessionName != "" || sc.SSOStartURL != "":
			return fmt.Sprintf("from %s in %s, through SSO", name, where)
		case sc.CredentialProcess != "":
			return fmt.Sprintf("from %s in %s, through its credential_process", name, where)
		case sc.Credentials.HasKeys():
			return fmt.Sprintf("from %s in %s, its access keys", name, where)
		}
		return fmt.Sprintf("%s in %s has no access keys, role_arn, SSO or credential_process: every call the server makes would fail", name, where)
	case config.ProviderAlicloud:
		f := file("ALIBABA_CLOUD_CREDENTIALS_FILE", ".alibabacloud/credentials")
		switch {
		case f == "" || !exists(f):
			return fmt.Sprintf("%s: the credentials file %s does not exist here: every call the server makes would fail; write the profile there (type access_key, ram_role_arn or ecs_ram_role)", name, f)
		case !policyIniHasSection(f, pc.Profile):
			return fmt.Sprintf("%s is not a section of %s: every call the server makes would fail; add [%s] there, or name one it has", name, f, pc.Profile)
		}
		return fmt.Sprintf("from %s of %s", name, f)
	}
	return ""
}

// policyIniHasSection reports whether the INI file at path has a section
// [name] in its first MiB.
func policyIniHasSection(path, name string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, 1<<20))
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "["+name+"]" {
			return true
		}
	}
	return false
}
