module github.com/lynkr/lynkr/services/gateway

go 1.26
