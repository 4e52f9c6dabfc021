package grant_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"gorm.io/gorm"

	"github.com/grant-go/grant"
)

// direct runs creates outside GORM's default transaction: database/sql's
// transaction goroutine allocates at times of its own choosing, which
// would make the counts vary by one between runs.
func direct(db *gorm.DB) *gorm.DB { return db.Session(&gorm.Session{SkipDefaultTransaction: true}) }

// TestRoutingAddsNoAllocations: grant's routing allocates nothing per
// statement — the same calls allocate as often on plain GORM as under
// grant (role routing, scopes, contexts, keyed reads and creates). Counts
// are exact, not timed; the no-op driver answers every statement.
func TestRoutingAddsNoAllocations(t *testing.T) {
	handles, shardHandles := benchHandles(t), benchShardHandles(t)
	ctx := grant.ConnectedTo(context.Background(), grant.Connection{Role: grant.Writing})
	cases := []struct {
		name    string
		handles map[string]*gorm.DB
		op      func(db *gorm.DB) error
	}{
		{"First", handles, func(db *gorm.DB) error { var u benchUser; return db.First(&u, 1).Error }},
		{"Create", handles, func(db *gorm.DB) error { return direct(db).Create(&benchUser{Name: "n"}).Error }},
		{"Role scope", handles, func(db *gorm.DB) error {
			var u benchUser
			return db.Scopes(grant.Role(grant.Writing)).First(&u, 1).Error
		}},
		{"custom role scope", handles, func(db *gorm.DB) error {
			var u benchUser
			return db.Scopes(grant.Role(grant.Reading), grant.UseDatabase("primary")).First(&u, 1).Error
		}},
		{"ConnectedTo", handles, func(db *gorm.DB) error { var u benchUser; return db.WithContext(ctx).First(&u, 1).Error }},
		{"keyed First", shardHandles, func(db *gorm.DB) error {
			var o benchOrder
			return db.Where("customer_id = ?", 7).First(&o).Error
		}},
		{"keyed Create", shardHandles, func(db *gorm.DB) error { return direct(db).Create(&benchOrder{CustomerID: 7}).Error }},
		{"named shard", shardHandles, func(db *gorm.DB) error {
			var o benchOrder
			return db.Scopes(grant.Shard("shard2")).Where("customer_id = ?", 5).First(&o).Error
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			count := func(db *gorm.DB) float64 {
				if err := c.op(db); err != nil { // warm up: schemas parsed, scopes made, pools open
					t.Fatal(err)
				}
				return testing.AllocsPerRun(200, func() {
					if err := c.op(db); err != nil {
						t.Fatal(err)
					}
				})
			}
			plain, routed := count(c.handles["plain"]), count(c.handles["grant"])
			assert.LessOrEqual(t, routed, plain, "allocations per statement under grant (%v) beyond plain GORM's (%v)", routed, plain)
		})
	}
}
