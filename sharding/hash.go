package sharding

import "context"

// FNV-1a 64-bit parameters (http://www.isthe.com/chongo/tech/comp/fnv/).
const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

// Hash64 returns the 64-bit FNV-1a hash (as hash/fnv.New64a computes it) of
// k.Bytes(). It is what Hash and JumpHash place keys by; it does not allocate.
// The function and the key encoding are fixed: the same key hashes the same
// in every process, on every platform and in every release.
func Hash64(k Key) uint64 {
	h := uint64(fnvOffset64)
	switch k.kind {
	case KindInt, KindTime:
		w := k.word()
		for shift := 56; shift >= 0; shift -= 8 {
			h ^= (w >> uint(shift)) & 0xff
			h *= fnvPrime64
		}
	case KindString:
		for i := 0; i < len(k.s); i++ {
			h ^= uint64(k.s[i])
			h *= fnvPrime64
		}
	}
	return h
}

// Hash places key k on shards[Hash64(k) % len(shards)]: FNV-1a 64-bit over
// the key's canonical encoding (Key.Bytes: Int as 8 bytes big-endian, String
// as its bytes, Time as UnixNano 8 bytes big-endian). It accepts every key
// kind. Adding a shard moves about N/(N+1) of the keys; use JumpHash when the
// shard count will grow. The returned value is immutable and safe for
// concurrent use.
func Hash() Strategy { return hashStrategy{} }

type hashStrategy struct{}

func (hashStrategy) Name() string { return "hash" }

func (hashStrategy) Validate(shards []string) error { return validateShards("hash", shards) }

func (h hashStrategy) Map(ctx context.Context, shards []string, keys []Key) ([]string, error) {
	return mapEach(ctx, h, shards, keys)
}

// MapKey places one key without allocating.
func (h hashStrategy) MapKey(ctx context.Context, shards []string, k Key) (string, error) {
	return shardOfIndex(ctx, h, shards, k)
}

// MapKeyIndex places one key among n shards: one hash of the key.
func (hashStrategy) MapKeyIndex(_ context.Context, n int, k Key) (int, error) {
	if n == 0 {
		return 0, noShards("hash")
	}
	if k.kind == KindInvalid {
		return 0, keyError("hash", k, ErrNullKey)
	}
	return int(Hash64(k) % uint64(n)), nil
}

// JumpHash places key k on shards[Jump(Hash64(k), len(shards))], the jump
// consistent hash of Lamping and Veach ("A Fast, Minimal Memory, Consistent
// Hash Algorithm", 2014). It accepts every key kind. Growing the cluster from
// N to N+1 shards (appending the new shard last) moves about 1/(N+1) of the
// keys, all of them to the new shard; removing or reordering shards other than
// the last moves far more. The returned value is immutable and safe for
// concurrent use.
func JumpHash() Strategy { return jumpStrategy{} }

type jumpStrategy struct{}

func (jumpStrategy) Name() string { return "jump" }

func (jumpStrategy) Validate(shards []string) error { return validateShards("jump", shards) }

func (j jumpStrategy) Map(ctx context.Context, shards []string, keys []Key) ([]string, error) {
	return mapEach(ctx, j, shards, keys)
}

// MapKey places one key without allocating.
func (j jumpStrategy) MapKey(ctx context.Context, shards []string, k Key) (string, error) {
	return shardOfIndex(ctx, j, shards, k)
}

// MapKeyIndex places one key among n shards: one hash, then O(log n) steps.
func (jumpStrategy) MapKeyIndex(_ context.Context, n int, k Key) (int, error) {
	if n == 0 {
		return 0, noShards("jump")
	}
	if k.kind == KindInvalid {
		return 0, keyError("jump", k, ErrNullKey)
	}
	return Jump(Hash64(k), n), nil
}

// Jump returns the bucket in [0, n) of the 64-bit key under Lamping and
// Veach's jump consistent hash, computed exactly as in the paper (the linear
// congruential step key*2862933555777941757+1 and float64 division). It
// returns 0 when n <= 1; n is capped at 2^31-1 buckets, as in the paper.
func Jump(key uint64, n int) int {
	if n <= 1 {
		return 0
	}
	n = min(n, 1<<31-1)
	var b, j int64 = -1, 0
	for j < int64(n) {
		b = j
		key = key*2862933555777941757 + 1
		j = int64(float64(b+1) * (float64(int64(1)<<31) / float64((key>>33)+1)))
	}
	return int(b)
}
