// Package kpl reads and writes the aggregated record format of the Kinesis Producer Library (KPL),
// which packs many user records into one Kinesis record.
//
// # Format
//
// The data of an aggregated Kinesis record is
//
//	F3 89 9A C2                    4-byte magic
//	AggregatedRecord               protobuf (proto2) message, below
//	MD5(AggregatedRecord bytes)    16 bytes
//
// with
//
//	message AggregatedRecord {
//	  repeated string partition_key_table     = 1;
//	  repeated string explicit_hash_key_table = 2;
//	  repeated Record records                 = 3;
//	}
//	message Record {
//	  required uint64 partition_key_index     = 1;
//	  optional uint64 explicit_hash_key_index = 2;
//	  required bytes  data                    = 3;
//	  repeated Tag    tags                    = 4;
//	}
//	message Tag {
//	  required string key   = 1;
//	  optional string value = 2;
//	}
//
// User record i (in wire order, counting from 0) has sub-sequence number i and shares the
// sequence number of the Kinesis record that carries it, so a checkpoint inside an aggregate is
// the pair (sequence number, sub-sequence number). Its partition key and explicit hash key are
// entries of the two tables. Tags are validated and otherwise ignored, as the KCL does.
//
// # Pass-through rule
//
// A consumer cannot tell from the Kinesis record alone whether its producer aggregated, so,
// like the Kinesis Client Library (AggregatorUtil.deaggregate in KCL 2.x), a record that is not a
// valid aggregate is delivered unchanged as one plain user record: sub-sequence number 0, the
// Kinesis record's own partition key, and the whole data. [Deaggregate] reports such records with
// [ErrNotAggregated] and lists the exact conditions. The rule is checked for the whole record
// before any user record is delivered, so a record is either delivered whole as user records or
// passed through whole; it is never split.
//
// This package differs from KCL 2.x in one place, on purpose: when the protobuf parses but a
// record's partition_key_index or explicit_hash_key_index lies outside its table, the KCL logs
// an error and silently drops that user record and all after it. Here the Kinesis record is
// passed through instead, so no bytes are lost.
//
// The KCL also discards all user records of an aggregate when one of them hashes outside the
// hash key range of the shard it was read from (a producer aggregated records of different
// shards, or the stream was resharded). That filter needs the shard's range, so it belongs to the
// caller: [Deaggregate] reports each user record's partition key and explicit hash key.
//
// # Producing
//
// An [Aggregator] builds aggregated records up to the Kinesis record size limit. Every record it
// produces is read back by [Deaggregate] (and by the KCL) as the user records that were added,
// in order. Because KCL consumers drop aggregates whose user records hash outside the shard the
// aggregate was written to, a producer must aggregate only user records that map to the same
// shard as the aggregate's outer key (the KPL groups records by predicted shard for this reason).
package kpl
