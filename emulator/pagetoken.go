package emulator

import (
	"encoding/base64"
	"encoding/hex"
	"hash/fnv"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// A page token names the listing it continues: the API and action that
// answered it, and a digest of the region and the parameters that chose
// the listing's items (filters, ids, tags; not the page size). EC2's and
// ECS's tokens are opaque and bound to the request that answered them:
// one given to another action, another region or another selection is
// refused, where an offset alone would page some other listing from a
// position it never had (items skipped or listed twice, with success).
type pageScope struct {
	call   string // "ec2.DescribeInstances", "ecs.DescribeInstances"
	digest string // of the region and the selecting parameters
}

// newPageScope is the scope of a listing by api's action in region,
// selected by the parameters of p that selecting reports.
func newPageScope(api, action, region string, p url.Values, selecting func(key string) bool) pageScope {
	var keys []string
	for k := range p {
		if selecting(k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	h := fnv.New64a()
	h.Write([]byte(region))
	for _, k := range keys {
		h.Write([]byte{0})
		h.Write([]byte(k))
		for _, v := range p[k] {
			h.Write([]byte{1})
			h.Write([]byte(v))
		}
	}
	return pageScope{call: api + "." + action, digest: hex.EncodeToString(h.Sum(nil))}
}

const pageTokenPrefix = "emulator-page:"

// token encodes a listing position in s; it is opaque to clients.
func (s pageScope) token(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte(pageTokenPrefix + s.call + ":" + s.digest + ":" + strconv.Itoa(offset)))
}

// pageTokenProblem says why a token is not one of s's.
type pageTokenProblem int

const (
	pageTokenOK        pageTokenProblem = iota
	pageTokenMalformed                  // not a token the emulator answered
	pageTokenOtherCall                  // answered by another action or API
	pageTokenOtherList                  // answered for another region or selection
)

// offset reads tok as a position in s's listing. For pageTokenOtherCall
// it also returns the call that answered tok.
func (s pageScope) offset(tok string) (int, string, pageTokenProblem) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, "", pageTokenMalformed
	}
	rest, ok := strings.CutPrefix(string(b), pageTokenPrefix)
	if !ok {
		return 0, "", pageTokenMalformed
	}
	parts := strings.Split(rest, ":")
	if len(parts) != 3 {
		return 0, "", pageTokenMalformed
	}
	off, err := strconv.Atoi(parts[2])
	if err != nil || off < 0 || parts[2] != strconv.Itoa(off) {
		return 0, "", pageTokenMalformed
	}
	switch {
	case parts[0] != s.call:
		if !validTokenCall(parts[0]) {
			return 0, "", pageTokenMalformed
		}
		return 0, parts[0], pageTokenOtherCall
	case parts[1] != s.digest:
		return 0, "", pageTokenOtherList
	}
	return off, "", pageTokenOK
}

// pagedCalls are the calls that answer page tokens: a token naming one
// of them may be echoed in a message.
var pagedCalls = map[string]bool{
	"ec2.DescribeInstances": true, "ec2.DescribeInstanceStatus": true, "ec2.DescribeSubnets": true,
	"ec2.DescribeSpotInstanceRequests": true, "ecs.DescribeInstances": true,
}

func validTokenCall(call string) bool { return pagedCalls[call] }

// apiName is how a message names the API of a token's call.
func apiName(call string) string {
	api, action, _ := strings.Cut(call, ".")
	switch api {
	case "ec2":
		return "EC2 " + action
	case "ecs":
		return "ECS " + action
	}
	return call
}
