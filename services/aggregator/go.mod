module github.com/lynkr/lynkr/services/aggregator

go 1.26.0

require (
	github.com/lynkr/lynkr/pkg v0.0.0-00010101000000-000000000000
	github.com/lynkr/lynkr/proto v0.0.0-00010101000000-000000000000
)

replace (
	github.com/lynkr/lynkr/pkg => ../../pkg
	github.com/lynkr/lynkr/proto => ../../proto
)
