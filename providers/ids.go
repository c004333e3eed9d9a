package providers

// UniqueIDs is ids without empty ids and repeats, in their order: a
// Describe or Terminate asked for an id twice would otherwise get (and
// count) its instance twice from a cloud that answers per id.
func UniqueIDs(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if id != "" && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
