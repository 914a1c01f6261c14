.PHONY: test demo localaws-start localaws-stop bench

# test runs go vet and the race-enabled tests against freshly started local AWS servers, as CI does.
test:
	bash scripts/test.sh

# localaws-start starts the local AWS servers; then: eval "$$(scripts/localaws.sh env)"
localaws-start:
	bash scripts/localaws.sh start

# localaws-stop stops them.
localaws-stop:
	bash scripts/localaws.sh stop

# demo starts the local Kinesis server, fills a stream with sample events and reads them with a
# Sluice query into the console.
demo:
	bash scripts/demo.sh

# bench runs the end-to-end benchmarks (bench/cmd/sluicebench; about 4 minutes on 2 cores, and
# about 3 more for a first build):
# every pipeline and baseline side by side over a fake Kinesis stream, each in its own process,
# 3 times; it prints the markdown table and the performance bar of issue #7 (with the top of
# the CPU profiles behind unmet bars), and writes benchstat lines to $TMPDIR/sluicebench.txt.
# Other flags: make bench BENCHFLAGS='-count 5 -o new.txt'; see go doc ./bench/cmd/sluicebench.
BENCHFLAGS ?= -count 3 -profile
bench:
	go run ./bench/cmd/sluicebench $(BENCHFLAGS)
