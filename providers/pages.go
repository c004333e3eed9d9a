package providers

import "fmt"

// MaxPages bounds how many pages one paginated listing reads: at the
// clouds' smallest page sizes (EC2's 5, ECS's 10 as Spillway asks 100) it
// is more instances than any account's quota allows.
const MaxPages = 10_000

// PageTokens follows the NextTokens of one paginated listing and stops it
// when the cloud answers a token it already answered (the same token twice,
// or a cycle) or past MaxPages: such a listing would never end, and cutting
// it short silently would hand its caller a partial list that it takes for
// complete (the instances left out taken for vanished, their budget freed,
// replacements launched). The zero value is ready to use.
type PageTokens struct {
	seen  map[string]bool
	pages int
}

// Next records the token the cloud answered for the next page. It returns
// whether there is a next page (token not empty), or a *TransientError
// naming the provider, the call and the token when the listing cannot be
// trusted to be complete.
func (pt *PageTokens) Next(provider, call, token string) (bool, error) {
	pt.pages++
	if token == "" {
		return false, nil
	}
	if pt.seen[token] {
		return false, &TransientError{Provider: provider, Code: "RepeatedNextToken", Err: fmt.Errorf(
			"%s answered page %d with the NextToken %q it had already answered: the listing would never end, so it is not taken as complete; the next tick lists again",
			call, pt.pages, clip(token))}
	}
	if pt.pages >= MaxPages {
		return false, &TransientError{Provider: provider, Code: "TooManyPages", Err: fmt.Errorf(
			"%s still answered a NextToken after %d pages (at most %d are read): the listing is not taken as complete; the next tick lists again",
			call, pt.pages, MaxPages)}
	}
	if pt.seen == nil {
		pt.seen = map[string]bool{}
	}
	pt.seen[token] = true
	return true, nil
}

// clip shortens a token quoted in an error to at most 64 bytes.
func clip(s string) string {
	if len(s) <= 64 {
		return s
	}
	return s[:64] + "..."
}
