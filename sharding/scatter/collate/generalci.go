package collate

import "sync"

//go:generate go run ./internal/gen -o generalci_table.go

// weightRun is one line of the measured general_ci table: the code points
// lo, lo+step, …, hi, of which lo weighs w and each next one weighs w plus
// its distance from lo, or w again when same is set. Code points in no run
// weigh themselves.
type weightRun struct {
	lo, hi uint16
	step   uint8
	w      uint16
	same   bool
}

// generalCITable returns the weight of every BMP code point, expanded from
// generalCIRuns on first use (128 KiB, shared and never written again).
var generalCITable = sync.OnceValue(func() *[0x10000]uint16 {
	var t [0x10000]uint16
	for i := range t {
		t[i] = uint16(i)
	}
	for _, r := range generalCIRuns {
		for cp := int(r.lo); cp <= int(r.hi); cp += int(r.step) {
			w := r.w
			if !r.same {
				w += uint16(cp - int(r.lo))
			}
			t[cp] = w
		}
	}
	return &t
})
