package kinesis

import (
	"strconv"

	"github.com/sluicedev/sluice/sources"
)

// Metrics implements sources.MetricsReporter. The values are strings, as in Spark's
// SourceProgress.metrics:
//
//	avgMsBehindLatest, maxMsBehindLatest, minMsBehindLatest
//	    MillisBehindLatest of the last GetRecords answer of each shard being read
//	    (absent until one answered)
//	totalPrefetchedBytes   payload bytes buffered now (made available or not)
//	numTotalShards         shards of the streams: listed now, or held by latestConsumed
//	numClosedShards        of those, the ones latestConsumed holds as read to their end
//	numActiveShards        shards being prefetched now
//	numTasks               prefetching goroutines
//	numThrottled           calls refused by throttling so far (retried after a backoff)
//	numRetries             calls retried after a transient error so far (5xx, broken connections)
//	numExpiredIterators    shard iterators that expired and were made again
//	numGetRecordsCalls     GetRecords calls of the prefetching so far
//	numPrefetchedRecords   user records prefetched so far
//	numRereadRecords       user records read again from Kinesis for a Read the buffer did not hold
//	numExpiredShards       shards that left the stream's retention before they were read to the end
func (s *Source) Metrics(latestConsumed sources.Offset) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[string]string{}
	var consumed *offset
	if latestConsumed != nil {
		consumed, _ = decodeOffset(latestConsumed)
	}
	total, closed := map[shardKey]bool{}, 0
	for k, sh := range s.shards {
		if sh.listed {
			total[k] = true
		}
	}
	if consumed != nil {
		for key, so := range consumed.streams {
			for id, p := range so.shards {
				total[shardKey{key, id}] = true
				if p.kind == posClosed {
					closed++
				}
			}
		}
	}
	var n, sum, lo, hi, active int64
	for _, sh := range s.shards {
		if !s.fetchableLocked(sh) {
			continue
		}
		active++
		if !sh.hasBehind {
			continue
		}
		if n == 0 || sh.msBehind < lo {
			lo = sh.msBehind
		}
		hi = max(hi, sh.msBehind)
		sum += sh.msBehind
		n++
	}
	if n > 0 {
		m["avgMsBehindLatest"] = strconv.FormatFloat(float64(sum)/float64(n), 'f', 1, 64)
		m["maxMsBehindLatest"] = strconv.FormatInt(hi, 10)
		m["minMsBehindLatest"] = strconv.FormatInt(lo, 10)
	}
	i := func(v int64) string { return strconv.FormatInt(v, 10) }
	m["totalPrefetchedBytes"] = i(s.bufBytes)
	m["numTotalShards"] = i(int64(len(total)))
	m["numClosedShards"] = i(int64(closed))
	m["numActiveShards"] = i(active)
	m["numTasks"] = i(int64(len(s.tasks)))
	m["numThrottled"] = i(s.m.throttled.Load())
	m["numRetries"] = i(s.m.retries.Load())
	m["numExpiredIterators"] = i(s.m.expired.Load())
	m["numGetRecordsCalls"] = i(s.m.getRecords.Load())
	m["numPrefetchedRecords"] = i(s.m.fetchedRecords.Load())
	m["numRereadRecords"] = i(s.m.rereadRecords.Load())
	m["numExpiredShards"] = i(s.m.expiredShards.Load())
	return m
}
