module github.com/lynkr/lynkr/tests

go 1.26.0

require github.com/lynkr/lynkr/pkg v0.0.0-00010101000000-000000000000

require golang.org/x/sync v0.25.0 // indirect

replace github.com/lynkr/lynkr/pkg => ../pkg

replace github.com/lynkr/lynkr/proto => ../proto

replace github.com/lynkr/lynkr/services/gateway => ../services/gateway

replace github.com/lynkr/lynkr/services/worker => ../services/worker

replace github.com/lynkr/lynkr/services/lynkr => ../services/lynkr
