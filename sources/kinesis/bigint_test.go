package kinesis

import (
	"math/big"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// bigInt computes hash key midpoints for SplitShard.
type bigInt struct{}

// add returns (lo+hi)/2 as a decimal string.
func (bigInt) add(lo, hi *big.Int) string {
	m := new(big.Int).Add(lo, hi)
	return m.Rsh(m, 1).String()
}

func hashRange(s types.Shard) (lo, hi *big.Int) {
	lo, _ = new(big.Int).SetString(aws.ToString(s.HashKeyRange.StartingHashKey), 10)
	hi, _ = new(big.Int).SetString(aws.ToString(s.HashKeyRange.EndingHashKey), 10)
	return lo, hi
}
