package signalstest

import "testing"

func TestKept(t *testing.T) {
	for _, tt := range []struct {
		got, base []int
		upTo      int
		want      bool
	}{
		{nil, []int{1, 2}, 0, true},
		{[]int{2}, []int{1, 2}, 0, true},
		{[]int{2, 1}, []int{1, 2}, 0, false},
		{[]int{3}, []int{1, 2}, 0, false},
		{[]int{4, 2}, []int{1, 2}, 8, true},
		{[]int{16}, []int{1}, 8, false},
		{[]int{1, 1}, []int{1}, 8, false},
	} {
		if got := Kept(tt.got, tt.base, tt.upTo); got != tt.want {
			t.Errorf("Kept(%v, %v, %d) = %v, want %v", tt.got, tt.base, tt.upTo, got, tt.want)
		}
	}
}
