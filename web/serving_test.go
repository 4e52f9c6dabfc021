package web

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/grant-go/grant"
)

func TestStatusSaysWhatEachShardServes(t *testing.T) {
	p := grant.PlacementSnapshot{Version: 4, Read: []string{"s0", "s1"}, Write: []string{"s0", "s1", "s2"}, Active: true, Frozen: true}
	assert.Equal(t, " · placement version 4, writes to moving keys frozen", serving(p, "s0"))
	assert.Equal(t, ", serves writes only · placement version 4, writes to moving keys frozen", serving(p, "s2"))
	assert.Equal(t, ", pending: serves no keys", serving(grant.PlacementSnapshot{Read: []string{"s0"}, Write: []string{"s0"}}, "s1"))
	assert.Equal(t, ", serves reads only · placement version 2, fenced: this instance cannot read its placement",
		serving(grant.PlacementSnapshot{Version: 2, Read: []string{"s1"}, Write: []string{"s0"}, Fenced: true}, "s1"))
}
