package providers

import (
	"errors"
	"strconv"
	"testing"
)

func TestPageTokensStopsARepeatOrACycle(t *testing.T) {
	tests := []struct {
		name   string
		tokens []string // the NextToken of each page, in order
		code   string   // the TransientError's code at the last page; "" = the listing ends well
	}{
		{"one page", []string{""}, ""},
		{"three pages", []string{"a", "b", ""}, ""},
		{"the same token twice", []string{"a", "a"}, "RepeatedNextToken"},
		{"a cycle", []string{"a", "b", "c", "a"}, "RepeatedNextToken"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var pt PageTokens
			for i, tok := range tc.tokens {
				more, err := pt.Next("p", "DescribeInstances", tok)
				last := i == len(tc.tokens)-1
				if !last {
					if !more || err != nil {
						t.Fatalf("page %d (token %q): more %v, err %v; want the next page", i+1, tok, more, err)
					}
					continue
				}
				var te *TransientError
				switch {
				case tc.code == "" && (more || err != nil):
					t.Fatalf("last page: more %v, err %v; want the listing to end", more, err)
				case tc.code != "" && (!errors.As(err, &te) || te.Code != tc.code || more):
					t.Fatalf("last page (token %q): more %v, err %v; want a *TransientError %s", tok, more, err, tc.code)
				}
			}
		})
	}
}

func TestPageTokensBoundsAnEndlessListing(t *testing.T) {
	var pt PageTokens
	for i := 1; i < MaxPages; i++ {
		if more, err := pt.Next("p", "DescribeInstances", strconv.Itoa(i)); !more || err != nil {
			t.Fatalf("page %d: more %v, err %v", i, more, err)
		}
	}
	var te *TransientError
	if _, err := pt.Next("p", "DescribeInstances", "fresh"); !errors.As(err, &te) || te.Code != "TooManyPages" {
		t.Fatalf("page %d: err %v, want a *TransientError TooManyPages", MaxPages, err)
	}
}
