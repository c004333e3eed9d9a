package emulator

import (
	"net/url"
	"testing"
)

// FuzzPageToken: any NextToken a client sends is read without a panic;
// what is read as this listing's position is one the emulator could have
// answered (not negative, and a token made for it reads back the same);
// only a token of a known paged call is reported as another call's.
func FuzzPageToken(f *testing.F) {
	scope := newPageScope("ec2", "DescribeInstances", "us-east-1", url.Values{"Filter.1.Name": {"tag:spillway:pool"}}, func(string) bool { return true })
	other := newPageScope("ecs", "DescribeInstances", "cn-hangzhou", nil, func(string) bool { return true })
	for _, seed := range []string{
		"", "0", "x", scope.token(0), scope.token(7), other.token(3),
		"ZW11bGF0b3ItcGFnZTplYzIuRGVzY3JpYmVJbnN0YW5jZXM6eDotMQ", // emulator-page:ec2.DescribeInstances:x:-1
		"ZW11bGF0b3ItcGFnZTo6Ojo",                                // emulator-page::::
	} {
		f.Add(seed, 5)
	}
	f.Fuzz(func(t *testing.T, tok string, n int) {
		off, call, problem := scope.offset(tok)
		switch problem {
		case pageTokenOK:
			if off < 0 {
				t.Fatalf("token %q read as position %d", tok, off)
			}
		case pageTokenOtherCall:
			if !validTokenCall(call) || call == scope.call {
				t.Fatalf("token %q said to be of call %q", tok, call)
			}
		case pageTokenMalformed, pageTokenOtherList:
		default:
			t.Fatalf("token %q: unknown problem %d", tok, problem)
		}
		if n < 0 {
			n = -n
		}
		if n < 0 { // math.MinInt
			return
		}
		if got, _, p := scope.offset(scope.token(n)); p != pageTokenOK || got != n {
			t.Fatalf("a token made for position %d reads as %d (problem %d)", n, got, p)
		}
		if _, c, p := scope.offset(other.token(n)); p != pageTokenOtherCall || c != other.call {
			t.Fatalf("another call's token reads as problem %d, call %q", p, c)
		}
	})
}
