.PHONY: test demo localaws-start localaws-stop

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
